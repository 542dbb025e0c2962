//! Keyed pseudonyms: the `hash` operator (HMAC-SHA256, one way) and the `tokenize`
//! operator (AES-256-GCM with a synthetic nonce, reversible with [`detokenize`]).
//!
//! [`Secrets`] holds the keys, which the gateway loads and hands over; this module never
//! reads files or the environment, generates no randomness and logs nothing. Without the
//! needed key both operators write `***` instead of the value (fail closed). Tokens are
//! deterministic: equal values give equal tokens under the same key, so tokenized fields
//! can still be joined and counted. Several token keys can be held at once; the one added
//! last seals new tokens and every one of them opens the tokens it sealed. Errors name the
//! kind of failure (and at most a key id), never a token's or a value's contents.
//!
//! Neighbours: `mod.rs` (the operator definitions and `mask_text`, the caller),
//! `partial.rs` (shape-keeping masks), `generalize.rs` (dates and numbers to ranges).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::{aead, hkdf, hmac};

use super::{Hash, Tokenize};

/// Shortest accepted `hash` key, in bytes (the error messages repeat the number).
const MIN_HASH_KEY_LEN: usize = 16;
/// Length of a `tokenize` master key, in bytes (the error messages repeat the number).
const TOKEN_KEY_LEN: usize = 32;
/// Longest token key id, in bytes (the error messages repeat the number).
const MAX_KEY_ID_LEN: usize = 32;

/// Written instead of a value when the needed key is missing; the default `redact` text.
const FAIL_CLOSED: &str = "***";

const NONCE_LEN: usize = aead::NONCE_LEN;
const TAG_LEN: usize = 16;
const HASH_LEN_MIN: usize = 8;
const HASH_LEN_MAX: usize = 64;

/// HKDF salt and labels: the encryption and nonce keys of one master key must differ, and
/// must differ from anything else a master key might be used for.
const KDF_SALT: &[u8] = b"privgate tokenize v1";
const KDF_ENC_LABEL: &[u8] = b"privgate tokenize v1 aes-256-gcm";
const KDF_MAC_LABEL: &[u8] = b"privgate tokenize v1 synthetic nonce";
/// HKDF salt of the `hash` key's recipient derivation (scope `identity`).
const HASH_SCOPE_SALT: &[u8] = b"privgate hash v1";
/// HKDF info before the recipient id when a recipient's keys are derived (scope
/// `identity`): info = this label ‖ recipient.
const SCOPE_LABEL: &[u8] = b"privgate scope identity";

/// Why a key could not be added or a token could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenKeyError {
    /// A `hash` key was shorter than 16 bytes.
    #[error("hash key is {len} bytes; at least 16 are required")]
    HashKeyTooShort {
        /// Length of the rejected key.
        len: usize,
    },
    /// A token master key was not exactly 32 bytes.
    #[error("token key is {len} bytes; exactly 32 are required")]
    KeyLength {
        /// Length of the rejected key.
        len: usize,
    },
    /// A token key id was empty, too long or held a character outside `[A-Za-z0-9-]`.
    #[error("token key id must be 1 to 32 characters of A-Z, a-z, 0-9 and `-`")]
    KeyId,
    /// A token key with this id was already added.
    #[error("token key id `{id}` is already in use")]
    DuplicateKeyId {
        /// The id added twice.
        id: String,
    },
    /// A token names a key id that is not loaded (or no token key is loaded at all).
    #[error("token names key id `{id}`, which is not loaded")]
    UnknownKeyId {
        /// The id the token names.
        id: String,
    },
    /// The text does not start with the expected token prefix.
    #[error("token does not start with the expected prefix")]
    MissingPrefix,
    /// The token is not `key_id.payload` with a base64url payload of a possible length.
    #[error("token is malformed")]
    Malformed,
    /// The token was altered, or sealed by a different key with the same id.
    #[error("token failed authentication")]
    Authentication,
}

