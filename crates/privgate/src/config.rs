//! The gateway's configuration file (`privgate run --config gateway.yaml`): its YAML shape,
//! parsing with located errors, and the check that turns it into a [`Config`].
//!
//! Two stages, as for policies: the parse stage reads the file into the `Raw*` types with
//! `deny_unknown_fields` (an error names `file:line:col`, the key path and what was
//! expected); the check stage validates addresses, the upstream URL, durations, header
//! names, key files and TLS files, and builds the [`Identifier`] from the `identity:` section (the
//! identity module's own [`IdentityConfig`], embedded as it is), collecting every problem
//! before failing. Relative paths, the identity files' included, are taken from the config
//! file's directory. Keys and secrets are only ever read from files (or, for the HS256
//! secret, an environment variable), and an error names the file, never its content. This
//! module does not start anything: the proxy (`proxy/`) does, with the checked [`Config`].
//!
//! `identity:` needs at least one source; per request an API key is tried first, then a
//! bearer JWT, then the trusted headers (believed only from `trusted_cidrs`).
//!
//! ```yaml
//! listen: 127.0.0.1:8080                  # plain HTTP; optional when `tls:` is given
//! tls:                                    # HTTPS (TLS 1.2 and 1.3, ALPN h2 and http/1.1)
//!   listen: 0.0.0.0:8443
//!   cert_file: cert.pem                   # PEM chain, the server's certificate first
//!   key_file: key.pem                     # PKCS#8, PKCS#1 or SEC1 PEM
//!   hsts_max_age: 365d                    # the default; 0 turns the header off
//! upstream:
//!   url: "http://127.0.0.1:8081"          # or https://host:port
//!   connect_timeout: 5s
//!   read_timeout: 30s
//!   # ca_file: upstream-ca.pem            # https: CAs to trust (webpki roots without it)
//!   # server_name: booking.internal       # https: SNI and certificate name (URL host)
//! policy_dir: policies/clinic
//! identity:
//!   jwt:                                  # Authorization: Bearer <JWT>
//!     jwks_file: jwks.json                # RS256, ES256 and EdDSA public keys
//!     issuer: https://idp.example
//!     audience: privgate
//!     roles_claim: roles                  # default; a dotted path works too
//!     # hs256_secret_file: hs256.secret    # HS256, only with a configured secret
//!   api_keys:                             # X-Api-Key: <key>, or Authorization: ApiKey <key>
//!     file: api-keys.txt                  # `<sha256 hex>  <subject>  <role1,role2>` a line
//!   trusted_headers:                      # from an authenticating proxy in front
//!     trusted_cidrs: [127.0.0.1/32]
//!     user_header: X-Forwarded-User       # default
//!     groups_header: X-Forwarded-Groups   # default
//! forward_identity: { user_header: X-Privgate-User, role_header: X-Privgate-Role }
//! keys: { hash_key_file: hash.key, token_key_file: token.key, token_key_id: k1 }
//! routing: { fold_case: false }
//! workers: 2
//! admin: { listen: 127.0.0.1:9901, token_file: admin.token }
//! ```
//!
//! At least one of `listen` and `tls` must be given. The TLS certificate and key, and an
//! upstream `ca_file`, are read and checked here (by `proxy/tls.rs`), so a missing file,
//! a file without PEM blocks or a key that does not match its certificate is reported
//! before anything listens. `Strict-Transport-Security` goes on responses served over
//! TLS only.
//!
//! `admin:` turns on the admin listener (`admin/`: metrics, health, readiness, reload);
//! its `listen` defaults to `127.0.0.1:9901` and its bearer token is read from
//! `token_file` (surrounding whitespace trimmed). Without `admin:` there is no admin
//! listener, and SIGHUP is the only way to reload the policy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hyper::header::{HeaderName, HeaderValue};
use hyper::http::uri::{Authority, Uri};
use marked_yaml::{FromYamlError, LoaderOptions};
use privgate_mask::{Limits, Secrets};
use rustls::pki_types::ServerName;
use serde::Deserialize;

use crate::identity::{Identifier, IdentityConfig};
use crate::proxy::tls::{self, UpstreamTls};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The plain HTTP address to listen on (`127.0.0.1:8080`; port 0 picks a free port).
    /// Optional when `tls:` is given; at least one of the two must be.
    #[serde(default)]
    pub listen: Option<String>,
    /// The HTTPS listener.
    #[serde(default)]
    pub tls: Option<RawTls>,
    /// The legacy upstream.
    pub upstream: RawUpstream,
    /// The policy directory.
    pub policy_dir: String,
    /// Where identities come from (JWT, API keys, trusted headers).
    pub identity: IdentityConfig,
    /// Headers that tell the upstream who the verified caller is.
    #[serde(default)]
    pub forward_identity: Option<RawForwardIdentity>,
    /// Keys of `hash` and `tokenize`, by file.
    #[serde(default)]
    pub keys: Option<RawKeys>,
    /// How request paths are matched.
    #[serde(default)]
    pub routing: Option<RawRouting>,
    /// Runtime worker threads; the number of cores by default.
    #[serde(default)]
    pub workers: Option<usize>,
    /// The admin listener (metrics, health, readiness, reload); off when absent.
    #[serde(default)]
    pub admin: Option<RawAdmin>,
    /// What one value may cost the masking engine.
    #[serde(default)]
    pub limits: Option<RawLimits>,
    /// Where rate limits, quotas, approvals and revocations are kept.
    #[serde(default)]
    pub state: Option<RawState>,
    /// The tamper-evident audit trail (`privgate-audit`'s own section).
    #[serde(default)]
    pub audit: Option<privgate_audit::AuditConfig>,
    /// Anomaly detection for the SOC.
    #[serde(default)]
    pub anomaly: Option<crate::anomaly::config::RawAnomaly>,
    /// Discovery of personal data in responses (the data inventory).
    #[serde(default)]
    pub discovery: Option<RawDiscovery>,
}

