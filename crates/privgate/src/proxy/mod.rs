//! `privgate run`: the streaming reverse proxy, assembled from hyper's parts (see
//! DATAPLANE: hyper-util's auto server for HTTP/1.1 and HTTP/2, its pooled legacy client
//! to the upstream, tokio, tokio-rustls).
//!
//! Each request goes through named, socket-free phases: [`request::on_request`]
//! (identify, normalise, route, decide, build the upstream head), then
//! [`response::on_response_head`] (headers, content type, encoding), then the body phase
//! [`body::MaskedBody`] (decode and mask frame by frame, abort on failure). This file
//! only wires them to sockets: startup, the accept loops of the plain listener (HTTP/1.1
//! and h2c) and of the TLS listener (handshake in [`tls`], HTTP/2 chosen by ALPN,
//! `Strict-Transport-Security` on its responses), the graceful shutdown both share, and
//! mapping upstream errors to 502/504. An `https://` upstream is reached through rustls
//! ([`tls::upstream_connector`]). Callers are identified by `identity/` (bearer JWT, API
//! keys, trusted headers), built once at start from the config. The policy is held by
//! [`live::LivePolicy`] and reloaded on SIGHUP or through the admin listener (`admin/`),
//! which also serves the [`Metrics`] the phases record.

pub mod approvals;
pub mod audit;
pub mod body;
pub mod control;
pub mod decode;
pub mod headers;
pub mod inspect;
pub mod live;
pub mod path;
pub mod problem;
pub mod request;
pub mod response;
pub mod text;
pub mod tls;
pub mod watch;

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue, STRICT_TRANSPORT_SECURITY};
use hyper::http::uri::Authority;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as AutoBuilder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use privgate_mask::Masker;
use privgate_policy::{Policy, PolicyError};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::admin::metrics::Metrics;
use crate::config::{self, Config};
use crate::identity::Identifier;
use crate::policy_cmd::print_diagnostics;
use crate::store::{Clock, Store};
use audit::{RequestMeta, Trail};
use body::{BoxError, Completion, ExportTrack, MaskedBody};
use live::LivePolicy;
use problem::Denial;
use request::{identify, on_request, UPSTREAM_VERSION};
use response::{on_response_head, BodyPlan};
use tls::UpstreamConnector;

/// How long a client has to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle upstream connections are closed after this (below common keep-alive timeouts).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// What every request needs, shared by all connections.
#[derive(Debug)]
pub struct State {
    /// The running policy (swapped on reload).
    pub policy: LivePolicy,
    /// What the phases count, served on the admin listener.
    pub metrics: Arc<Metrics>,
    /// The identity sources.
    pub identifier: Identifier,
    /// The trusted identity headers, stripped from every forwarded request.
    pub trusted_headers: Vec<HeaderName>,
    /// Header naming the subject upstream.
    pub forward_user: Option<HeaderName>,
    /// Header naming the role upstream.
    pub forward_role: Option<HeaderName>,
    /// The upstream's `host:port`.
    pub upstream: Authority,
    /// Whether the upstream is spoken to over TLS (`https://`).
    pub upstream_https: bool,
    /// Lower-case paths before matching.
    pub fold_case: bool,
    /// Response head and body frame timeout.
    pub read_timeout: Duration,
    /// Rate limits, quotas, approvals and revocations.
    pub store: Arc<Store>,
    /// Exports go on, unmetered, while the store cannot answer.
    pub exports_fail_open: bool,
    /// Other requests go on, unmetered, while the store cannot answer.
    pub other_fail_open: bool,
    /// How long an approval stays usable.
    pub approval_ttl: Duration,
    /// The audit trail.
    pub audit: Trail,
    /// Anomaly detection, when configured.
    pub watch: Option<watch::Watch>,
    /// The data inventory, unless discovery is off.
    pub inventory: Option<crate::inventory::Inventory>,
}

/// The header carrying the gateway's request id, to the upstream and the client.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A response body: a problem, nothing, or a masked stream.
#[derive(Debug)]
pub enum ProxyBody {
    /// A fixed body (problems).
    Full(Option<Bytes>),
    /// A masked upstream body.
    Masked(Box<MaskedBody>),
    /// An upstream body passed unread (`other_content: pass`).
    Passed(Incoming),
    /// A text body with detected values redacted (`other_content: detect`).
    Text(Box<text::TextBody>),
}