/// The keys of `hash` and `tokenize`.
///
/// `Debug` shows which keys are present and the token key ids, never key bytes.
#[derive(Clone, Default)]
pub struct Secrets {
    hash_key: Option<hmac::Key>,
    /// HKDF-Extract of the hash key, from which recipients' hash keys are expanded.
    hash_scope: Option<hkdf::Prk>,
    /// In the order added; the last one seals new tokens.
    token_keys: Vec<TokenKey>,
}

/// The two keys derived from one token master key.
#[derive(Clone)]
struct TokenKey {
    id: String,
    /// HKDF-Extract of the master key: the encryption, nonce and recipient keys are
    /// expanded from it under distinct labels. `None` in a recipient's key, which
    /// derives no further.
    prk: Option<hkdf::Prk>,
    enc: aead::LessSafeKey,
    mac: hmac::Key,
}

impl TokenKey {
    /// Derives the two working keys of a 32-byte master key.
    fn new(id: &str, key: &[u8]) -> Result<TokenKey, TokenKeyError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, KDF_SALT).extract(key);
        // Expanding 32 bytes from SHA-256 is far below HKDF's limit, so these never fail;
        // should they, the key is refused rather than half-built.
        let enc = prk
            .expand(&[KDF_ENC_LABEL], &aead::AES_256_GCM)
            .map(aead::UnboundKey::from)
            .map_err(|_| TokenKeyError::KeyLength { len: key.len() })?;
        let mac = prk
            .expand(&[KDF_MAC_LABEL], hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .map_err(|_| TokenKeyError::KeyLength { len: key.len() })?;
        Ok(TokenKey {
            id: id.to_owned(),
            prk: Some(prk),
            enc: aead::LessSafeKey::new(enc),
            mac,
        })
    }

    /// The token key of `recipient`: a master key of 32 bytes expanded from this one's
    /// PRK with info `privgate scope identity` ‖ recipient, under the same id.
    fn for_recipient(&self, recipient: &str) -> Option<TokenKey> {
        let mut master = [0u8; TOKEN_KEY_LEN];
        self.prk
            .as_ref()?
            .expand(&[SCOPE_LABEL, recipient.as_bytes()], MasterLen)
            .and_then(|okm| okm.fill(&mut master))
            .ok()?;
        let mut key = TokenKey::new(&self.id, &master).ok()?;
        key.prk = None;
        Some(key)
    }
}

/// The output length of a recipient's token master key.
struct MasterLen;

impl hkdf::KeyType for MasterLen {
    fn len(&self) -> usize {
        TOKEN_KEY_LEN
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.token_keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Secrets")
            .field("hash_key", &self.hash_key.as_ref().map(|_| "<redacted>"))
            .field("token_key_ids", &ids)
            .finish()
    }
}

impl Secrets {
    /// Secrets without any key: `hash` and `tokenize` write `***`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the HMAC-SHA256 key of `hash` (at least 16 bytes), replacing any earlier one.
    ///
    /// A shorter key is refused and leaves no hash key at all (an earlier one is removed),
    /// so [`Secrets::has_hash_key`] is false and `hash` writes `***`: a plan compiler that
    /// checks `has_hash_key` reports the problem before any value is seen. Use
    /// [`Secrets::try_with_hash_key`] to get the reason instead.
    pub fn with_hash_key(mut self, key: &[u8]) -> Self {
        match hash_key(key) {
            Ok((k, prk)) => {
                self.hash_key = Some(k);
                self.hash_scope = Some(prk);
            }
            Err(_) => {
                self.hash_key = None;
                self.hash_scope = None;
            }
        }
        self
    }

    /// Like [`Secrets::with_hash_key`], but returns why a key is refused.
    pub fn try_with_hash_key(mut self, key: &[u8]) -> Result<Self, TokenKeyError> {
        let (k, prk) = hash_key(key)?;
        self.hash_key = Some(k);
        self.hash_scope = Some(prk);
        Ok(self)
    }