/// `discovery:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscovery {
    /// Fraction of masked response bodies surveyed, from 0 (off) to 1 (every body).
    #[serde(default)]
    pub sample: Option<f64>,
    /// Where the inventory is kept across restarts (`privgate-inventory.json` next to
    /// the config by default).
    #[serde(default)]
    pub file: Option<String>,
    /// Distinct (route, path, type) entries kept at most.
    #[serde(default)]
    pub max_entries: Option<usize>,
}

/// `state:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// `memory` (the default: one process) or `redis` (shared by replicas).
    #[serde(default)]
    pub backend: Option<String>,
    /// `memory`: the SQLite file approvals and revocations are kept in
    /// (`privgate-state.sqlite` next to the config by default).
    #[serde(default)]
    pub path: Option<String>,
    /// `redis`: where and how.
    #[serde(default)]
    pub redis: Option<RawRedis>,
    /// What requests get while the backend cannot answer.
    #[serde(default)]
    pub on_unavailable: Option<RawOnUnavailable>,
    /// How long an approval stays usable after it is asked for (`24h`).
    #[serde(default)]
    pub approval_ttl: Option<String>,
}

/// `state.redis:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    /// `redis://[user:password@]host:port[/db]` (no password inline: see `password_file`).
    pub url: String,
    /// File holding the password (AUTH), if the server wants one.
    #[serde(default)]
    pub password_file: Option<String>,
    /// Prefix of every key (`privgate:` by default), so one Redis can serve several
    /// gateways' sets.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// How long to wait for a connection (`1s`).
    #[serde(default)]
    pub connect_timeout: Option<String>,
    /// How long to wait for one command (`250ms`).
    #[serde(default)]
    pub command_timeout: Option<String>,
}

/// `state.on_unavailable:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOnUnavailable {
    /// Export routes (quotas, approvals): `deny` (default) or `allow`.
    #[serde(default)]
    pub exports: Option<String>,
    /// Other routes (rate limits): `allow` (default) or `deny`.
    #[serde(default)]
    pub other: Option<String>,
}

/// A checked `state:` section.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// The backend and its settings.
    pub backend: StateBackend,
    /// Exports are allowed while the backend cannot answer (default: refused, 503).
    pub exports_fail_open: bool,
    /// Other requests are allowed while the backend cannot answer (default: yes, unmetered).
    pub other_fail_open: bool,
    /// How long an approval stays usable after it is asked for.
    pub approval_ttl: Duration,
}

impl StateConfig {
    /// The backend and where it is, for messages (no password).
    pub fn describe(&self) -> String {
        match &self.backend {
            StateBackend::Memory { path } => format!("memory, file `{}`", path.display()),
            StateBackend::Redis(r) => format!("redis at {}", r.url),
        }
    }
}

/// Which backend.
#[derive(Debug, Clone)]
pub enum StateBackend {
    /// One process; approvals and revocations in this SQLite file.
    Memory {
        /// The file.
        path: PathBuf,
    },
    /// Shared through Redis.
    Redis(RedisConfig),
}

/// A checked `state.redis:` section.
#[derive(Clone)]
pub struct RedisConfig {
    /// The URL, without a password.
    pub url: String,
    /// The password, when configured.
    pub password: Option<String>,
    /// Key prefix.
    pub key_prefix: String,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Per-command timeout.
    pub command_timeout: Duration,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// `limits:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// The longest single value the engine holds while deciding about it (`1MiB`).
    #[serde(default)]
    pub max_value_len: Option<String>,
    /// The deepest nesting of objects and arrays (128).
    #[serde(default)]
    pub max_depth: Option<usize>,
}

/// `admin:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// The address to listen on (`127.0.0.1:9901` by default; port 0 picks a free port).
    #[serde(default)]
    pub listen: Option<String>,
    /// File holding the bearer token every admin request but `/healthz` must present.
    pub token_file: String,
}

/// `tls:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// The HTTPS address to listen on (`0.0.0.0:8443`; port 0 picks a free port).
    pub listen: String,
    /// PEM certificate chain, the server's own certificate first.
    pub cert_file: String,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// `Strict-Transport-Security` max-age on HTTPS responses (`365d` by default; `0`
    /// turns the header off).
    #[serde(default)]
    pub hsts_max_age: Option<String>,
}

/// `upstream:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// `http://host:port` or `https://host:port` (port 80 or 443 when absent).
    pub url: String,
    /// PEM bundle of the CAs to trust for an `https://` upstream; the webpki roots (the
    /// Mozilla bundle) without it.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The name sent in SNI and expected in the upstream's certificate; the URL's host
    /// by default.
    #[serde(default)]
    pub server_name: Option<String>,
    /// How long to wait for a connection (`5s`).
    #[serde(default)]
    pub connect_timeout: Option<String>,
    /// How long to wait for the response head, and between body frames (`30s`).
    #[serde(default)]
    pub read_timeout: Option<String>,
}

/// `forward_identity:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForwardIdentity {
    /// Header carrying the verified subject upstream.
    #[serde(default)]
    pub user_header: Option<String>,
    /// Header carrying the role the request was served with.
    #[serde(default)]
    pub role_header: Option<String>,
}

