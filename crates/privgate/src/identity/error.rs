//! The two error types of identity: [`IdentityError`] when loading the configuration and
//! its files at start, [`AuthError`] when a request's credentials are refused.
//!
//! Neither ever carries key material, a token, an API key or a claim value: a load error
//! names the file, the line or key index and the problem; an auth error is one variant per
//! cause with a stable short [`AuthError::code`] (the problem+json `type` and the metrics
//! label) and a fixed message. `mod.rs` turns an `AuthError` into a `WWW-Authenticate`
//! challenge.

use std::path::PathBuf;

/// A problem with the identity configuration or one of the files it names.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No identity source is configured, so every request would be refused.
    #[error("identity: configure at least one of `jwt`, `trusted_headers` or `api_keys`")]
    NoSource,
    /// A file could not be read.
    #[error("{path}: cannot read: {source}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The JWKS file is not a JSON object with a `keys` array.
    #[error("{path}: not a JWKS document (line {line}, column {column}): {what}", path = .path.display())]
    JwksSyntax {
        /// The file.
        path: PathBuf,
        /// Where the JSON went wrong.
        line: usize,
        /// Where the JSON went wrong.
        column: usize,
        /// The kind of JSON error, never the text around it.
        what: &'static str,
    },
    /// One key of the JWKS is unusable.
    #[error("{path}: key #{index}{kid}: {problem}", path = .path.display(), kid = .kid.as_ref().map(|k| format!(" (kid `{k}`)")).unwrap_or_default())]
    JwksKey {
        /// The file.
        path: PathBuf,
        /// The key's position in `keys`, from 0.
        index: usize,
        /// The key's `kid`, which is public.
        kid: Option<String>,
        /// What is wrong with it.
        problem: String,
    },
    /// `jwt` is configured but has nothing to verify tokens with, or is contradictory.
    #[error("identity.jwt: {0}")]
    Jwt(&'static str),
    /// The HS256 secret is unusable.
    #[error("identity.jwt: HS256 secret from {origin}: {problem}")]
    Secret {
        /// The file path or `environment variable NAME`.
        origin: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A `trusted_headers` setting is invalid.
    #[error("identity.trusted_headers.{field}: {problem}")]
    Trusted {
        /// The setting, such as `trusted_cidrs[2]` or `user_header`.
        field: String,
        /// What is wrong with it (the configured value is not secret and is quoted).
        problem: String,
    },
    /// A line of the API key file is invalid.
    #[error("{path}:{line}: {problem}", path = .path.display())]
    ApiKeyLine {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Why a request's credentials were refused. Every variant answers 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Several `Authorization` or `X-Api-Key` headers, or both an API key and a bearer token.
    #[error("more than one credential was presented")]
    AmbiguousCredentials,
    /// The token is not three base64url parts of JSON, or is too long.
    #[error("the token is malformed")]
    MalformedToken,
    /// The token's header says `alg: none`.
    #[error("unsigned tokens are not accepted")]
    AlgNone,
    /// The token's algorithm is not one the gateway accepts (HS256 without a secret,
    /// RS512, …).
    #[error("the token's algorithm is not accepted")]
    AlgNotAllowed,
    /// The token's algorithm does not match its key's (algorithm confusion).
    #[error("the token's algorithm does not match its key")]
    AlgMismatch,
    /// The token's `kid` names no configured key.
    #[error("the token's key id is unknown")]
    UnknownKid,
    /// The token has no `kid` and several keys are configured.
    #[error("the token has no key id and several keys are configured")]
    MissingKid,
    /// The token's header has `crit` extensions, which the gateway does not implement.
    #[error("the token has critical header extensions")]
    CriticalHeader,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// The token has no `exp`.
    #[error("the token has no expiry")]
    MissingExpiry,
    /// `exp` has passed, beyond the leeway.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is missing or not the configured issuer.
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    /// `aud` is missing or does not contain the configured audience.
    #[error("the token's audience is not accepted")]
    WrongAudience,
    /// The subject claim is missing, empty or not a string.
    #[error("the token has no subject")]
    MissingSubject,
    /// A claim has the wrong type (the claim name comes from the config or the JWT spec).
    #[error("the token's `{0}` claim has the wrong type")]
    InvalidClaim(String),
    /// A bearer token was presented but JWT identity is not configured.
    #[error("bearer tokens are not accepted here")]
    BearerNotAccepted,
    /// An API key was presented but API keys are not configured.
    #[error("API keys are not accepted here")]
    ApiKeyNotAccepted,
    /// The API key is empty, too long or not printable ASCII.
    #[error("the API key is malformed")]
    MalformedApiKey,
    /// The API key is not in the key file (never issued, or revoked by removal).
    #[error("the API key is not recognised")]
    UnknownApiKey,
    /// A trusted identity header from a trusted peer is repeated, empty or not text.
    #[error("the trusted identity header `{0}` is invalid")]
    InvalidTrustedHeader(String),
}

/// Which credential an [`AuthError`] is about, for the challenge scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `ApiKey`.
    ApiKey,
}

impl AuthError {
    /// A stable short code, for the problem+json `type` and the metrics label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AmbiguousCredentials => "ambiguous_credentials",
            Self::MalformedToken => "malformed_token",
            Self::AlgNone => "alg_none",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::AlgMismatch => "alg_mismatch",
            Self::UnknownKid => "unknown_kid",
            Self::MissingKid => "missing_kid",
            Self::CriticalHeader => "critical_header",
            Self::BadSignature => "bad_signature",
            Self::MissingExpiry => "missing_exp",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::MissingSubject => "missing_subject",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::BearerNotAccepted => "bearer_not_accepted",
            Self::ApiKeyNotAccepted => "api_key_not_accepted",
            Self::MalformedApiKey => "malformed_api_key",
            Self::UnknownApiKey => "unknown_api_key",
            Self::InvalidTrustedHeader(_) => "invalid_trusted_header",
        }
    }

    /// The scheme the client should retry with.
    pub fn scheme(&self) -> Scheme {
        match self {
            Self::ApiKeyNotAccepted | Self::MalformedApiKey | Self::UnknownApiKey => Scheme::ApiKey,
            _ => Scheme::Bearer,
        }
    }

    /// The RFC 6750 `error` code: `invalid_request` when the request itself is malformed,
    /// `invalid_token` when the credential is refused.
    pub fn challenge_error(&self) -> &'static str {
        match self {
            Self::AmbiguousCredentials
            | Self::BearerNotAccepted
            | Self::ApiKeyNotAccepted
            | Self::InvalidTrustedHeader(_) => "invalid_request",
            Self::MalformedApiKey | Self::UnknownApiKey => "invalid_key",
            _ => "invalid_token",
        }
    }
}
