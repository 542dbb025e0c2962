//! Identity: who is calling, from a bearer JWT, trusted headers or an API key.
//!
//! Pure and synchronous: [`Identifier::from_config`] loads and checks the key files once
//! (at start and on reload), and the proxy calls [`Identifier::identify`] per request
//! with the headers, the peer address and the time; no I/O happens per request. A request
//! with no credential is `Ok(None)`; a credential that is present but refused is an
//! [`AuthError`], which [`Identifier::challenge`] turns into a `WWW-Authenticate` value.
//! Neighbours: `config.rs` (the config section), `jwt.rs` and `jwks.rs` (tokens and keys),
//! `trusted.rs` (headers from an auth proxy), `apikey.rs` (hashed service keys),
//! `error.rs`. Route decisions and step-up live with the proxy, not here.

mod apikey;
mod config;
mod error;
mod jwks;
mod jwt;
mod trusted;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, AUTHORIZATION};
use ring::hmac;

#[cfg(test)]
use config::{ApiKeyConfig, TrustedConfig};
pub use config::{IdentityConfig, JwtConfig};
pub use error::{AuthError, IdentityError, Scheme};

use apikey::ApiKeys;
use jwt::JwtVerifier;
use trusted::TrustedHeaders;

/// The header a service account may send its API key in, instead of `Authorization`.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// The realm in every challenge.
const REALM: &str = "privgate";

/// Longest leeway accepted on `exp`/`nbf`: more is a misconfiguration, not clock skew.
const MAX_LEEWAY: u64 = 600;

/// Where an identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A verified bearer JWT.
    Jwt,
    /// Headers from a trusted authenticating proxy.
    TrustedHeaders,
    /// A service account's API key.
    ApiKey,
}

/// A verified caller. `subject` is personal data: log a keyed hash of it, never the value
/// (`Debug` prints it redacted, so `?identity` in a log line leaks nothing).
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user or service account.
    pub subject: String,
    /// Roles, as the policy names them.
    pub roles: Vec<String>,
    /// The source that vouched for it.
    pub source: Source,
    /// Authentication context class (JWT `acr`), for step-up.
    pub acr: Option<String>,
    /// Authentication methods (JWT `amr`), for step-up.
    pub amr: Vec<String>,
    /// When the user authenticated (JWT `auth_time`, Unix seconds), for step-up `max_age`.
    pub auth_time: Option<u64>,
    /// The token id (JWT `jti`), for revocation.
    pub jti: Option<String>,
    /// The SHA-256 hex of the API key presented (as in the key file), for revocation.
    pub key_digest: Option<String>,
    /// When the credential expires (JWT `exp`, Unix seconds).
    pub expires_at: Option<u64>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &"<redacted>")
            .field("roles", &self.roles)
            .field("source", &self.source)
            .field("acr", &self.acr)
            .field("amr", &self.amr)
            .field("auth_time", &self.auth_time)
            .field("jti", &self.jti.as_ref().map(|_| "<redacted>"))
            .field(
                "key_digest",
                &self.key_digest.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The configured identity sources, with their keys loaded.
#[derive(Debug)]
pub struct Identifier {
    jwt: Option<JwtVerifier>,
    trusted: Option<TrustedHeaders>,
    api_keys: Option<ApiKeys>,
}

impl Identifier {
    /// Loads the JWKS, the HS256 secret and the API key file the configuration names, and
    /// checks every setting. Errors name the file or setting and the problem.
    pub fn from_config(config: &IdentityConfig) -> Result<Self, IdentityError> {
        if config.jwt.is_none() && config.trusted_headers.is_none() && config.api_keys.is_none() {
            return Err(IdentityError::NoSource);
        }
        let jwt = config.jwt.as_ref().map(load_jwt).transpose()?;
        let trusted = config
            .trusted_headers
            .as_ref()
            .map(TrustedHeaders::from_config)
            .transpose()?;
        let api_keys = config
            .api_keys
            .as_ref()
            .map(|c| ApiKeys::load(&c.file))
            .transpose()?;
        Ok(Self {
            jwt,
            trusted,
            api_keys,
        })
    }

    /// Who is calling: an API key (`Authorization: ApiKey …` or `X-Api-Key`) first, then a
    /// bearer JWT, then trusted headers when `peer` is inside a trusted CIDR. `Ok(None)`
    /// when no credential is present; an error when one is present and refused (a refused
    /// credential never falls through to a weaker source). `now` is Unix seconds.
    pub fn identify(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
        now: u64,
    ) -> Result<Option<Identity>, AuthError> {
        let authorization = single(headers, &AUTHORIZATION)?;
        let x_api_key = single(headers, &API_KEY_HEADER)?;
        let (scheme, credential) = match authorization {
            Some(value) => {
                let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
                (Some(scheme), rest.trim())
            }
            None => (None, ""),
        };
        let is = |name: &str| scheme.is_some_and(|s| s.eq_ignore_ascii_case(name));
        let api_key = match (is("ApiKey"), x_api_key) {
            (true, Some(_)) => return Err(AuthError::AmbiguousCredentials),
            (true, None) => Some(credential),
            (false, key) => key,
        };
        if let Some(key) = api_key {
            if is("Bearer") {
                return Err(AuthError::AmbiguousCredentials);
            }
            let keys = self.api_keys.as_ref().ok_or(AuthError::ApiKeyNotAccepted)?;
            return keys.identify(key).map(Some);
        }
        if is("Bearer") {
            let jwt = self.jwt.as_ref().ok_or(AuthError::BearerNotAccepted)?;
            return jwt.verify(credential, now).map(Some);
        }
        // Other schemes (Basic, …) are not ours: they identify no one here.
        match &self.trusted {
            Some(trusted) => trusted.identify(headers, peer),
            None => Ok(None),
        }
    }

    /// The trusted identity headers, which the proxy strips from every request before
    /// forwarding (and which [`Identifier::identify`] ignores from untrusted peers).
    pub fn trusted_header_names(&self) -> Vec<HeaderName> {
        self.trusted
            .iter()
            .flat_map(|t| [t.user.clone(), t.groups.clone()])
            .collect()
    }

    /// The `WWW-Authenticate` value for a refused credential: RFC 6750's
    /// `Bearer realm="privgate", error="invalid_token", error_description="…"`, or the same
    /// shape with the `ApiKey` scheme for key failures. The description is the error's
    /// fixed message, which holds no request data.
    pub fn challenge(&self, err: &AuthError) -> String {
        let scheme = match err.scheme() {
            Scheme::Bearer => "Bearer",
            Scheme::ApiKey => "ApiKey",
        };
        format!(
            "{scheme} realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
            err.challenge_error(),
            quoted(&err.to_string())
        )
    }

    /// The `WWW-Authenticate` value when no credential was presented: one challenge per
    /// scheme a client can use (RFC 6750 §3: no `error` then).
    pub fn challenge_missing(&self) -> String {
        let mut challenges = Vec::new();
        if self.jwt.is_some() || self.api_keys.is_none() {
            challenges.push(format!("Bearer realm=\"{REALM}\""));
        }
        if self.api_keys.is_some() {
            challenges.push(format!("ApiKey realm=\"{REALM}\""));
        }
        challenges.join(", ")
    }
}

/// The body of a quoted-string: `"` and `\` escaped (RFC 9110 §5.6.4).
fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The one value of a credential header; several, or a non-text value, are refused.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::AmbiguousCredentials);
    }
    value
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| AuthError::AmbiguousCredentials)
}