/// `keys:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    /// File holding the `hash` key as hex digits.
    #[serde(default)]
    pub hash_key_file: Option<String>,
    /// File holding the `tokenize` key as hex digits.
    #[serde(default)]
    pub token_key_file: Option<String>,
    /// The id of the `tokenize` key.
    #[serde(default)]
    pub token_key_id: Option<String>,
}

/// `routing:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouting {
    /// Lower-case paths before matching and forwarding (for upstreams that ignore case).
    #[serde(default)]
    pub fold_case: Option<bool>,
}

/// A checked configuration.
#[derive(Debug)]
pub struct Config {
    /// The plain HTTP listen address, when configured.
    pub listen: Option<SocketAddr>,
    /// The HTTPS listener, when configured.
    pub tls: Option<TlsListener>,
    /// The upstream's authority (`host:port`).
    pub upstream: Authority,
    /// How to speak TLS to an `https://` upstream; `None` for `http://`.
    pub upstream_tls: Option<UpstreamTls>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Response head and body frame timeout.
    pub read_timeout: Duration,
    /// The policy directory.
    pub policy_dir: PathBuf,
    /// The identity sources, their keys loaded.
    pub identifier: Identifier,
    /// Header for the subject sent upstream.
    pub forward_user: Option<HeaderName>,
    /// Header for the role sent upstream.
    pub forward_role: Option<HeaderName>,
    /// Masking keys.
    pub secrets: Secrets,
    /// Lower-case paths.
    pub fold_case: bool,
    /// Worker threads.
    pub workers: usize,
    /// The admin listener, when configured.
    pub admin: Option<AdminConfig>,
    /// Engine limits every plan is compiled with.
    pub limits: Limits,
    /// The state backend.
    pub state: StateConfig,
    /// The audit trail, checked, with its keys loaded.
    pub audit: Option<AuditSetup>,
    /// Anomaly detection, when configured and enabled.
    pub anomaly: Option<crate::anomaly::AnomalyConfig>,
    /// Discovery (the data inventory), unless turned off with `sample: 0`.
    pub discovery: Option<crate::inventory::Settings>,
}

/// A checked `audit:` section and its key ring.
pub struct AuditSetup {
    /// The section, paths resolved.
    pub config: privgate_audit::AuditConfig,
    /// The chain keys.
    pub keys: privgate_audit::KeyRing,
    /// The key of keyed references to token ids and API key digests in events, derived
    /// from the first key of `audit.keys` (so references stay comparable across
    /// restarts and key rotations, as long as that key stays listed).
    pub ref_key: [u8; 32],
}

impl std::fmt::Debug for AuditSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSetup")
            .field("file", &self.config.file.path)
            .finish_non_exhaustive()
    }
}

/// A checked `tls:` section.
#[derive(Debug)]
pub struct TlsListener {
    /// The HTTPS listen address.
    pub listen: SocketAddr,
    /// Certificate, key, versions and ALPN, loaded and checked.
    pub server: Arc<rustls::ServerConfig>,
    /// The `Strict-Transport-Security` value, `None` when turned off.
    pub hsts: Option<HeaderValue>,
}

/// A checked `admin:` section.
#[derive(Debug)]
pub struct AdminConfig {
    /// The admin listen address.
    pub listen: SocketAddr,
    /// The bearer token, kept only as its digest.
    pub token: AdminToken,
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file `{}`", path.display()))?;
    let raw = parse(&path.display().to_string(), &text)?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    check(&path.display().to_string(), base, raw)
}

/// The parse stage: YAML into [`RawConfig`], with `file:line:col: key path: problem`.
pub fn parse(name: &str, text: &str) -> Result<RawConfig> {
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .toplevel_mapping();
    marked_yaml::from_yaml_with_options::<RawConfig>(0, text, options).map_err(|e| {
        let (mark, path) = match &e {
            FromYamlError::ParseYaml(_) => (None, None),
            FromYamlError::FromNode(n) => (n.start_mark(), n.path().map(str::to_owned)),
        };
        let at = match mark {
            Some(m) => format!("{name}:{}:{}", m.line(), m.column()),
            None => name.to_owned(),
        };
        match (&e, path) {
            (FromYamlError::FromNode(n), Some(p)) => anyhow!("{at}: `{p}`: {}", **n),
            _ => anyhow!("{at}: {e}"),
        }
    })
}