impl From<Bytes> for ProxyBody {
    fn from(b: Bytes) -> ProxyBody {
        ProxyBody::Full(Some(b))
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ProxyBody::Masked(m) => Pin::new(m.as_mut()).poll_frame(cx),
            ProxyBody::Passed(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(BoxError::from))),
            ProxyBody::Text(t) => Pin::new(t.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(b) => b.is_none(),
            ProxyBody::Masked(m) => m.is_end_stream(),
            ProxyBody::Passed(b) => b.is_end_stream(),
            ProxyBody::Text(t) => t.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ProxyBody::Full(None) => SizeHint::with_exact(0),
            ProxyBody::Masked(m) => m.size_hint(),
            ProxyBody::Passed(b) => b.size_hint(),
            ProxyBody::Text(t) => t.size_hint(),
        }
    }
}

type UpstreamClient = Client<UpstreamConnector, inspect::UpstreamBody>;

/// Where the gateway listens, once its listeners are bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The plain HTTP listener; the HTTPS one when only `tls:` is configured (then
    /// `plain` is false).
    pub addr: SocketAddr,
    /// Whether `addr` is the plain HTTP listener.
    pub plain: bool,
    /// The HTTPS listener, when configured.
    pub tls: Option<SocketAddr>,
    /// The admin listener, when configured.
    pub admin: Option<SocketAddr>,
}

/// Runs `privgate run --config PATH` until SIGTERM or Ctrl-C.
pub fn run(config_path: &Path) -> Result<ExitCode> {
    let config = config::load(config_path)?;
    run_config(config, print_listening)
}

/// `listening on http://ADDR` (when plain HTTP is configured), `listening on
/// https://ADDR` (when HTTPS is) and `admin on http://ADDR` (when the admin listener is)
/// on stdout, in that order.
fn print_listening(bound: Bound) -> Result<()> {
    // All lines in one write: a reader that takes only the first and closes the
    // pipe must not make the others fail.
    let mut lines = String::new();
    if bound.plain {
        lines.push_str(&format!("listening on http://{}\n", bound.addr));
    }
    if let Some(at) = bound.tls {
        lines.push_str(&format!("listening on https://{at}\n"));
    }
    if let Some(at) = bound.admin {
        lines.push_str(&format!("admin on http://{at}\n"));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(lines.as_bytes())
        .context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")
}

/// Runs the gateway with a checked `config` until SIGTERM or Ctrl-C: loads the policy,
/// binds the listeners, calls `on_bound` with their addresses (once the shutdown signals
/// are being listened for), then serves and drains. `privgate run` prints the addresses;
/// `privgate demo` prints its curl lines.
pub fn run_config(config: Config, on_bound: impl FnOnce(Bound) -> Result<()>) -> Result<ExitCode> {
    let policy = match Policy::load_with(&config.policy_dir, config.secrets.clone(), config.limits)
    {
        Ok(p) => {
            if !p.warnings().is_empty() {
                print_diagnostics(p.warnings())?;
            }
            p
        }
        Err(PolicyError::Invalid(diags)) => {
            print_diagnostics(&diags)?;
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot load the policy in `{}`",
                    config.policy_dir.display()
                )
            })
        }
    };
    // Per-request lines are at debug level (the audit trail is the record of requests;
    // a log line per request costs a write on the worker thread): PRIVGATE_LOG=debug
    // shows them, PRIVGATE_LOG=warn quiets the rest.
    let level = match std::env::var("PRIVGATE_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_max_level(level)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(serve(config, policy, on_bound))?;
    Ok(ExitCode::SUCCESS)
}

async fn bind(addr: SocketAddr, what: &str) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}{what}"))?;
    let at = listener
        .local_addr()
        .context("cannot read the bound address")?;
    Ok((listener, at))
}

/// The next connection on `listener`; never, when there is no listener. An accept
/// error is logged and gives `None` (the loop goes on).
async fn accept(listener: Option<&TcpListener>) -> Option<(TcpStream, SocketAddr)> {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    match listener.accept().await {
        Ok((stream, peer)) => {
            let _ = stream.set_nodelay(true);
            Some((stream, peer))
        }
        Err(e) => {
            tracing::warn!(error = %e, "accept failed");
            None
        }
    }
}

/// What serving one connection needs, plain or TLS.
#[derive(Clone)]
struct Connections {
    server: AutoBuilder<TokioExecutor>,
    state: Arc<State>,
    client: UpstreamClient,
}