    /// The keys of scope `identity` for `recipient` (an account id, e.g. a token's
    /// subject): every key here replaced by one derived from it with HKDF-SHA256,
    /// info = `privgate scope identity` ‖ recipient.
    ///
    /// - hash: PRK = HKDF-Extract(salt `privgate hash v1`, hash key); the recipient's
    ///   HMAC key is HKDF-Expand(PRK, info, 32 bytes);
    /// - tokenize: for each master key, PRK = HKDF-Extract(salt `privgate tokenize v1`,
    ///   master key) (the PRK its own working keys come from, under other labels); the
    ///   recipient's master key is HKDF-Expand(PRK, info, 32 bytes), used under the same
    ///   key id like any master key.
    ///
    /// Equal values give equal pseudonyms for one recipient and unrelated ones across
    /// recipients; a recipient's tokens open only with [`detokenize`] over the secrets
    /// derived for that recipient. Derivation costs a few HMAC computations per key:
    /// derive once per body (the masker does), not per value. The derived secrets
    /// cannot derive further (a recipient of a recipient is not a thing): their own
    /// `for_recipient` gives secrets without keys, which write `***`.
    pub fn for_recipient(&self, recipient: &str) -> Secrets {
        let hash_key = self.hash_scope.as_ref().and_then(|prk| {
            prk.expand(&[SCOPE_LABEL, recipient.as_bytes()], hmac::HMAC_SHA256)
                .ok()
                .map(hmac::Key::from)
        });
        let token_keys = self
            .token_keys
            .iter()
            .filter_map(|k| k.for_recipient(recipient))
            .collect::<Vec<_>>();
        Secrets {
            hash_key,
            hash_scope: None,
            token_keys,
        }
    }

    /// Adds a `tokenize` master key of 32 bytes under `id`
    /// (`[A-Za-z0-9-]{1,32}`). The key added last seals new tokens; all open theirs.
    pub fn with_token_key(mut self, id: &str, key: &[u8]) -> Result<Self, TokenKeyError> {
        if !is_key_id(id) {
            return Err(TokenKeyError::KeyId);
        }
        if key.len() != TOKEN_KEY_LEN {
            return Err(TokenKeyError::KeyLength { len: key.len() });
        }
        if self.token_key(id).is_some() {
            return Err(TokenKeyError::DuplicateKeyId { id: id.to_owned() });
        }
        self.token_keys.push(TokenKey::new(id, key)?);
        Ok(self)
    }

    /// Whether a `hash` key is set.
    pub fn has_hash_key(&self) -> bool {
        self.hash_key.is_some()
    }

    /// Whether at least one `tokenize` key is set.
    pub fn has_token_key(&self) -> bool {
        !self.token_keys.is_empty()
    }

    /// Writes `prefix` and the first `length` (8..=64) lowercase hex digits of
    /// HMAC-SHA256(hash key, value), or `***` without a hash key.
    pub(crate) fn hash(&self, h: &Hash, value: &str, out: &mut String) {
        let Some(key) = &self.hash_key else {
            out.push_str(FAIL_CLOSED);
            return;
        };
        let tag = hmac::sign(key, value.as_bytes());
        out.push_str(&h.prefix);
        let length = h.length.clamp(HASH_LEN_MIN, HASH_LEN_MAX);
        let nibbles = tag.as_ref().iter().flat_map(|b| [b >> 4, b & 0x0f]);
        out.extend(
            nibbles
                .take(length)
                .filter_map(|n| char::from_digit(u32::from(n), 16)),
        );
    }

    /// Writes `prefix`, the active key's id, `.` and the base64url (no padding) of
    /// nonce ‖ ciphertext ‖ tag, or `***` without a token key.
    pub(crate) fn tokenize(&self, t: &Tokenize, value: &str, out: &mut String) {
        let Some(key) = self.token_keys.last() else {
            out.push_str(FAIL_CLOSED);
            return;
        };
        let Some(sealed) = seal(key, value) else {
            out.push_str(FAIL_CLOSED);
            return;
        };
        out.push_str(&t.prefix);
        out.push_str(&key.id);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&sealed, out);
    }

    fn token_key(&self, id: &str) -> Option<&TokenKey> {
        self.token_keys.iter().find(|k| k.id == id)
    }
}