/// The check stage: every problem of `raw`, or the checked config.
pub fn check(name: &str, base: &Path, raw: RawConfig) -> Result<Config> {
    let mut problems: Vec<String> = Vec::new();
    let mut problem = |key: &str, msg: String| problems.push(format!("{name}: `{key}`: {msg}"));

    let mut address = |key: &str, text: &str, example: &str| {
        let addr = text.parse::<SocketAddr>().ok();
        if addr.is_none() {
            problem(
                key,
                format!("expected an address with a port, e.g. `{example}`"),
            );
        }
        addr
    };
    let listen = raw
        .listen
        .as_deref()
        .map(|t| address("listen", t, "127.0.0.1:8080"));
    let tls_listen = raw
        .tls
        .as_ref()
        .map(|t| address("tls.listen", &t.listen, "0.0.0.0:8443"));
    if raw.listen.is_none() && raw.tls.is_none() {
        problem(
            "listen",
            "expected `listen:` (plain HTTP), `tls:` (HTTPS) or both, e.g. \
             `listen: 127.0.0.1:8080`"
                .into(),
        );
    }
    let tls_server = raw.tls.as_ref().and_then(|t| {
        tls::server_config(&base.join(&t.cert_file), &base.join(&t.key_file))
            .map_err(|e| problem("tls", format!("{e:#}")))
            .ok()
    });
    let upstream = match upstream_url(&raw.upstream.url) {
        Ok(u) => Some(u),
        Err(msg) => {
            problem("upstream.url", msg);
            None
        }
    };
    let upstream_tls = match &upstream {
        Some(u) if u.https => {
            let client = tls::client_config(
                raw.upstream
                    .ca_file
                    .as_ref()
                    .map(|f| base.join(f))
                    .as_deref(),
            )
            .map_err(|e| problem("upstream.ca_file", format!("{e:#}")))
            .ok();
            let name = raw.upstream.server_name.as_deref().unwrap_or(&u.host);
            let server_name = ServerName::try_from(name.to_owned())
                .map_err(|_| {
                    problem(
                        "upstream.server_name",
                        "expected a DNS name or an IP address, e.g. `booking.internal`".into(),
                    )
                })
                .ok();
            client
                .zip(server_name)
                .map(|(client, server_name)| UpstreamTls {
                    client,
                    server_name,
                })
        }
        Some(_) if raw.upstream.ca_file.is_some() || raw.upstream.server_name.is_some() => {
            problem(
                "upstream",
                "`ca_file` and `server_name` need an `https://` URL".into(),
            );
            None
        }
        _ => None,
    };
    let mut duration = |key: &str, text: &Option<String>, default: u64| match text {
        None => Duration::from_secs(default),
        Some(t) => privgate_policy::parse_duration(t).unwrap_or_else(|p| {
            problem(key, format!("expected {}", p.expected));
            Duration::from_secs(default)
        }),
    };
    let connect_timeout = duration("upstream.connect_timeout", &raw.upstream.connect_timeout, 5);
    let read_timeout = duration("upstream.read_timeout", &raw.upstream.read_timeout, 30);
    let hsts_max_age = raw.tls.as_ref().map(|t| match t.hsts_max_age.as_deref() {
        Some(off) if off.trim() == "0" => Duration::ZERO,
        text => duration("tls.hsts_max_age", &text.map(str::to_owned), HSTS_MAX_AGE),
    });

    let mut header = |key: &str, text: Option<&str>, default: Option<&str>| {
        let text = text.or(default)?;
        match HeaderName::from_bytes(text.as_bytes()) {
            Ok(h) => Some(h),
            Err(_) => {
                problem(key, "expected an HTTP header name".into());
                None
            }
        }
    };
    let forward = raw.forward_identity.as_ref();
    let forward_user = header(
        "forward_identity.user_header",
        forward.and_then(|f| f.user_header.as_deref()),
        None,
    );
    let forward_role = header(
        "forward_identity.role_header",
        forward.and_then(|f| f.role_header.as_deref()),
        None,
    );
    let fold_case = raw
        .routing
        .as_ref()
        .and_then(|r| r.fold_case)
        .unwrap_or(false);
    let workers = match raw.workers {
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n) if (1..=1024).contains(&n) => n,
        Some(_) => {
            problem("workers", "expected a whole number from 1 to 1024".into());
            1
        }
    };
    let mut identity = raw.identity;
    identity.resolve_paths(base);
    let identifier = match Identifier::from_config(&identity) {
        Ok(i) => Some(i),
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            None
        }
    };
    let policy_dir = base.join(&raw.policy_dir);
    let secrets = match secrets(base, raw.keys.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!("{name}: `keys`: {e:#}"));
            Secrets::new()
        }
    };
    let admin = match &raw.admin {
        None => None,
        Some(a) => {
            let text = a.listen.as_deref().unwrap_or(DEFAULT_ADMIN_LISTEN);
            let listen = text.parse::<SocketAddr>().ok();
            if listen.is_none() {
                problems.push(format!(
                    "{name}: `admin.listen`: expected an address with a port, e.g. `{DEFAULT_ADMIN_LISTEN}`"
                ));
            }
            let token = match read_token(&base.join(&a.token_file)) {
                Ok(t) => Some(t),
                Err(e) => {
                    problems.push(format!("{name}: `admin.token_file`: {e:#}"));
                    None
                }
            };
            listen
                .zip(token)
                .map(|(listen, token)| AdminConfig { listen, token })
        }
    };
    let mut limits = Limits::default();
    if let Some(l) = &raw.limits {
        if let Some(text) = &l.max_value_len {
            match parse_size(text) {
                Some(n) if (16..=1 << 30).contains(&n) => limits.max_value_len = n,
                _ => problems.push(format!(
                    "{name}: `limits.max_value_len`: expected a size from 16B to 1GiB, e.g. `1MiB` or `64KiB`"
                )),
            }
        }
        match l.max_depth {
            None => {}
            Some(n) if (1..=4096).contains(&n) => limits.max_depth = n,
            Some(_) => problems.push(format!(
                "{name}: `limits.max_depth`: expected a whole number from 1 to 4096"
            )),
        }
    }
    let audit = match &raw.audit {
        None => None,
        Some(a) => match a.check(base) {
            Ok(config) => match privgate_audit::KeyRing::load(&config.keys) {
                Ok(keys) => {
                    let first = config
                        .keys
                        .first()
                        .and_then(|k| std::fs::read(&k.file).ok())
                        .unwrap_or_default();
                    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, first.trim_ascii());
                    let mut ref_key = [0u8; 32];
                    ref_key.copy_from_slice(
                        ring::hmac::sign(&key, b"privgate audit reference v1").as_ref(),
                    );
                    Some(AuditSetup {
                        config,
                        keys,
                        ref_key,
                    })
                }
                Err(e) => {
                    problems.push(format!("{name}: `audit.keys`: {e}"));
                    None
                }
            },
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                None
            }
        },
    };
    let anomaly = match &raw.anomaly {
        None => None,
        Some(a) => match crate::anomaly::config::check(a) {
            Ok(c) => c.enabled.then_some(c),
            Err(errors) => {
                for e in errors {
                    problems.push(format!("{name}: {e}"));
                }
                None
            }
        },
    };
    let discovery = match check_discovery(base, raw.discovery.as_ref()) {
        Ok(d) => d,
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            None
        }
    };
    let state = match check_state(base, raw.state.as_ref()) {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            None
        }
    };
    if !problems.is_empty() {
        bail!("the config is not valid:\n  {}", problems.join("\n  "));
    }
    let (Some(upstream), Some(identifier), Some(state)) = (upstream, identifier, state) else {
        bail!("{name}: `upstream.url`, `identity` or `state` is not valid");
    };
    let tls = match (tls_listen.flatten(), tls_server, hsts_max_age) {
        (Some(listen), Some(server), Some(max_age)) => Some(TlsListener {
            listen,
            server,
            hsts: tls::hsts(max_age),
        }),
        _ => None,
    };
    Ok(Config {
        listen: listen.flatten(),
        tls,
        upstream: upstream.authority,
        upstream_tls,
        connect_timeout,
        read_timeout,
        policy_dir,
        identifier,
        forward_user,
        forward_role,
        secrets,
        fold_case,
        workers,
        admin,
        limits,
        state,
        audit,
        anomaly,
        discovery,
    })
}

