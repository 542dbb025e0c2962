//! Bearer JWT verification: compact JWS parsing, key choice, signature, then claims.
//!
//! The order is deliberate: the header is parsed only to pick the key, the signature is
//! checked before any claim is read, and only then are `exp`, `nbf`, `iss` and `aud`
//! checked and the identity built (subject, roles, `acr`, `amr`, `auth_time`, `jti`).
//! `alg: none` is refused, and a token's `alg` must equal the one algorithm its key is
//! bound to (see `jwks.rs`); HS256 is verified only with the configured secret, never with
//! a JWKS key. Errors carry no token or claim value (`error.rs`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::AuthError;
use super::jwks::{Alg, Jwk};
use super::{Identity, Source};

/// Tokens longer than this are refused before decoding (a header-size guard).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Verifies bearer tokens against the configured keys and claims.
pub struct JwtVerifier {
    pub(super) keys: Vec<Jwk>,
    pub(super) hs256: Option<hmac::Key>,
    pub(super) issuer: String,
    pub(super) audience: String,
    pub(super) roles_claim: String,
    pub(super) subject_claim: String,
    pub(super) leeway: u64,
    /// Tokens that verified, so a client's next request skips the signature check.
    pub(super) cache: TokenCache,
}

/// How many verified tokens are remembered.
const CACHE_ENTRIES: usize = 4096;

/// Verified tokens by the SHA-256 of their text, with the time bounds to re-check on
/// each use. A signature check (Ed25519, RSA, ECDSA) costs tens of microseconds, more
/// than the rest of a small request; a client sends the same token for minutes. Only
/// tokens that passed every check are stored; `exp` and `nbf` are checked again at each
/// hit against the current time, and revocation is checked per request elsewhere, so a
/// hit decides exactly what a full verification would. Bounded: when full, it is emptied
/// (a refill costs one verification per active token).
#[derive(Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<[u8; 32], Cached>>,
}

struct Cached {
    identity: Identity,
    exp: u64,
    nbf: Option<u64>,
}

impl TokenCache {
    fn key(token: &str) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
        k
    }

    fn get(&self, key: &[u8; 32], now: u64, leeway: u64) -> Option<Identity> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let c = entries.get(key)?;
        let live = now < c.exp.saturating_add(leeway)
            && c.nbf.is_none_or(|nbf| now.saturating_add(leeway) >= nbf);
        live.then(|| c.identity.clone())
    }

    fn put(&self, key: [u8; 32], identity: &Identity, exp: u64, nbf: Option<u64>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Cached {
                identity: identity.clone(),
                exp,
                nbf,
            },
        );
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys)
            .field("hs256", &self.hs256.is_some())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<serde::de::IgnoredAny>,
}

fn decode(part: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::MalformedToken)
}

impl JwtVerifier {
    /// Verifies `token` (the part after `Bearer `) at time `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::MalformedToken);
        }
        let key = TokenCache::key(token);
        if let Some(identity) = self.cache.get(&key, now, self.leeway) {
            return Ok(identity);
        }
        let (identity, nbf) = self.verify_uncached(token, now)?;
        if let Some(exp) = identity.expires_at {
            self.cache.put(key, &identity, exp, nbf);
        }
        Ok(identity)
    }

    /// The full verification: signature, then claims; the identity and its `nbf`.
    fn verify_uncached(&self, token: &str, now: u64) -> Result<(Identity, Option<u64>), AuthError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::MalformedToken);
        };
        let header: Header =
            serde_json::from_slice(&decode(header_b64)?).map_err(|_| AuthError::MalformedToken)?;
        if header.crit.is_some() {
            return Err(AuthError::CriticalHeader);
        }
        if header.alg.eq_ignore_ascii_case("none") {
            return Err(AuthError::AlgNone);
        }
        let alg = Alg::from_name(&header.alg).ok_or(AuthError::AlgNotAllowed)?;
        let signature = decode(signature_b64)?;
        // The signing input is the encoded header and payload as sent.
        let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        let verified = if alg == Alg::Hs256 {
            let key = self.hs256.as_ref().ok_or(AuthError::AlgNotAllowed)?;
            hmac::verify(key, signed, &signature).is_ok()
        } else {
            let key = self.key_for(header.kid.as_deref())?;
            if key.alg != alg {
                return Err(AuthError::AlgMismatch);
            }
            key.verify(signed, &signature)
        };
        if !verified {
            return Err(AuthError::BadSignature);
        }
        let claims: Map<String, Value> =
            serde_json::from_slice(&decode(payload_b64)?).map_err(|_| AuthError::MalformedToken)?;
        self.check(&claims, now)?;
        let nbf = numeric_date(&claims, "nbf")?;
        Ok((self.identity(&claims)?, nbf))
    }

    fn key_for(&self, kid: Option<&str>) -> Result<&Jwk, AuthError> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(AuthError::UnknownKid),
            None => match self.keys.as_slice() {
                [only] => Ok(only),
                [] => Err(AuthError::AlgNotAllowed),
                _ => Err(AuthError::MissingKid),
            },
        }
    }

    fn check(&self, claims: &Map<String, Value>, now: u64) -> Result<(), AuthError> {
        let exp = numeric_date(claims, "exp")?.ok_or(AuthError::MissingExpiry)?;
        if now >= exp.saturating_add(self.leeway) {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = numeric_date(claims, "nbf")? {
            if now.saturating_add(self.leeway) < nbf {
                return Err(AuthError::NotYetValid);
            }
        }
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(AuthError::WrongIssuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds
                .iter()
                .any(|a| a.as_str() == Some(self.audience.as_str())),
            _ => false,
        };
        if !audience_ok {
            return Err(AuthError::WrongAudience);
        }
        Ok(())
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, AuthError> {
        let subject = match claim(claims, &self.subject_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(AuthError::MissingSubject),
        };
        let roles = match claim(claims, &self.roles_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s
                .split([' ', ','])
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            Some(Value::Array(items)) => {
                strings(items).ok_or_else(|| AuthError::InvalidClaim(self.roles_claim.clone()))?
            }
            Some(_) => return Err(AuthError::InvalidClaim(self.roles_claim.clone())),
        };
        let acr = match claims.get("acr") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AuthError::InvalidClaim("acr".to_owned())),
        };
        let amr = match claims.get("amr") {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                strings(items).ok_or_else(|| AuthError::InvalidClaim("amr".to_owned()))?
            }
            Some(_) => return Err(AuthError::InvalidClaim("amr".to_owned())),
        };
        let jti = match claims.get("jti") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AuthError::InvalidClaim("jti".to_owned())),
        };
        Ok(Identity {
            subject,
            roles,
            source: Source::Jwt,
            acr,
            amr,
            auth_time: numeric_date(claims, "auth_time")?,
            jti,
            key_digest: None,
            expires_at: numeric_date(claims, "exp")?,
        })
    }
}

/// A claim by name: the name as it is first (namespaced claims such as
/// `https://example.com/roles` contain dots), else as a dotted path into nested objects.
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut segments = name.split('.');
    let mut value = claims.get(segments.next()?)?;
    for segment in segments {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

fn strings(items: &[Value]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A NumericDate claim (RFC 7519 §2): seconds, possibly fractional; fractions are dropped.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(Some(v)),
            // Finite, non-negative and in range, so `as` only drops the fraction.
            (None, Some(f)) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
                Ok(Some(f as u64))
            }
            _ => Err(AuthError::InvalidClaim(name.to_owned())),
        },
        Some(_) => Err(AuthError::InvalidClaim(name.to_owned())),
    }
}