/// Returns the original value of a token written by `tokenize` with `prefix`.
///
/// The token must name a loaded key, authenticate under it (the key id is bound as
/// associated data), and carry the synthetic nonce of its own plaintext.
pub fn detokenize(secrets: &Secrets, prefix: &str, token: &str) -> Result<String, TokenKeyError> {
    let rest = token
        .strip_prefix(prefix)
        .ok_or(TokenKeyError::MissingPrefix)?;
    let (id, payload) = rest.split_once('.').ok_or(TokenKeyError::Malformed)?;
    if !is_key_id(id) {
        return Err(TokenKeyError::Malformed);
    }
    let key = secrets
        .token_key(id)
        .ok_or_else(|| TokenKeyError::UnknownKeyId { id: id.to_owned() })?;
    let mut buf = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenKeyError::Malformed)?;
    let nonce_bytes: [u8; NONCE_LEN] = buf
        .get(..NONCE_LEN)
        .and_then(|n| n.try_into().ok())
        .ok_or(TokenKeyError::Malformed)?;
    if buf.len() < NONCE_LEN + TAG_LEN {
        return Err(TokenKeyError::Malformed);
    }
    let nonce = aead::Nonce::assume_unique_for_key(nonce_bytes);
    let plain = key
        .enc
        .open_within(nonce, aead::Aad::from(id.as_bytes()), &mut buf, NONCE_LEN..)
        .map_err(|_| TokenKeyError::Authentication)?;
    if !same_bytes(&synthetic_nonce(key, plain), &nonce_bytes) {
        return Err(TokenKeyError::Authentication);
    }
    let len = plain.len();
    buf.truncate(len);
    String::from_utf8(buf).map_err(|_| TokenKeyError::Authentication)
}

fn hash_key(key: &[u8]) -> Result<(hmac::Key, hkdf::Prk), TokenKeyError> {
    if key.len() < MIN_HASH_KEY_LEN {
        return Err(TokenKeyError::HashKeyTooShort { len: key.len() });
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HASH_SCOPE_SALT).extract(key);
    Ok((hmac::Key::new(hmac::HMAC_SHA256, key), prk))
}

/// Seals `value` under `key`: nonce ‖ ciphertext ‖ tag.
fn seal(key: &TokenKey, value: &str) -> Option<Vec<u8>> {
    let nonce = synthetic_nonce(key, value.as_bytes());
    let mut buf = Vec::with_capacity(NONCE_LEN + value.len() + TAG_LEN);
    buf.extend_from_slice(&nonce);
    buf.extend_from_slice(value.as_bytes());
    let body = buf.get_mut(NONCE_LEN..)?;
    let tag = key
        .enc
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(key.id.as_bytes()),
            body,
        )
        .ok()?;
    buf.extend_from_slice(tag.as_ref());
    Some(buf)
}

/// The first 12 bytes of HMAC-SHA256(mac key, plaintext): equal values share a nonce, so
/// tokens are deterministic, and distinct values get distinct nonces.
fn synthetic_nonce(key: &TokenKey, plain: &[u8]) -> [u8; NONCE_LEN] {
    let tag = hmac::sign(&key.mac, plain);
    let mut nonce = [0u8; NONCE_LEN];
    for (n, t) in nonce.iter_mut().zip(tag.as_ref()) {
        *n = *t;
    }
    nonce
}