/// `state.path` when not given, next to the config file.
const DEFAULT_STATE_FILE: &str = "privgate-state.sqlite";

/// `discovery.file` when not given, next to the config file.
const DEFAULT_INVENTORY_FILE: &str = "privgate-inventory.json";

/// What share of masked bodies is surveyed when `discovery.sample` is not given: a surveyed
/// body costs about twice its masking (`cargo run --release -p privgate-benches --bin
/// ratios`), so one in ten keeps the average cost near a tenth while recurring paths are
/// still found within a few responses.
const DEFAULT_SAMPLE: f64 = 0.1;

/// Checks `discovery:` (absent: one body in ten surveyed, the file next to the config).
fn check_discovery(
    base: &Path,
    raw: Option<&RawDiscovery>,
) -> Result<Option<crate::inventory::Settings>> {
    let sample = raw.and_then(|r| r.sample).unwrap_or(DEFAULT_SAMPLE);
    if !(0.0..=1.0).contains(&sample) {
        bail!("`discovery.sample`: expected a fraction from 0 (off) to 1 (every body), e.g. `0.1`");
    }
    let max_entries = raw.and_then(|r| r.max_entries).unwrap_or(10_000);
    if !(1..=1_000_000).contains(&max_entries) {
        bail!("`discovery.max_entries`: expected a whole number from 1 to 1000000");
    }
    if sample == 0.0 {
        return Ok(None);
    }
    let file = raw
        .and_then(|r| r.file.as_deref())
        .unwrap_or(DEFAULT_INVENTORY_FILE);
    Ok(Some(crate::inventory::Settings {
        sample,
        file: Some(base.join(file)),
        max_entries,
    }))
}

/// A duration with `ms` allowed too (`250ms`, `1s`, `2m`).
fn short_duration(text: &str) -> Option<Duration> {
    match text.trim().strip_suffix("ms") {
        Some(ms) => ms
            .parse::<u64>()
            .ok()
            .filter(|m| *m > 0)
            .map(Duration::from_millis),
        None => privgate_policy::parse_duration(text.trim()).ok(),
    }
}