impl Connections {
    /// Serves `io` (HTTP/1.1 or HTTP/2, whichever the client speaks) until it closes or
    /// the shutdown drains it; `hsts` is set on every response of a TLS connection.
    async fn serve<I>(self, io: I, peer: SocketAddr, hsts: Option<HeaderValue>, watcher: Watcher)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let Connections {
            server,
            state,
            client,
        } = self;
        let service = hyper::service::service_fn(move |req| {
            let response = handle(Arc::clone(&state), client.clone(), req, peer);
            let hsts = hsts.clone();
            async move {
                let mut response = response.await?;
                if let Some(v) = hsts {
                    response.headers_mut().insert(STRICT_TRANSPORT_SECURITY, v);
                }
                Ok::<_, Infallible>(response)
            }
        });
        let conn = server.serve_connection(io, service).into_owned();
        let _ = watcher.watch(conn).await;
    }
}

async fn serve(
    mut config: Config,
    policy: Policy,
    on_bound: impl FnOnce(Bound) -> Result<()>,
) -> Result<()> {
    let store = Store::open(&config.state, Clock::System)
        .await
        .with_context(|| format!("cannot open the state store ({})", config.state.describe()))?;
    let metrics = Arc::new(Metrics::new().context("cannot register the metrics")?);
    let trail = match config.audit.take() {
        None => {
            tracing::warn!(
                "no audit trail configured (audit: in the config): requests are not recorded"
            );
            Trail::new(None, 0, None, Arc::clone(&metrics))
        }
        Some(a) => {
            let auditor = privgate_audit::Auditor::start(&a.config, a.keys).with_context(|| {
                format!(
                    "cannot open the audit trail `{}`",
                    a.config.file.path.display()
                )
            })?;
            Trail::new(
                Some(auditor),
                a.config.queue,
                Some(a.ref_key),
                Arc::clone(&metrics),
            )
        }
    };
    trail.record(privgate_audit::Event::Startup(
        privgate_audit::StartupEvent {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            policy_hash: Some(policy.hash().to_owned()),
        },
    ));
    let plain = match config.listen {
        Some(addr) => Some(bind(addr, "").await?),
        None => None,
    };
    let secure = match &config.tls {
        Some(t) => {
            let (listener, at) = bind(t.listen, " (TLS)").await?;
            let acceptor = TlsAcceptor::from(Arc::clone(&t.server));
            Some((listener, at, acceptor, t.hsts.clone()))
        }
        None => None,
    };
    let admin = match &config.admin {
        None => None,
        Some(a) => {
            let (l, at) = bind(a.listen, " (admin)").await?;
            Some((l, at, Arc::new(a.token.clone())))
        }
    };
    let tls_addr = secure.as_ref().map(|(_, at, _, _)| *at);
    let Some(addr) = plain.as_ref().map(|(_, at)| *at).or(tls_addr) else {
        anyhow::bail!("no proxy listener is configured");
    };
    let mut signal = std::pin::pin!(shutdown_signal());
    on_bound(Bound {
        addr,
        plain: plain.is_some(),
        tls: tls_addr,
        admin: admin.as_ref().map(|(_, at, _)| *at),
    })?;
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.connect_timeout));
    let connector = tls::upstream_connector(http, config.upstream_tls.as_ref())?;
    let client: UpstreamClient = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector);
    metrics.policy(policy.hash());
    let inventory = match config.discovery.take() {
        Some(settings) => {
            Some(crate::inventory::Inventory::open(settings).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let state = Arc::new(State {
        policy: LivePolicy::new(policy, config.policy_dir, config.secrets, config.limits),
        metrics,
        trusted_headers: config.identifier.trusted_header_names(),
        identifier: config.identifier,
        forward_user: config.forward_user,
        forward_role: config.forward_role,
        upstream: config.upstream,
        upstream_https: config.upstream_tls.is_some(),
        fold_case: config.fold_case,
        read_timeout: config.read_timeout,
        store: Arc::new(store),
        exports_fail_open: config.state.exports_fail_open,
        other_fail_open: config.state.other_fail_open,
        approval_ttl: config.state.approval_ttl,
        audit: trail,
        watch: config.anomaly.take().map(watch::Watch::new),
        inventory,
    });
    let last = Arc::clone(&state);
    tracing::info!(
        http = ?plain.as_ref().map(|(_, at)| *at),
        https = ?tls_addr,
        upstream = %state.upstream,
        upstream_tls = state.upstream_https,
        policy = state.policy.current().policy.hash(),
        state = state.store.backend(),
        "gateway started"
    );
    let admin_task = admin.map(|(l, at, token)| {
        tracing::info!(admin = %at, "admin listener started");
        tokio::spawn(crate::admin::serve(l, Arc::clone(&state), token))
    });
    if config.admin.is_none() {
        tracing::info!("no admin listener configured");
    }
    let hangup_task = tokio::spawn(reload_on_hangup(Arc::clone(&state)));
    let tick_task = tokio::spawn(watch::tick_every_minute(Arc::clone(&state)));
    let save_task = tokio::spawn(save_inventory_every(Arc::clone(&state)));

    let mut server = AutoBuilder::new(TokioExecutor::new());
    server
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    server.http2().timer(TokioTimer::new());
    let connections = Connections {
        server,
        state,
        client,
    };
    let graceful = GracefulShutdown::new();
    let plain_listener = plain.as_ref().map(|(l, _)| l);
    let tls_listener = secure.as_ref().map(|(l, _, _, _)| l);
    loop {
        tokio::select! {
            accepted = accept(plain_listener) => {
                let Some((stream, peer)) = accepted else { continue };
                let watcher = graceful.watcher();
                tokio::spawn(connections.clone().serve(TokioIo::new(stream), peer, None, watcher));
            }
            accepted = accept(tls_listener) => {
                let (Some((stream, peer)), Some((_, _, acceptor, hsts))) = (accepted, &secure) else {
                    continue;
                };
                // Watched from before the handshake, so a drain waits for it (it is
                // bounded by its own timeout) and then serves it with a shutdown.
                let watcher = graceful.watcher();
                let (acceptor, hsts) = (acceptor.clone(), hsts.clone());
                let connections = connections.clone();
                tokio::spawn(async move {
                    if let Some(stream) = tls::accept(&acceptor, stream).await {
                        connections.serve(TokioIo::new(stream), peer, hsts, watcher).await;
                    }
                });
            }
            () = &mut signal => break,
        }
    }
    drop(plain);
    drop(secure);
    hangup_task.abort();
    tick_task.abort();
    save_task.abort();
    if let Some(t) = admin_task {
        t.abort();
    }
    tracing::info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timed out; closing remaining connections");
    }
    save_inventory(&last).await;
    last.audit.record(privgate_audit::Event::Shutdown(
        privgate_audit::ShutdownEvent {
            reason: Some("signal".to_owned()),
        },
    ));
    let _ = tokio::task::spawn_blocking(move || last.audit.shutdown()).await;
    Ok(())
}

/// The time in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How often the inventory is written to its file (and once more at shutdown).
const INVENTORY_SAVE_EVERY: Duration = Duration::from_secs(30);

async fn save_inventory_every(state: Arc<State>) {
    let mut every = tokio::time::interval(INVENTORY_SAVE_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        save_inventory(&state).await;
    }
}

/// Writes the inventory if it changed, off the event loop.
async fn save_inventory(state: &Arc<State>) {
    if state.inventory.is_none() {
        return;
    }
    let state = Arc::clone(state);
    let saved = tokio::task::spawn_blocking(move || {
        state.inventory.as_ref().map_or(Ok(()), |inv| inv.save())
    })
    .await;
    if let Ok(Err(e)) = saved {
        tracing::warn!(error = %e, "cannot write the inventory file; it is kept in memory and retried");
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not
/// when it is first polled, so a signal sent right after the addresses are announced is
/// not missed (it would otherwise end the process without draining or cleaning up).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Reloads the policy on each SIGHUP (the outcome is logged and counted by the reload).
async fn reload_on_hangup(state: Arc<State>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload through the admin listener");
                return;
            }
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the policy");
            let state = Arc::clone(&state);
            let _ = tokio::task::spawn_blocking(move || {
                state.policy.reload(&state.metrics, &state.audit)
            })
            .await;
        }
    }
    #[cfg(not(unix))]
    let _ = state;
}