/// Compares without an early exit, so timing says nothing about where bytes differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY_A: [u8; 32] = [7; 32];
    const KEY_B: [u8; 32] = [9; 32];

    fn hashed(secrets: &Secrets, length: usize, value: &str) -> String {
        let mut out = String::new();
        secrets.hash(
            &Hash {
                prefix: "h_".to_owned(),
                length,
                scope: super::super::Scope::Global,
            },
            value,
            &mut out,
        );
        out
    }

    fn token(secrets: &Secrets, value: &str) -> String {
        let mut out = String::new();
        secrets.tokenize(&Tokenize::default(), value, &mut out);
        out
    }

    fn secrets_a() -> Secrets {
        Secrets::new().with_token_key("k2024", &KEY_A).unwrap()
    }

    #[test]
    fn hash_is_stable_keyed_and_clamped() {
        let s = Secrets::new().with_hash_key(b"0123456789abcdef");
        let h = hashed(&s, 16, "13812345678");
        assert_eq!(h, hashed(&s, 16, "13812345678"));
        assert_eq!(h.len(), 2 + 16);
        assert!(h.starts_with("h_"));
        assert!(h[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(h, hashed(&s, 16, "13812345679"));
        let other = Secrets::new().with_hash_key(b"fedcba9876543210");
        assert_ne!(h, hashed(&other, 16, "13812345678"));
        assert_eq!(hashed(&s, 0, "x").len(), 2 + 8);
        assert_eq!(hashed(&s, 1000, "x").len(), 2 + 64);
        assert!(hashed(&s, 64, "x").starts_with(&hashed(&s, 8, "x")));
        assert_eq!(hashed(&s, 16, "").len(), 2 + 16);
        assert_eq!(hashed(&s, 16, "张三").len(), 2 + 16);
    }

    #[test]
    fn hash_is_hmac_sha256_of_the_value() {
        let key = b"Jefe-and-some-more-bytes";
        let s = Secrets::new().with_hash_key(key);
        let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), b"what do ya want");
        let hex: String = expected
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hashed(&s, 64, "what do ya want"), format!("h_{hex}"));
    }

    #[test]
    fn secrets_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Secrets>();
    }

    #[test]
    fn no_key_fails_closed() {
        let s = Secrets::new();
        assert!(!s.has_hash_key());
        assert!(!s.has_token_key());
        assert_eq!(hashed(&s, 16, "secret"), "***");
        assert_eq!(token(&s, "secret"), "***");
        assert_eq!(
            detokenize(&s, "tok_", "tok_k1.AAAA"),
            Err(TokenKeyError::UnknownKeyId {
                id: "k1".to_owned()
            })
        );
    }

    #[test]
    fn key_validation() {
        assert_eq!(
            Secrets::new().try_with_hash_key(b"short").unwrap_err(),
            TokenKeyError::HashKeyTooShort { len: 5 }
        );
        assert!(Secrets::new()
            .try_with_hash_key(&[1; 16])
            .unwrap()
            .has_hash_key());
        // A short key set after a good one leaves no hash key: fail closed, not stale.
        let s = Secrets::new()
            .with_hash_key(&[1; 16])
            .with_hash_key(b"short");
        assert!(!s.has_hash_key());
        assert_eq!(hashed(&s, 16, "secret"), "***");
        assert_eq!(
            Secrets::new().with_token_key("k1", &[0; 16]).unwrap_err(),
            TokenKeyError::KeyLength { len: 16 }
        );
        for bad in ["", "k.1", "k 1", "ключ", &"k".repeat(33)] {
            assert_eq!(
                Secrets::new().with_token_key(bad, &KEY_A).unwrap_err(),
                TokenKeyError::KeyId
            );
        }
        assert!(Secrets::new()
            .with_token_key(&"k".repeat(32), &KEY_A)
            .is_ok());
        assert_eq!(
            secrets_a().with_token_key("k2024", &KEY_B).unwrap_err(),
            TokenKeyError::DuplicateKeyId {
                id: "k2024".to_owned()
            }
        );
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let s = secrets_a().with_hash_key(&[0xAB; 16]);
        let shown = format!("{s:?}");
        assert!(shown.contains("k2024"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("171") && !shown.contains("AB") && !shown.contains("ab,"));
    }

    #[test]
    fn tokenize_round_trips_and_is_deterministic() {
        let s = secrets_a();
        for value in ["13812345678", "", "张三", "a", "x".repeat(1000).as_str()] {
            let t = token(&s, value);
            assert!(t.starts_with("tok_k2024."), "{t}");
            assert_eq!(t, token(&s, value));
            assert_eq!(detokenize(&s, "tok_", &t).unwrap(), value);
        }
        assert_ne!(token(&s, "a"), token(&s, "b"));
        // Not the plaintext in disguise.
        assert!(!token(&s, "13812345678").contains("13812345678"));
    }

    #[test]
    fn rotation_keeps_old_tokens_open() {
        let a = secrets_a();
        let old = token(&a, "13812345678");
        let ab = a.with_token_key("k2025", &KEY_B).unwrap();
        let new = token(&ab, "13812345678");
        assert!(new.starts_with("tok_k2025."), "{new}");
        assert_ne!(old, new);
        assert_eq!(detokenize(&ab, "tok_", &old).unwrap(), "13812345678");
        assert_eq!(detokenize(&ab, "tok_", &new).unwrap(), "13812345678");
        // A token of the new key does not open with the old key alone.
        assert_eq!(
            detokenize(&secrets_a(), "tok_", &new),
            Err(TokenKeyError::UnknownKeyId {
                id: "k2025".to_owned()
            })
        );
    }

    #[test]
    fn tampered_tokens_fail() {
        let s = secrets_a();
        let t = token(&s, "13812345678");
        let payload_start = "tok_k2024.".len();
        for i in payload_start..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            let err = detokenize(&s, "tok_", &tampered).unwrap_err();
            assert!(
                matches!(
                    err,
                    TokenKeyError::Authentication | TokenKeyError::Malformed
                ),
                "{err:?} at {i}"
            );
        }
        // The same key under another id: the id is bound as associated data.
        let renamed = s.clone().with_token_key("other", &KEY_A).unwrap();
        let moved = t.replacen("k2024", "other", 1);
        assert_eq!(
            detokenize(&renamed, "tok_", &moved),
            Err(TokenKeyError::Authentication)
        );
        // Sealed by a different key that reuses the id.
        let impostor = Secrets::new().with_token_key("k2024", &KEY_B).unwrap();
        assert_eq!(
            detokenize(&impostor, "tok_", &t),
            Err(TokenKeyError::Authentication)
        );
    }

    #[test]
    fn synthetic_nonce_is_checked() {
        // A well-formed, authentic ciphertext whose nonce is not the plaintext's own.
        let s = secrets_a();
        let key = s.token_keys.last().unwrap();
        let nonce = [0u8; NONCE_LEN];
        let mut buf = nonce.to_vec();
        buf.extend_from_slice(b"value");
        let tag = key
            .enc
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(b"k2024"),
                &mut buf[NONCE_LEN..],
            )
            .unwrap();
        buf.extend_from_slice(tag.as_ref());
        let forged = format!("tok_k2024.{}", URL_SAFE_NO_PAD.encode(&buf));
        assert_eq!(
            detokenize(&s, "tok_", &forged),
            Err(TokenKeyError::Authentication)
        );
    }

    #[test]
    fn malformed_tokens_fail() {
        let s = secrets_a();
        let t = token(&s, "13812345678");
        assert_eq!(detokenize(&s, "tk_", &t), Err(TokenKeyError::MissingPrefix));
        assert_eq!(
            detokenize(&s, "tok_", "13812345678"),
            Err(TokenKeyError::MissingPrefix)
        );
        assert_eq!(
            detokenize(
                &s,
                "tok_",
                "tok_nope.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            ),
            Err(TokenKeyError::UnknownKeyId {
                id: "nope".to_owned()
            })
        );
        for bad in [
            "tok_",
            "tok_k2024",
            "tok_k2024.",
            "tok_k2024.AAAA",
            "tok_k2024.!!!!",
            "tok_k2024.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "tok_.AAAA",
            "tok_k 2024.AAAA",
        ] {
            assert_eq!(
                detokenize(&s, "tok_", bad),
                Err(TokenKeyError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_carry_no_token_contents() {
        let s = secrets_a();
        let t = token(&s, "13812345678");
        let payload = t.split_once('.').unwrap().1;
        let mut tampered = t.clone();
        tampered.push('A');
        for candidate in [
            tampered.as_str(),
            "tk_x",
            "tok_k2024.%%%",
            "tok_k 2024.secret",
        ] {
            let message = detokenize(&s, "tok_", candidate).unwrap_err().to_string();
            assert!(!message.contains(payload), "{message}");
            assert!(!message.contains("13812345678"), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
    }

    #[test]
    fn recipients_get_their_own_pseudonyms() {
        let s = secrets_a()
            .with_token_key("k2025", &KEY_B)
            .unwrap()
            .with_hash_key(b"0123456789abcdef");
        let alice = s.for_recipient("alice");
        let alice_again = s.for_recipient("alice");
        let bob = s.for_recipient("bob");
        let v = "13812345678";
        // Consistent for one recipient, distinct across recipients and from global.
        assert_eq!(hashed(&alice, 16, v), hashed(&alice_again, 16, v));
        assert_ne!(hashed(&alice, 16, v), hashed(&bob, 16, v));
        assert_ne!(hashed(&alice, 16, v), hashed(&s, 16, v));
        assert_eq!(token(&alice, v), token(&alice_again, v));
        assert_ne!(token(&alice, v), token(&bob, v));
        assert_ne!(token(&alice, v), token(&s, v));
        // The same key ids: the newest master key seals.
        assert!(token(&alice, v).starts_with("tok_k2025."));
        // A recipient's tokens open with that recipient's keys only.
        let t = token(&alice, v);
        assert_eq!(detokenize(&alice_again, "tok_", &t).unwrap(), v);
        assert_eq!(
            detokenize(&bob, "tok_", &t),
            Err(TokenKeyError::Authentication)
        );
        assert_eq!(
            detokenize(&s, "tok_", &t),
            Err(TokenKeyError::Authentication)
        );
        // Rotation: tokens of the older master key open for the recipient too.
        let old = token(&secrets_a().for_recipient("alice"), v);
        assert!(old.starts_with("tok_k2024."));
        assert_eq!(detokenize(&alice, "tok_", &old).unwrap(), v);
        // The recipient id is bound whole: no prefix games.
        assert_ne!(token(&s.for_recipient("al"), v), t);
        assert_ne!(token(&s.for_recipient(""), v), t);
    }

    #[test]
    fn recipient_derivation_is_hkdf_of_the_key() {
        // hash: HMAC under HKDF-Expand(HKDF-Extract("privgate hash v1", key),
        // "privgate scope identity" || recipient).
        let key = b"0123456789abcdef";
        let s = Secrets::new().with_hash_key(key);
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"privgate hash v1").extract(key);
        let derived: hmac::Key = prk
            .expand(&[b"privgate scope identity", b"alice"], hmac::HMAC_SHA256)
            .unwrap()
            .into();
        let expected: String = hmac::sign(&derived, b"v")
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hashed(&s.for_recipient("alice"), 64, "v"),
            format!("h_{expected}")
        );
        // tokenize: the recipient's master key, used like any master key.
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, KDF_SALT).extract(&KEY_A);
        let mut master = [0u8; 32];
        prk.expand(&[b"privgate scope identity", b"alice"], MasterLen)
            .unwrap()
            .fill(&mut master)
            .unwrap();
        let direct = Secrets::new().with_token_key("k2024", &master).unwrap();
        assert_eq!(
            token(&secrets_a().for_recipient("alice"), "v"),
            token(&direct, "v")
        );
    }

    #[test]
    fn derived_secrets_derive_no_further() {
        let s = secrets_a().with_hash_key(b"0123456789abcdef");
        let twice = s.for_recipient("alice").for_recipient("bob");
        assert!(!twice.has_hash_key());
        assert!(!twice.has_token_key());
        assert_eq!(hashed(&twice, 16, "x"), "***");
        assert_eq!(token(&twice, "x"), "***");
        // Without keys, nothing to derive.
        let none = Secrets::new().for_recipient("alice");
        assert!(!none.has_hash_key() && !none.has_token_key());
    }

    proptest! {
        #[test]
        fn detokenize_inverts_tokenize(value in proptest::collection::vec(any::<char>(), 0..64)) {
            let value: String = value.into_iter().collect();
            let s = secrets_a().with_token_key("k-2", &KEY_B).unwrap();
            let t = token(&s, &value);
            prop_assert_eq!(detokenize(&s, "tok_", &t).unwrap(), value);
        }
    }
}