/// Checks `state:` (absent: `memory` with its file next to the config).
fn check_state(base: &Path, raw: Option<&RawState>) -> Result<StateConfig> {
    let fail_open = |key: &str, text: Option<&str>, default: bool| match text {
        None => Ok(default),
        Some("allow") => Ok(true),
        Some("deny") => Ok(false),
        Some(_) => Err(anyhow!(
            "`state.on_unavailable.{key}`: expected `allow` or `deny`"
        )),
    };
    let on = raw.and_then(|r| r.on_unavailable.as_ref());
    let exports_fail_open = fail_open("exports", on.and_then(|o| o.exports.as_deref()), false)?;
    let other_fail_open = fail_open("other", on.and_then(|o| o.other.as_deref()), true)?;
    let backend = match raw.and_then(|r| r.backend.as_deref()).unwrap_or("memory") {
        "memory" => {
            if raw.is_some_and(|r| r.redis.is_some()) {
                bail!("`state.redis` is set but `state.backend` is `memory`; add `backend: redis`");
            }
            let path = raw
                .and_then(|r| r.path.as_deref())
                .unwrap_or(DEFAULT_STATE_FILE);
            StateBackend::Memory {
                path: base.join(path),
            }
        }
        "redis" => {
            let Some(r) = raw.and_then(|r| r.redis.as_ref()) else {
                bail!("`state.backend` is `redis`: add `state.redis: {{ url: \"redis://127.0.0.1:6379\" }}`");
            };
            if raw.is_some_and(|r| r.path.is_some()) {
                bail!("`state.path` is for the `memory` backend; remove it");
            }
            let url = r.url.trim();
            if url.starts_with("rediss://") {
                bail!("`state.redis.url`: TLS to Redis (`rediss://`) is not supported; reach Redis over a private network or a local TLS tunnel and use `redis://`");
            }
            if !url.starts_with("redis://") {
                bail!("`state.redis.url`: expected `redis://host:port[/db]`");
            }
            let authority = url.split_once("://").map_or("", |(_, rest)| rest);
            if authority
                .split('/')
                .next()
                .unwrap_or_default()
                .contains('@')
            {
                bail!("`state.redis.url`: no credentials in the URL; put the password in `password_file`");
            }
            let password = match &r.password_file {
                None => None,
                Some(f) => {
                    let path = base.join(f);
                    let text = std::fs::read_to_string(&path).with_context(|| {
                        format!(
                            "`state.redis.password_file`: cannot read `{}`",
                            path.display()
                        )
                    })?;
                    Some(text.trim().to_owned())
                }
            };
            let timeout = |key: &str, text: Option<&str>, default: Duration| match text {
                None => Ok(default),
                Some(t) => short_duration(t).ok_or_else(|| {
                    anyhow!("`state.redis.{key}`: expected a duration such as `250ms` or `1s`")
                }),
            };
            StateBackend::Redis(RedisConfig {
                url: url.to_owned(),
                password,
                key_prefix: r
                    .key_prefix
                    .clone()
                    .unwrap_or_else(|| "privgate:".to_owned()),
                connect_timeout: timeout(
                    "connect_timeout",
                    r.connect_timeout.as_deref(),
                    Duration::from_secs(1),
                )?,
                command_timeout: timeout(
                    "command_timeout",
                    r.command_timeout.as_deref(),
                    Duration::from_millis(250),
                )?,
            })
        }
        other => bail!("`state.backend`: expected `memory` or `redis`, not `{other}`"),
    };
    let approval_ttl = match raw.and_then(|r| r.approval_ttl.as_deref()) {
        None => Duration::from_secs(24 * 3600),
        Some(t) => short_duration(t)
            .filter(|d| *d >= Duration::from_secs(1))
            .ok_or_else(|| {
                anyhow!("`state.approval_ttl`: expected a duration such as `24h` or `30m`")
            })?,
    };
    Ok(StateConfig {
        backend,
        exports_fail_open,
        other_fail_open,
        approval_ttl,
    })
}

/// A size: a whole number with an optional unit `B`, `KiB`, `MiB` or `GiB`.
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = text.split_at(digits);
    let n: usize = n.parse().ok()?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// `tls.hsts_max_age` when not given: one year, in seconds.
const HSTS_MAX_AGE: u64 = 365 * 86_400;

/// Where the admin listener listens when `admin.listen` is not given.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";

/// The admin bearer token, held as its SHA-256 so it is compared over a fixed length.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// The token `text` (as given, already trimmed).
    pub fn new(text: &[u8]) -> AdminToken {
        let d = ring::digest::digest(&ring::digest::SHA256, text);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        AdminToken(out)
    }

    /// Whether `presented` is the token, in time independent of where they differ:
    /// both sides are digests of the same length, and every byte pair is compared
    /// (XOR folded with OR) with no early exit.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let other = AdminToken::new(presented);
        let mut diff = 0u8;
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            diff |= a ^ b;
        }
        diff == 0
    }
}

/// The admin token file: its content, trimmed, not empty. Errors never show content.
fn read_token(path: &Path) -> Result<AdminToken> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read the token file `{}`", path.display()))?;
    let text = text.trim_ascii();
    if text.len() < 16 {
        bail!(
            "the token file `{}` must hold a token of at least 16 characters",
            path.display()
        );
    }
    Ok(AdminToken::new(text))
}

/// A checked `upstream.url`.
struct UpstreamUrl {
    /// `host:port`, the port always written.
    authority: Authority,
    /// The host alone (the default TLS server name).
    host: String,
    /// `https://`.
    https: bool,
}

/// `http://host:port` or `https://host:port` (port 80 or 443 when absent) with no path,
/// query or user info.
fn upstream_url(url: &str) -> Result<UpstreamUrl, String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| "expected a URL like `http://127.0.0.1:8081`".to_owned())?;
    let (https, default_port) = match uri.scheme_str() {
        Some("http") => (false, 80),
        Some("https") => (true, 443),
        _ => return Err("expected an `http://` or `https://` URL".into()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "expected a host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("expected no user info in the URL".into());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("expected no path or query: requests keep their own path".into());
    }
    let authority = if authority.port().is_some() {
        authority.clone()
    } else {
        format!("{}:{default_port}", authority.host())
            .parse()
            .map_err(|_| "expected a host".to_owned())?
    };
    // `[::1]` names the address `::1`.
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(UpstreamUrl {
        authority,
        host,
        https,
    })
}

/// The masking keys named by `keys:`.
fn secrets(base: &Path, keys: Option<&RawKeys>) -> Result<Secrets> {
    let mut secrets = Secrets::new();
    let Some(keys) = keys else {
        return Ok(secrets);
    };
    if let Some(file) = &keys.hash_key_file {
        let path = base.join(file);
        secrets = secrets
            .try_with_hash_key(&read_key(&path)?)
            .with_context(|| format!("hash key file `{}`", path.display()))?;
    }
    match (&keys.token_key_file, &keys.token_key_id) {
        (Some(file), Some(id)) => {
            let path = base.join(file);
            secrets = secrets
                .with_token_key(id, &read_key(&path)?)
                .with_context(|| format!("token key file `{}`", path.display()))?;
        }
        (None, None) => {}
        _ => bail!("`token_key_file` and `token_key_id` go together"),
    }
    Ok(secrets)
}

