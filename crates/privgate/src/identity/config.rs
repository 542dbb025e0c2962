//! The identity section of the gateway config: which sources are on and where their keys live.
//!
//! Plain serde types with `deny_unknown_fields`, so the gateway config loader (the proxy's
//! `config` module) embeds [`IdentityConfig`] as it is and reports unknown keys with their
//! location. Secrets are never inline: the JWKS, the HS256 secret and the API key list are
//! named by file path (or, for the HS256 secret, by the name of an environment variable).
//! Loading and checking the files is `Identifier::from_config` in `mod.rs`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Identity sources; any combination may be on at once. Checked per request in the order
/// API key, bearer JWT, trusted headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Bearer JWTs verified against a JWKS file (and an HS256 secret when given).
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Identity headers set by an authenticating proxy in front, trusted from given CIDRs.
    #[serde(default)]
    pub trusted_headers: Option<TrustedConfig>,
    /// API keys for service accounts, stored hashed in a file.
    #[serde(default)]
    pub api_keys: Option<ApiKeyConfig>,
}

/// Bearer JWT verification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// A JWKS document (`{"keys": [...]}`) with RSA, EC P-256 or Ed25519 public keys.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The audience every token's `aud` (a string or an array) must contain.
    pub audience: String,
    /// The claim holding the roles: a name (`roles`, `https://example.com/roles`) or a
    /// dotted path into nested objects (`realm_access.roles`). An array of strings, or a
    /// string of space or comma separated roles.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// The claim holding the subject, a non-empty string.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (at most 600).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// A file holding the HS256 secret (at least 32 bytes; a trailing newline is ignored).
    /// HS256 tokens are refused unless a secret is configured.
    #[serde(default)]
    pub hs256_secret_file: Option<PathBuf>,
    /// The name of an environment variable holding the HS256 secret, instead of a file.
    #[serde(default)]
    pub hs256_secret_env: Option<String>,
}

/// Identity headers from an authenticating proxy in front of the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedConfig {
    /// The header naming the user.
    #[serde(default = "default_user_header")]
    pub user_header: String,
    /// The header listing the user's groups, taken as roles.
    #[serde(default = "default_groups_header")]
    pub groups_header: String,
    /// What separates the groups in `groups_header`.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// The peers whose identity headers are believed, as CIDRs (`10.0.0.0/8`,
    /// `fd00::/8`) or single addresses. From any other peer the headers are ignored.
    pub trusted_cidrs: Vec<String>,
}

/// API keys for service accounts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// One key a line: `<sha256 hex of the key>  <subject>  [role1,role2]`; `#` comments
    /// and blank lines are skipped. Keys are never stored in clear.
    pub file: PathBuf,
}

fn default_roles_claim() -> String {
    "roles".to_owned()
}

fn default_subject_claim() -> String {
    "sub".to_owned()
}

fn default_leeway() -> u64 {
    60
}

fn default_user_header() -> String {
    "X-Forwarded-User".to_owned()
}

fn default_groups_header() -> String {
    "X-Forwarded-Groups".to_owned()
}

fn default_separator() -> String {
    ",".to_owned()
}

impl IdentityConfig {
    /// Makes every relative file path relative to `base` (the config file's directory),
    /// so the gateway does not depend on the directory it was started from.
    pub fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(jwt) = &mut self.jwt {
            for p in [&mut jwt.jwks_file, &mut jwt.hs256_secret_file]
                .into_iter()
                .flatten()
            {
                resolve(p);
            }
        }
        if let Some(keys) = &mut self.api_keys {
            resolve(&mut keys.file);
        }
    }
}
