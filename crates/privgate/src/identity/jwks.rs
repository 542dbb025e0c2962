//! Public signing keys from a JWKS file, and signature verification with `ring`.
//!
//! Reads RSA (`n`, `e`, at least 2048 bits), EC P-256 (`x`, `y`) and OKP Ed25519 (`x`)
//! keys with their `kid`, `alg` and `use`; keys marked `use: enc` are skipped. Each key is
//! bound to exactly one algorithm (its `alg`, or the one its type implies), which is what
//! defeats algorithm confusion: a token is only ever verified with the algorithm its key
//! was published for. Private parts (`d`) and symmetric keys are refused, so a JWKS file
//! never holds a secret. Token parsing and claims are `jwt.rs`.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

use super::error::IdentityError;

/// The JWS algorithms the gateway verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
    /// HMAC with SHA-256, only with a configured secret.
    Hs256,
}

impl Alg {
    /// The algorithm named by a JWS `alg`, if the gateway implements it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            "HS256" => Some(Self::Hs256),
            _ => None,
        }
    }
}

/// A public key as the verifier needs it.
#[derive(Clone, PartialEq, Eq)]
enum PublicKey {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed point `04 || x || y`.
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
}

/// One verification key: its id, the one algorithm it verifies, and the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Jwk {
    /// The `kid`, if published.
    pub kid: Option<String>,
    /// The only algorithm this key verifies.
    pub alg: Alg,
    key: PublicKey,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// Whether `signature` over `message` verifies with this key and its algorithm.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.key {
            PublicKey::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            PublicKey::P256(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            PublicKey::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

/// A JWK as published; unknown members (`x5c`, `key_ops`, …) are ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<serde::de::IgnoredAny>,
}

/// Reads and checks the JWKS file at `path`.
pub fn load(path: &Path) -> Result<Vec<Jwk>, IdentityError> {
    let bytes = std::fs::read(path).map_err(|source| IdentityError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&bytes, path)
}

/// Parses a JWKS document; `path` only names it in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Jwk>, IdentityError> {
    let raw: RawJwks = serde_json::from_slice(bytes).map_err(|e| IdentityError::JwksSyntax {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        what: match e.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => {
                "expected an object with a `keys` array of objects"
            }
            serde_json::error::Category::Eof => "unexpected end of file",
        },
    })?;
    let mut keys: Vec<Jwk> = Vec::new();
    for (index, raw) in raw.keys.into_iter().enumerate() {
        let fail = |problem: String| IdentityError::JwksKey {
            path: path.to_owned(),
            index,
            kid: raw.kid.clone(),
            problem,
        };
        if raw.use_.as_deref() == Some("enc") {
            continue;
        }
        if let Some(u) = &raw.use_ {
            if u != "sig" {
                return Err(fail(format!("`use` must be `sig` or `enc`, not `{u}`")));
            }
        }
        let jwk = convert(&raw).map_err(fail)?;
        if let Some(kid) = &jwk.kid {
            if keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                return Err(fail("another key has the same `kid`".to_owned()));
            }
        }
        keys.push(jwk);
    }
    if keys.is_empty() {
        return Err(IdentityError::JwksKey {
            path: path.to_owned(),
            index: 0,
            kid: None,
            problem: "the file holds no signing keys".to_owned(),
        });
    }
    if keys.len() > 1 && keys.iter().any(|k| k.kid.is_none()) {
        return Err(IdentityError::JwksKey {
            path: path.to_owned(),
            index: keys.iter().position(|k| k.kid.is_none()).unwrap_or(0),
            kid: None,
            problem: "a `kid` is needed on every key when there are several".to_owned(),
        });
    }
    Ok(keys)
}

fn member(value: &Option<String>, name: &str) -> Result<Vec<u8>, String> {
    let text = value
        .as_deref()
        .ok_or_else(|| format!("`{name}` is missing"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("`{name}` is not unpadded base64url"))
}

fn convert(raw: &RawJwk) -> Result<Jwk, String> {
    if raw.d.is_some() {
        return Err("holds a private key (`d`); publish only the public key".to_owned());
    }
    let (implied, key) = match raw.kty.as_str() {
        "RSA" => {
            let mut n = member(&raw.n, "n")?;
            let lead = n.iter().take_while(|b| **b == 0).count();
            n.drain(..lead);
            if n.len() < 256 {
                return Err(format!(
                    "the RSA modulus has {} bits; at least 2048 are needed",
                    n.len() * 8
                ));
            }
            let e = member(&raw.e, "e")?;
            (Alg::Rs256, PublicKey::Rsa { n, e })
        }
        "EC" => {
            if raw.crv.as_deref() != Some("P-256") {
                return Err("only the EC curve `P-256` is supported".to_owned());
            }
            let x = member(&raw.x, "x")?;
            let y = member(&raw.y, "y")?;
            if x.len() != 32 || y.len() != 32 {
                return Err("`x` and `y` must be 32 bytes each".to_owned());
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (Alg::Es256, PublicKey::P256(point))
        }
        "OKP" => {
            if raw.crv.as_deref() != Some("Ed25519") {
                return Err("only the OKP curve `Ed25519` is supported".to_owned());
            }
            let x = member(&raw.x, "x")?;
            if x.len() != 32 {
                return Err("`x` must be 32 bytes".to_owned());
            }
            (Alg::EdDsa, PublicKey::Ed25519(x))
        }
        "oct" => {
            return Err(
                "symmetric keys do not belong in a JWKS file; use `hs256_secret_file`".to_owned(),
            )
        }
        other => return Err(format!("unsupported key type `{other}`")),
    };
    let alg = match raw.alg.as_deref() {
        None => implied,
        Some(name) => match Alg::from_name(name) {
            Some(alg) if alg == implied => alg,
            _ => {
                return Err(format!(
                    "`alg` `{name}` is not supported for a `{}` key (expected `{}`)",
                    raw.kty,
                    match implied {
                        Alg::Rs256 => "RS256",
                        Alg::Es256 => "ES256",
                        Alg::EdDsa | Alg::Hs256 => "EdDSA",
                    }
                ))
            }
        },
    };
    Ok(Jwk {
        kid: raw.kid.clone(),
        alg,
        key,
    })
}