fn load_jwt(config: &JwtConfig) -> Result<JwtVerifier, IdentityError> {
    if config.leeway_seconds > MAX_LEEWAY {
        return Err(IdentityError::Jwt(
            "leeway_seconds is at most 600; larger is not clock skew",
        ));
    }
    if config.issuer.is_empty() || config.audience.is_empty() {
        return Err(IdentityError::Jwt("issuer and audience must not be empty"));
    }
    if config.roles_claim.is_empty() || config.subject_claim.is_empty() {
        return Err(IdentityError::Jwt(
            "roles_claim and subject_claim must not be empty",
        ));
    }
    let keys = match &config.jwks_file {
        Some(path) => jwks::load(path)?,
        None => Vec::new(),
    };
    let hs256 = load_secret(config)?.map(|s| hmac::Key::new(hmac::HMAC_SHA256, &s));
    if keys.is_empty() && hs256.is_none() {
        return Err(IdentityError::Jwt(
            "set jwks_file, or an HS256 secret (hs256_secret_file or hs256_secret_env)",
        ));
    }
    Ok(JwtVerifier {
        keys,
        hs256,
        issuer: config.issuer.clone(),
        audience: config.audience.clone(),
        roles_claim: config.roles_claim.clone(),
        subject_claim: config.subject_claim.clone(),
        leeway: config.leeway_seconds,
        cache: jwt::TokenCache::default(),
    })
}

/// The HS256 secret from its file or environment variable; a trailing newline is dropped.
fn load_secret(config: &JwtConfig) -> Result<Option<Vec<u8>>, IdentityError> {
    let (origin, mut secret) = match (&config.hs256_secret_file, &config.hs256_secret_env) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(IdentityError::Jwt(
                "set hs256_secret_file or hs256_secret_env, not both",
            ))
        }
        (Some(path), None) => (
            path.display().to_string(),
            std::fs::read(path).map_err(|source| IdentityError::Read {
                path: path.clone(),
                source,
            })?,
        ),
        (None, Some(name)) => {
            let origin = format!("environment variable {name}");
            let value = std::env::var_os(name).ok_or_else(|| IdentityError::Secret {
                origin: origin.clone(),
                problem: "is not set",
            })?;
            (origin, value.into_encoded_bytes())
        }
    };
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    if secret.len() < 32 {
        return Err(IdentityError::Secret {
            origin,
            problem: "is shorter than 32 bytes (RFC 7518 §3.2 asks for at least 256 bits)",
        });
    }
    Ok(Some(secret))
}