/// A key file of hex digits (as `privgate mask` reads them); errors never show content.
fn read_key(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read key file `{}`", path.display()))?;
    let text = text.trim_ascii();
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let key: Option<Vec<u8>> = if text.is_empty() || !text.len().is_multiple_of(2) {
        None
    } else {
        text.chunks_exact(2)
            .map(|pair| match pair {
                [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
                _ => None,
            })
            .collect()
    };
    key.ok_or_else(|| {
        anyhow!(
            "key file `{}` must hold the key as hex digits",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "listen: 127.0.0.1:0\nupstream: { url: \"http://127.0.0.1:9\" }\npolicy_dir: p\nidentity: { trusted_headers: { trusted_cidrs: [127.0.0.1/32] } }\n";

    #[test]
    fn a_minimal_config_checks() {
        let c = check("g.yaml", Path::new("/etc"), parse("g.yaml", GOOD).unwrap()).unwrap();
        assert_eq!(c.upstream.as_str(), "127.0.0.1:9");
        assert_eq!(c.policy_dir, Path::new("/etc/p"));
        assert_eq!(c.read_timeout, Duration::from_secs(30));
        assert!(!c.fold_case);
    }

    #[test]
    fn the_admin_section_reads_its_token_and_defaults_its_address() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin.token"), "s3cret-admin-token-1\n").unwrap();
        let text = format!("{GOOD}admin: {{ token_file: admin.token }}\n");
        let c = check("g.yaml", dir.path(), parse("g.yaml", &text).unwrap()).unwrap();
        let admin = c.admin.unwrap();
        assert_eq!(admin.listen.to_string(), DEFAULT_ADMIN_LISTEN);
        assert!(admin.token.matches(b"s3cret-admin-token-1"));
        assert!(!admin.token.matches(b"s3cret-admin-token-2"));
        assert!(!admin.token.matches(b""));
        assert!(!format!("{:?}", admin.token).contains("s3cret"));
        std::fs::write(dir.path().join("admin.token"), "short").unwrap();
        let e = check("g.yaml", dir.path(), parse("g.yaml", &text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("admin.token_file") && !e.contains("short"),
            "{e}"
        );
        let c = check("g.yaml", dir.path(), parse("g.yaml", GOOD).unwrap()).unwrap();
        assert!(c.admin.is_none());
    }

    #[test]
    fn limits_take_sizes_and_default_to_the_engine_defaults() {
        let c = check("g.yaml", Path::new("/etc"), parse("g.yaml", GOOD).unwrap()).unwrap();
        assert_eq!(c.limits, Limits::default());
        let text = format!("{GOOD}limits: {{ max_value_len: 4MiB, max_depth: 64 }}\n");
        let c = check("g.yaml", Path::new("/etc"), parse("g.yaml", &text).unwrap()).unwrap();
        assert_eq!(c.limits.max_value_len, 4 << 20);
        assert_eq!(c.limits.max_depth, 64);
        for (bad, key) in [
            ("max_value_len: 4MB", "limits.max_value_len"),
            ("max_value_len: 2GiB", "limits.max_value_len"),
            ("max_depth: 0", "limits.max_depth"),
        ] {
            let text = format!("{GOOD}limits: {{ {bad} }}\n");
            let e = check("g.yaml", Path::new("/etc"), parse("g.yaml", &text).unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{e}");
        }
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("MiB"), None);
    }

    #[test]
    fn unknown_keys_are_located() {
        let text = GOOD.replace("policy_dir: p", "policy_dir: p\nworkerz: 2");
        let e = parse("g.yaml", &text).unwrap_err().to_string();
        assert!(e.starts_with("g.yaml:4:"), "{e}");
        assert!(e.contains("workerz"), "{e}");
    }

    #[test]
    fn every_problem_is_reported() {
        let text = GOOD
            .replace("127.0.0.1:0", "nowhere")
            .replace("http://127.0.0.1:9", "ftp://x")
            .replace("127.0.0.1/32", "300.1.1.1/8");
        let e = check("g.yaml", Path::new("."), parse("g.yaml", &text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`listen`"), "{e}");
        assert!(e.contains("`upstream.url`"), "{e}");
        assert!(e.contains("trusted_cidrs[0]"), "{e}");
    }

    /// A self-signed certificate for `localhost` and its key, as PEM, in `dir`.
    fn write_cert(dir: &Path, cert: &str, key: &str) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join(cert), c.cert.pem()).unwrap();
        std::fs::write(dir.join(key), c.signing_key.serialize_pem()).unwrap();
    }

    fn check_text(dir: &Path, text: &str) -> Result<Config> {
        check("g.yaml", dir, parse("g.yaml", text).unwrap())
    }

    #[test]
    fn the_tls_section_loads_its_files_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tls")).unwrap();
        write_cert(dir.path(), "tls/cert.pem", "tls/key.pem");
        let tls = "tls: { listen: 127.0.0.1:0, cert_file: tls/cert.pem, key_file: tls/key.pem }\n";
        let c = check_text(dir.path(), &format!("{GOOD}{tls}")).unwrap();
        assert!(c.listen.is_some());
        let t = c.tls.unwrap();
        assert_eq!(t.hsts.unwrap(), "max-age=31536000");
        let mut alpn = t.server.alpn_protocols.clone();
        alpn.sort();
        assert_eq!(alpn, [b"h2".to_vec(), b"http/1.1".to_vec()]);

        // Without `listen:` (HTTPS only); HSTS set, and turned off.
        let only_tls = GOOD.replace("listen: 127.0.0.1:0\n", "");
        for (max_age, expected) in [("2d", Some("max-age=172800")), ("0", None)] {
            let tls = tls.replace(" }", &format!(", hsts_max_age: {max_age} }}"));
            let c = check_text(dir.path(), &format!("{only_tls}{tls}")).unwrap();
            assert!(c.listen.is_none());
            let hsts = c.tls.unwrap().hsts;
            assert_eq!(hsts.as_ref().map(|v| v.to_str().unwrap()), expected);
        }
        let tls = tls.replace(" }", ", hsts_max_age: 1y }");
        let e = check_text(dir.path(), &format!("{GOOD}{tls}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`tls.hsts_max_age`"), "{e}");
    }

    #[test]
    fn a_listener_is_required() {
        let text = GOOD.replace("listen: 127.0.0.1:0\n", "");
        let e = check_text(Path::new("."), &text).unwrap_err().to_string();
        assert!(e.contains("g.yaml: `listen`: expected `listen:`"), "{e}");
        assert!(e.contains("`tls:`"), "{e}");
    }

    #[test]
    fn tls_file_problems_name_the_file_and_never_its_content() {
        let dir = tempfile::tempdir().unwrap();
        write_cert(dir.path(), "cert.pem", "key.pem");
        write_cert(dir.path(), "other-cert.pem", "other-key.pem");
        std::fs::write(dir.path().join("junk.pem"), "secret-looking junk\n").unwrap();
        let tls = |cert: &str, key: &str| {
            format!("{GOOD}tls: {{ listen: 127.0.0.1:0, cert_file: {cert}, key_file: {key} }}\n")
        };
        for (cert, key, expected) in [
            ("missing.pem", "key.pem", "cannot read the certificate file"),
            ("cert.pem", "missing.pem", "cannot read the key file"),
            ("junk.pem", "key.pem", "no certificate found in"),
            ("cert.pem", "junk.pem", "no private key found in"),
            (
                "cert.pem",
                "other-key.pem",
                "does not match the certificate",
            ),
            // A certificate where the key belongs.
            ("cert.pem", "cert.pem", "no private key found in"),
        ] {
            let e = check_text(dir.path(), &tls(cert, key))
                .unwrap_err()
                .to_string();
            assert!(e.contains("g.yaml: `tls`: "), "{e}");
            assert!(e.contains(expected), "{cert} {key}: {e}");
            let named = if expected.contains("key") && !expected.contains("match") {
                key
            } else {
                cert
            };
            assert!(
                e.contains(&dir.path().join(named).display().to_string()),
                "{e}"
            );
            assert!(!e.contains("secret-looking") && !e.contains("-----"), "{e}");
        }
    }

    #[test]
    fn https_upstreams_take_a_ca_file_and_a_server_name() {
        let dir = tempfile::tempdir().unwrap();
        write_cert(dir.path(), "ca.pem", "ca-key.pem");
        let https = GOOD.replace("http://127.0.0.1:9", "https://127.0.0.1:9443");
        let c = check_text(dir.path(), &https).unwrap();
        assert_eq!(c.upstream.as_str(), "127.0.0.1:9443");
        let t = c.upstream_tls.unwrap();
        assert_eq!(t.server_name.to_str(), "127.0.0.1");
        assert!(t.client.alpn_protocols.is_empty());

        let text = https.replace(
            "\"https://127.0.0.1:9443\"",
            "\"https://booking.internal\", ca_file: ca.pem, server_name: legacy.test",
        );
        let c = check_text(dir.path(), &text).unwrap();
        assert_eq!(c.upstream.as_str(), "booking.internal:443");
        assert_eq!(c.upstream_tls.unwrap().server_name.to_str(), "legacy.test");

        let e = check_text(dir.path(), &text.replace("ca.pem", "missing-ca.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`upstream.ca_file`") && e.contains("missing-ca.pem"),
            "{e}"
        );
        let e = check_text(dir.path(), &text.replace("legacy.test", "\"not a name\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`upstream.server_name`"), "{e}");
        let e = check_text(dir.path(), &GOOD.replace("\" }", "\", ca_file: ca.pem }"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("need an `https://` URL"), "{e}");
        let c = check_text(dir.path(), GOOD).unwrap();
        assert!(c.upstream_tls.is_none());
    }

    #[test]
    fn identity_files_are_relative_to_the_config_and_a_source_is_required() {
        let text = GOOD.replace(
            "{ trusted_headers: { trusted_cidrs: [127.0.0.1/32] } }",
            "{ api_keys: { file: keys.txt } }",
        );
        let e = check(
            "g.yaml",
            Path::new("/nonexistent-dir"),
            parse("g.yaml", &text).unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/nonexistent-dir/keys.txt"), "{e}");
        let text = GOOD.replace(
            "{ trusted_headers: { trusted_cidrs: [127.0.0.1/32] } }",
            "{}",
        );
        let e = check("g.yaml", Path::new("."), parse("g.yaml", &text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least one"), "{e}");
        let text = GOOD.replace("trusted_cidrs:", "trusted_cidrz:");
        let e = parse("g.yaml", &text).unwrap_err().to_string();
        assert!(e.contains("trusted_cidrz"), "{e}");
    }
}