/// The `decision` label of a refusal: the policy's words where it decided, the problem
/// code otherwise (a fixed set either way). A refused credential of any kind is
/// `unauthenticated`; a 403 without a route is `not_found` (the client is not told).
fn decision_label(d: &Denial, route: Option<&str>) -> &'static str {
    match d.code {
        "step-up-required" => "step_up",
        "rate-limited" => "rate_limited",
        "quota-exceeded" => "quota_exceeded",
        "approval-invalid" => "approval_invalid",
        "revoked" => "revoked",
        "state-unavailable" => "state_unavailable",
        "audit-unavailable" => "audit_unavailable",
        "approval-required" => "approval_required",
        "forbidden" if route.is_some() => "denied",
        "forbidden" => "not_found",
        "bad-path" => "bad_path",
        "upstream-error" => "upstream_error",
        "upstream-timeout" => "upstream_timeout",
        "unsupported-encoding" => "unsupported_encoding",
        "unexpected-content-type" => "unexpected_content_type",
        "request-blocked" => "request_blocked",
        "fields-not-accepted" => "fields_rejected",
        "body-too-large" => "body_too_large",
        "unsupported-body" => "unsupported_body",
        "malformed-body" => "malformed_body",
        "body-timeout" => "body_timeout",
        _ if d.status == hyper::StatusCode::UNAUTHORIZED => "unauthenticated",
        _ => "refused",
    }
}

