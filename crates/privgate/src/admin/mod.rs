//! The admin listener: a small HTTP/1.1 server, on its own address (loopback by default),
//! for operators and their tools, never for the proxied clients.
//!
//! Endpoints: `GET /healthz` (open: 200 while the process runs), and behind
//! `Authorization: Bearer <token>` (the token from `admin.token_file`, compared in
//! constant time by [`AdminToken::matches`]): `GET /metrics` (Prometheus text, from
//! [`metrics::Metrics`]), `GET /readyz` (the upstream accepting a TCP connection, tried
//! on each call with a short timeout; a policy is always loaded once the gateway runs), `POST /admin/reload` (the
//! policy directory loaded again and swapped in if it checks: see `proxy/live.rs`) and
//! `GET /admin/policy` (hash, load time, counts), and revocations: `GET
//! /admin/revocations`, `POST /admin/revocations` (`{"kind": "subject" | "jti" |
//! "api_key", "value": …, "note": …}`; refused from the next request on) and `DELETE
//! /admin/revocations?kind=…&value=…`. Refusals are problem+json like the
//! proxy's. The proxy itself is `proxy/`; this module only reads its shared state.

pub mod metrics;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use crate::config::AdminToken;
use crate::proxy::live::ReloadError;
use crate::proxy::problem::Denial;
use crate::proxy::{ProxyBody, State};
use crate::store::{Revocation, RevocationKind};

/// How long `/readyz` waits for the upstream to accept a connection.
const READY_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an admin client has to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

const UNAUTHORIZED: Denial = Denial {
    status: StatusCode::UNAUTHORIZED,
    code: "admin-unauthorized",
    title: "The admin token is missing or wrong",
    challenge: Some(std::borrow::Cow::Borrowed(
        "Bearer realm=\"privgate-admin\"",
    )),
    detail: None,
    headers: Vec::new(),
    members: None,
};
const NOT_FOUND: Denial = Denial {
    status: StatusCode::NOT_FOUND,
    code: "not-found",
    title: "No such admin endpoint",
    challenge: None,
    detail: None,
    headers: Vec::new(),
    members: None,
};
const NOT_READY: Denial = Denial {
    status: StatusCode::SERVICE_UNAVAILABLE,
    code: "not-ready",
    title: "The upstream does not accept connections",
    challenge: None,
    detail: None,
    headers: Vec::new(),
    members: None,
};
const INTERNAL: Denial = Denial {
    status: StatusCode::INTERNAL_SERVER_ERROR,
    code: "admin-error",
    title: "The admin request failed",
    challenge: None,
    detail: None,
    headers: Vec::new(),
    members: None,
};

