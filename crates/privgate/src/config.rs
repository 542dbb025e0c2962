//! The gateway's configuration file (`privgate run --config gateway.yaml`): its YAML shape,
//! parsing with located errors, and the check that turns it into a [`Config`].
//!
//! Two stages, as for policies: the parse stage reads the file into the `Raw*` types with
//! `deny_unknown_fields` (an error names `file:line:col`, the key path and what was
//! expected); the check stage validates addresses, the upstream URL, durations, header
//! names and key files, and builds the [`Identifier`] from the `identity:` section (the
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
//! listen: 127.0.0.1:8080
//! upstream: { url: "http://127.0.0.1:8081", connect_timeout: 5s, read_timeout: 30s }
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
//! `admin:` turns on the admin listener (`admin/`: metrics, health, readiness, reload);
//! its `listen` defaults to `127.0.0.1:9901` and its bearer token is read from
//! `token_file` (surrounding whitespace trimmed). Without `admin:` there is no admin
//! listener, and SIGHUP is the only way to reload the policy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hyper::header::HeaderName;
use hyper::http::uri::{Authority, Uri};
use marked_yaml::{FromYamlError, LoaderOptions};
use privgate_mask::Secrets;
use serde::Deserialize;

use crate::identity::{Identifier, IdentityConfig};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The address to listen on (`127.0.0.1:8080`; port 0 picks a free port).
    pub listen: String,
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

/// `upstream:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// `http://host:port` (https is later work).
    pub url: String,
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
    /// The listen address.
    pub listen: SocketAddr,
    /// The upstream's authority (`host:port`).
    pub upstream: Authority,
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
    let base = path.parent().unwrap_or(Path::new("."));
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

    let listen = raw.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
        problem(
            "listen",
            "expected an address with a port, e.g. `127.0.0.1:8080`".into(),
        );
        SocketAddr::from(([127, 0, 0, 1], 0))
    });
    let upstream = match upstream_authority(&raw.upstream.url) {
        Ok(a) => Some(a),
        Err(msg) => {
            problem("upstream.url", msg);
            None
        }
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
    if !problems.is_empty() {
        bail!("the config is not valid:\n  {}", problems.join("\n  "));
    }
    let (Some(upstream), Some(identifier)) = (upstream, identifier) else {
        bail!("{name}: `upstream.url` or `identity` is not valid");
    };
    Ok(Config {
        listen,
        upstream,
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
    })
}

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

/// `http://host:port` (port 80 when absent) with no path, query or user info.
fn upstream_authority(url: &str) -> Result<Authority, String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| "expected a URL like `http://127.0.0.1:8081`".to_owned())?;
    if uri.scheme_str() != Some("http") {
        return Err("expected an `http://` URL (https upstreams are not supported yet)".into());
    }
    let authority = uri
        .authority()
        .ok_or_else(|| "expected a host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("expected no user info in the URL".into());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("expected no path or query: requests keep their own path".into());
    }
    if authority.port().is_some() {
        Ok(authority.clone())
    } else {
        format!("{}:80", authority.host())
            .parse()
            .map_err(|_| "expected a host".to_owned())
    }
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
            .replace("http://127.0.0.1:9", "https://x")
            .replace("127.0.0.1/32", "300.1.1.1/8");
        let e = check("g.yaml", Path::new("."), parse("g.yaml", &text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`listen`"), "{e}");
        assert!(e.contains("`upstream.url`"), "{e}");
        assert!(e.contains("trusted_cidrs[0]"), "{e}");
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