/// A refusal: counted, logged, recorded in the audit trail, answered.
fn refused(
    state: &State,
    meta: &RequestMeta,
    d: &Denial,
    route: Option<&str>,
    role: Option<&str>,
    start: Instant,
) -> Response<ProxyBody> {
    let metrics = &state.metrics;
    let route_label = route.unwrap_or_default();
    let decision = decision_label(d, route);
    metrics.request(route_label, role.unwrap_or_default(), decision);
    metrics.duration(route_label, start.elapsed().as_secs_f64());
    tracing::debug!(
        request_id = %meta.id,
        route = route.unwrap_or("-"),
        status = d.status.as_u16(),
        decision = d.code,
        duration_ms = start.elapsed().as_millis() as u64,
        "request refused"
    );
    state.audit.request(
        meta,
        &audit::Outcome {
            route,
            role,
            status: d.status.as_u16(),
            allowed: false,
            reason: decision,
            duration_ms: start.elapsed().as_millis() as u64,
            ..audit::Outcome::default()
        },
    );
    if let Some(subject) = &meta.subject {
        watch::observe(
            state,
            &watch::Seen {
                subject,
                route: route.unwrap_or_default(),
                is_export: false,
                records: 0,
                personal_values: 0,
                denied: true,
            },
        );
    }
    let mut r = d.response();
    if let Ok(v) = HeaderValue::from_str(&meta.id) {
        r.headers_mut().insert(REQUEST_ID, v);
    }
    r
}