/// Accepts admin connections until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<State>, token: Arc<AdminToken>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                continue;
            }
        };
        let state = Arc::clone(&state);
        let token = Arc::clone(&token);
        let service = hyper::service::service_fn(move |req| {
            handle(Arc::clone(&state), Arc::clone(&token), req)
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<ProxyBody> {
    let mut r = Response::new(ProxyBody::from(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Whether the request carries the admin token as a bearer credential.
fn authorized(token: &AdminToken, req: &Request<Incoming>) -> bool {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => {
            token.matches(value.get(7..).unwrap_or_default().trim_ascii())
        }
        _ => false,
    }
}

async fn handle(
    state: Arc<State>,
    token: Arc<AdminToken>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let path = req.uri().path();
    if path == "/healthz" && req.method() == Method::GET {
        return Ok(text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok\n".into(),
        ));
    }
    if !authorized(&token, &req) {
        return Ok(UNAUTHORIZED.response());
    }
    let r = match (req.method(), path) {
        (&Method::GET, "/metrics") => match render_metrics(&state) {
            Ok(body) => text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                body,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot render metrics");
                INTERNAL.response()
            }
        },
        (&Method::GET, "/readyz") => readyz(&state).await,
        (&Method::GET, "/admin/policy") => policy_info(&state),
        (&Method::GET, "/admin/inventory") => inventory(&state),
        (&Method::POST, "/admin/reload") => reload(state).await,
        (&Method::GET, "/admin/revocations") => revocations(&state).await,
        (&Method::POST, "/admin/revocations") => revoke(&state, req).await,
        (&Method::DELETE, "/admin/revocations") => {
            let query = req.uri().query().unwrap_or_default().to_owned();
            unrevoke(&state, &query).await
        }
        _ => NOT_FOUND.response(),
    };
    Ok(r)
}

/// `POST /admin/revocations`'s body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRevocation {
    kind: RevocationKind,
    value: String,
    #[serde(default)]
    note: Option<String>,
}

fn bad_revocation(detail: &'static str) -> Response<ProxyBody> {
    Denial::own(
        StatusCode::UNPROCESSABLE_ENTITY,
        "revocation-invalid",
        "The revocation is not valid",
        Some(detail),
    )
    .response()
}

fn unavailable(state: &State, op: &str) -> Response<ProxyBody> {
    state.metrics.store_error(op);
    Denial::STATE_UNAVAILABLE.response()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Every revocation, as JSON.
async fn revocations(state: &State) -> Response<ProxyBody> {
    match state.store.revocations().await {
        Ok(all) => {
            let body = serde_json::json!({ "revocations": all });
            text(StatusCode::OK, "application/json", body.to_string())
        }
        Err(_) => unavailable(state, "revocations"),
    }
}

/// Revokes a subject, a token (`jti`) or an API key (its SHA-256 hex): refused from the
/// next request on, on every replica sharing the store.
async fn revoke(state: &State, req: Request<Incoming>) -> Response<ProxyBody> {
    use http_body_util::BodyExt as _;
    let Ok(body) = http_body_util::Limited::new(req.into_body(), 8192)
        .collect()
        .await
        .map(|b| b.to_bytes())
    else {
        return bad_revocation("the body must be JSON of at most 8 KiB");
    };
    let Ok(r) = serde_json::from_slice::<NewRevocation>(&body) else {
        return bad_revocation(
            "expected {\"kind\": \"subject\" | \"jti\" | \"api_key\", \"value\": \"...\", \"note\": \"...\"}",
        );
    };
    let value = r.value.trim();
    if value.is_empty() || value.len() > 512 {
        return bad_revocation("`value` must be 1 to 512 bytes");
    }
    if r.kind == RevocationKind::ApiKey
        && !(value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return bad_revocation("an `api_key` is named by the SHA-256 hex of the key (64 hex digits), as in the key file");
    }
    let revocation = Revocation {
        kind: r.kind,
        value: if r.kind == RevocationKind::ApiKey {
            value.to_ascii_lowercase()
        } else {
            value.to_owned()
        },
        at: now_secs(),
        note: r.note.map(|n| n.chars().take(200).collect()),
    };
    match state.store.revoke(&revocation).await {
        Ok(()) => {
            state.metrics.revocation("added");
            state.audit.record(revocation_event(
                state,
                privgate_audit::RevocationAction::Added,
                revocation.kind,
                &revocation.value,
            ));
            tracing::info!(kind = revocation.kind.as_str(), "revocation added");
            let body = serde_json::to_string(&revocation).unwrap_or_default();
            text(StatusCode::CREATED, "application/json", body)
        }
        Err(_) => unavailable(state, "revoke"),
    }
}

/// The audit event of a revocation change: the subject itself, or a keyed reference
/// to a token id or key digest.
fn revocation_event(
    state: &State,
    action: privgate_audit::RevocationAction,
    kind: RevocationKind,
    value: &str,
) -> privgate_audit::Event {
    use privgate_audit::RevocationTarget as T;
    let target = match kind {
        RevocationKind::Subject => T::Subject,
        RevocationKind::Jti => T::Jti,
        RevocationKind::ApiKey => T::ApiKey,
    };
    let (value_ref, subject) = match kind {
        RevocationKind::Subject => (None, Some(value.to_owned())),
        _ => (Some(state.audit.reference(value)), None),
    };
    privgate_audit::Event::Revocation(privgate_audit::RevocationEvent {
        action,
        target,
        value_ref,
        subject,
        by: Some("admin".to_owned()),
    })
}

/// `DELETE /admin/revocations?kind=…&value=…`.
async fn unrevoke(state: &State, query: &str) -> Response<ProxyBody> {
    let Ok(pairs) = crate::proxy::path::query_pairs(query) else {
        return bad_revocation("the query is malformed");
    };
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let kind = match get("kind") {
        Some("subject") => RevocationKind::Subject,
        Some("jti") => RevocationKind::Jti,
        Some("api_key") => RevocationKind::ApiKey,
        _ => return bad_revocation("`kind` must be subject, jti or api_key"),
    };
    let Some(value) = get("value").map(str::trim).filter(|v| !v.is_empty()) else {
        return bad_revocation("`value` is required");
    };
    let value = if kind == RevocationKind::ApiKey {
        value.to_ascii_lowercase()
    } else {
        value.to_owned()
    };
    match state.store.unrevoke(kind, &value).await {
        Ok(true) => {
            state.metrics.revocation("removed");
            state.audit.record(revocation_event(
                state,
                privgate_audit::RevocationAction::Removed,
                kind,
                &value,
            ));
            tracing::info!(kind = kind.as_str(), "revocation removed");
            text(
                StatusCode::OK,
                "application/json",
                "{\"removed\":true}".into(),
            )
        }
        Ok(false) => Denial::own(
            StatusCode::NOT_FOUND,
            "revocation-not-found",
            "No such revocation",
            None,
        )
        .response(),
        Err(_) => unavailable(state, "unrevoke"),
    }
}

/// The metrics text, the audit writer's state mirrored first.
fn render_metrics(state: &State) -> Result<String, prometheus::Error> {
    state.audit.export_metrics();
    crate::proxy::watch::export_metrics(state);
    if let Some(inv) = &state.inventory {
        let (covered, uncovered) = inv.coverage();
        state.metrics.inventory(covered, uncovered);
    }
    state.metrics.render()
}

/// 200 when a policy is loaded and the upstream accepts a TCP connection now.
async fn readyz(state: &State) -> Response<ProxyBody> {
    // The policy part holds by construction: the gateway starts only with a policy that
    // loaded, and a reload swaps in only another that did.
    let upstream = tokio::time::timeout(
        READY_CONNECT_TIMEOUT,
        TcpStream::connect(state.upstream.as_str()),
    )
    .await;
    match upstream {
        Ok(Ok(_)) => text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ready\n".into(),
        ),
        Ok(Err(e)) => {
            tracing::info!(error = %e, "not ready: the upstream refused a connection");
            NOT_READY.response()
        }
        Err(_) => {
            tracing::info!("not ready: the upstream did not accept a connection in time");
            NOT_READY.response()
        }
    }
}

/// The data inventory as JSON (`privgate inventory --admin` renders it).
fn inventory(state: &State) -> Response<ProxyBody> {
    let Some(inv) = &state.inventory else {
        return Denial::own(
            StatusCode::NOT_FOUND,
            "discovery-off",
            "Discovery is off (`discovery.sample: 0` in the gateway config)",
            None,
        )
        .response();
    };
    match serde_json::to_string_pretty(&inv.snapshot()) {
        Ok(body) => text(StatusCode::OK, "application/json", body),
        Err(_) => INTERNAL.response(),
    }
}

fn policy_info(state: &State) -> Response<ProxyBody> {
    let live = state.policy.current();
    let body = serde_json::json!({
        "hash": live.policy.hash(),
        "loaded_at": live.loaded_at,
        "files": live.policy.file_count(),
        "routes": live.policy.routes().len(),
    });
    text(StatusCode::OK, "application/json", body.to_string())
}

async fn reload(state: Arc<State>) -> Response<ProxyBody> {
    let done =
        tokio::task::spawn_blocking(move || state.policy.reload(&state.metrics, &state.audit))
            .await;
    match done {
        Ok(Ok(loaded)) => {
            let body = serde_json::json!({ "hash": loaded.policy.hash() });
            text(StatusCode::OK, "application/json", body.to_string())
        }
        Ok(Err(ReloadError::Invalid(diags))) => text(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text/plain; charset=utf-8",
            diags,
        ),
        Ok(Err(ReloadError::Load(msg))) => text(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text/plain; charset=utf-8",
            format!("{msg}\n"),
        ),
        Err(_) => INTERNAL.response(),
    }
}