/// One request through the phases.
async fn handle(
    state: Arc<State>,
    client: UpstreamClient,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<ProxyBody>, Infallible> {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let now = unix_now();
    if approvals::is_ours(parts.uri.path()) {
        return Ok(approvals::handle(&state, &parts, body, peer, now).await);
    }
    let mut meta = RequestMeta {
        id: audit::next_request_id(),
        method: parts.method.to_string(),
        client: peer.to_string(),
        subject: None,
        policy_hash: Some(state.policy.current().policy.hash().to_owned()),
    };
    let caller = match identify(&state, &parts, peer, now) {
        Ok(c) => c,
        Err(d) => return Ok(refused(&state, &meta, &d, None, None, start)),
    };
    meta.subject = Some(caller.subject.clone());
    if let Err(d) = control::check_revoked(&state, &caller).await {
        return Ok(refused(&state, &meta, &d, None, None, start));
    }
    let forward = match on_request(&state, &parts, caller, now) {
        Ok(f) => f,
        Err(r) => {
            return Ok(refused(
                &state,
                &meta,
                &r.denial,
                r.route.as_deref(),
                r.role.as_deref(),
                start,
            ))
        }
    };
    let route = Some(forward.route.as_str());
    let role = Some(forward.role.as_str());
    // No access to personal data without a trace.
    if state.audit.refuses() {
        return Ok(refused(
            &state,
            &meta,
            &Denial::AUDIT_UNAVAILABLE,
            route,
            role,
            start,
        ));
    }
    let admission = match control::admit(&state, &forward, now).await {
        Ok(a) => a,
        Err(d) => return Ok(refused(&state, &meta, &d, route, role, start)),
    };
    let mut export = forward.export.as_ref().map(|_| ExportTrack {
        reservation: admission.reservation,
        shadow_cap: admission.shadow_cap,
    });
    // A refusal from here on served nothing: the whole reservation goes back, and so
    // does the approval the export spent.
    let spent = admission.approval.clone();
    let release = |export: &mut Option<ExportTrack>| {
        control::release(&state, export.as_mut().and_then(|e| e.reservation.take()));
        control::give_back(&state, spent.as_deref());
    };
    let mut upstream = Request::new(body);
    *upstream.method_mut() = forward.method.clone();
    *upstream.uri_mut() = forward.uri.clone();
    *upstream.version_mut() = UPSTREAM_VERSION;
    *upstream.headers_mut() = forward.headers.clone();
    if let Ok(v) = HeaderValue::from_str(&meta.id) {
        upstream.headers_mut().insert(REQUEST_ID, v);
    }
    // --- Inspection and collection minimisation (proxy/inspect.rs) ---
    let upstream = match inspect::request(&state, &forward, upstream).await {
        Ok(u) => u,
        Err(d) => {
            release(&mut export);
            return Ok(refused(&state, &meta, &d, route, role, start));
        }
    };
    // --- end of inspection ---
    let metrics = &state.metrics;
    let sent = Instant::now();
    let response = match tokio::time::timeout(state.read_timeout, client.request(upstream)).await {
        Err(_) => {
            release(&mut export);
            return Ok(refused(&state, &meta, &Denial::TIMEOUT, route, role, start));
        }
        Ok(Err(e)) => {
            // The error's text names addresses and causes, never request data.
            tracing::warn!(connect = e.is_connect(), error = %e, "upstream request failed");
            release(&mut export);
            return Ok(refused(
                &state,
                &meta,
                &Denial::BAD_GATEWAY,
                route,
                role,
                start,
            ));
        }
        Ok(Ok(r)) => r,
    };
    metrics.upstream_duration(&forward.route, sent.elapsed().as_secs_f64());
    let (mut head, upstream_body) = response.into_parts();
    let plan = match on_response_head(&forward, head.status, &mut head.headers) {
        Ok(p) => p,
        Err(d) => {
            release(&mut export);
            return Ok(refused(&state, &meta, &d, route, role, start));
        }
    };
    if let Ok(v) = HeaderValue::from_str(&meta.id) {
        head.headers.insert(REQUEST_ID, v);
    }
    metrics.request(&forward.route, &forward.role, "allowed");
    let would_deny = !forward.shadow.is_empty();
    let body = match plan {
        BodyPlan::Empty | BodyPlan::Pass | BodyPlan::Text => {
            // Nothing for the masker to count: the event is written now.
            let (reason, body) = match plan {
                BodyPlan::Pass => ("passed_unread", ProxyBody::Passed(upstream_body)),
                BodyPlan::Text => (
                    "text_redacted",
                    ProxyBody::Text(Box::new(text::TextBody::new(
                        upstream_body,
                        forward.plan.limits().max_value_len,
                    ))),
                ),
                _ => ("allowed", ProxyBody::Full(None)),
            };
            // Served (no records to count): the reservation goes back, the approval stays
            // spent.
            control::release(&state, export.as_mut().and_then(|e| e.reservation.take()));
            metrics.duration(&forward.route, start.elapsed().as_secs_f64());
            tracing::debug!(request_id = %meta.id, route = %forward.route, role = %forward.role, status = head.status.as_u16(), decision = reason, duration_ms = start.elapsed().as_millis() as u64, "response completed");
            state.audit.request(
                &meta,
                &audit::Outcome {
                    route,
                    role,
                    status: head.status.as_u16(),
                    allowed: true,
                    reason,
                    duration_ms: start.elapsed().as_millis() as u64,
                    approval: admission.approval.as_deref(),
                    would_deny,
                    ..audit::Outcome::default()
                },
            );
            body
        }
        BodyPlan::Mask { format, coding } => {
            // Pseudonyms with `scope: identity` are the caller's own (leak tracing).
            let recipient = meta.subject.as_deref().unwrap_or_default();
            let mut masker = Masker::with_recipient(Arc::clone(&forward.plan), format, recipient);
            masker.set_record_limit(admission.record_limit);
            if state.inventory.as_ref().is_some_and(|i| i.sample()) {
                masker.start_survey();
            }
            let completion = Completion {
                state: Arc::clone(&state),
                meta: meta.clone(),
                route: forward.route.clone(),
                role: forward.role.clone(),
                status: head.status.as_u16(),
                start,
                approval: admission.approval.clone(),
                would_deny,
                export: export.take(),
            };
            match MaskedBody::new(
                upstream_body,
                coding,
                masker,
                state.read_timeout,
                completion,
            ) {
                Ok(body) => ProxyBody::Masked(Box::new(body)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the content decoder");
                    return Ok(refused(
                        &state,
                        &meta,
                        &Denial::BAD_GATEWAY,
                        route,
                        role,
                        start,
                    ));
                }
            }
        }
    };
    head.version = hyper::Version::HTTP_11;
    Ok(Response::from_parts(head, body))
}
