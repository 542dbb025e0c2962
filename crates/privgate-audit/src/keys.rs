//! The key ring: the HMAC keys of the chain, by id.
//!
//! Keys are read from files holding hex (at least 32 bytes of key, surrounding whitespace
//! ignored). The last key of the ring writes; every key verifies, so a rotated-out key
//! stays in the ring as long as files it signed are kept. Errors name the key id and the
//! file, never the file's contents. Neighbours: `config.rs` (where the entries come
//! from), `chain.rs` (what the keys sign).

use std::fmt;
use std::path::{Path, PathBuf};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::chain::hex;
use crate::config::KeySpec;
use crate::error::AuditError;

/// Minimum key length in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The chain's keys by id; the last one writes.
pub struct KeyRing {
    keys: Vec<(String, hmac::Key)>,
    writer: (String, hmac::Key),
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// Loads the keys of the config's `keys` list, in order (the last one writes).
    pub fn load(specs: &[KeySpec]) -> Result<KeyRing, AuditError> {
        let mut keys = Vec::with_capacity(specs.len());
        for spec in specs {
            keys.push((spec.id.clone(), read_key_file(&spec.id, &spec.file)?));
        }
        KeyRing::from_keys(keys)
    }

    /// Loads keys given as `id=file` entries (the form of a command line's `--key`).
    pub fn load_entries<S: AsRef<str>>(entries: &[S]) -> Result<KeyRing, AuditError> {
        let mut specs = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref();
            let (id, file) = entry
                .split_once('=')
                .filter(|(id, file)| !id.is_empty() && !file.is_empty())
                .ok_or_else(|| AuditError::KeyEntry {
                    entry: entry.to_owned(),
                })?;
            specs.push(KeySpec {
                id: id.to_owned(),
                file: PathBuf::from(file),
            });
        }
        KeyRing::load(&specs)
    }

    /// A ring from key bytes, in order (the last one writes).
    pub fn from_keys<I, S, K>(keys: I) -> Result<KeyRing, AuditError>
    where
        I: IntoIterator<Item = (S, K)>,
        S: Into<String>,
        K: AsRef<[u8]>,
    {
        let mut ring: Vec<(String, hmac::Key)> = Vec::new();
        for (id, bytes) in keys {
            let id = id.into();
            check_id(&id)?;
            if ring.iter().any(|(known, _)| *known == id) {
                return Err(AuditError::DuplicateKey { id });
            }
            if bytes.as_ref().len() < MIN_KEY_BYTES {
                return Err(AuditError::KeyTooShort { id });
            }
            ring.push((id, hmac::Key::new(hmac::HMAC_SHA256, bytes.as_ref())));
        }
        let writer = ring.last().cloned().ok_or(AuditError::NoKeys)?;
        Ok(KeyRing { keys: ring, writer })
    }

    /// The ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    /// The id of the key that writes.
    pub fn writing_id(&self) -> &str {
        self.writing().0
    }

    pub(crate) fn writing(&self) -> (&str, &hmac::Key) {
        (&self.writer.0, &self.writer.1)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&hmac::Key> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }
}

/// Key ids are short names: ASCII letters, digits, `-`, `_`, `.`; 1 to 64 of them.
pub(crate) fn check_id(id: &str) -> Result<(), AuditError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AuditError::KeyId { id: id.to_owned() })
    }
}

/// Reads and decodes one key file.
pub(crate) fn read_key_file(id: &str, path: &Path) -> Result<Vec<u8>, AuditError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuditError::KeyFile {
        id: id.to_owned(),
        path: path.to_owned(),
        reason: format!("cannot be read: {}", source.kind()),
    })?;
    let bad = |reason: &str| AuditError::KeyFile {
        id: id.to_owned(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let text = text.trim();
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("is not hex (expected one line of hex digits)"));
    }
    let bytes: Vec<u8> = text
        .as_bytes()
        .chunks_exact(2)
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect();
    if bytes.len() < MIN_KEY_BYTES {
        return Err(bad("holds fewer than 32 bytes of key (64 hex digits)"));
    }
    Ok(bytes)
}

/// A new random 32-byte key as hex with a final newline: the content of a key file
/// (what a `privgate audit keygen` writes).
pub fn generate_key() -> Result<String, AuditError> {
    let mut bytes = [0u8; MIN_KEY_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuditError::Random)?;
    let mut s = hex(&bytes);
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_key_writes_and_all_verify() {
        let ring = KeyRing::from_keys([("k1", [1u8; 32]), ("k2", [2u8; 32])]).unwrap();
        assert_eq!(ring.writing_id(), "k2");
        assert!(ring.get("k1").is_some());
        assert!(ring.get("k3").is_none());
    }

    #[test]
    fn refuses_bad_rings() {
        assert!(matches!(
            KeyRing::from_keys(Vec::<(String, Vec<u8>)>::new()),
            Err(AuditError::NoKeys)
        ));
        assert!(matches!(
            KeyRing::from_keys([("k1", [1u8; 32]), ("k1", [2u8; 32])]),
            Err(AuditError::DuplicateKey { .. })
        ));
        assert!(matches!(
            KeyRing::from_keys([("k 1", [1u8; 32])]),
            Err(AuditError::KeyId { .. })
        ));
        assert!(matches!(
            KeyRing::from_keys([("k1", [1u8; 8])]),
            Err(AuditError::KeyTooShort { .. })
        ));
    }

    #[test]
    fn key_file_errors_do_not_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        std::fs::write(&path, "not-a-secret-but-not-hex\n").unwrap();
        let err = read_key_file("k1", &path).unwrap_err().to_string();
        assert!(err.contains("k1"), "{err}");
        assert!(!err.contains("not-a-secret"), "{err}");
        std::fs::write(&path, generate_key().unwrap()).unwrap();
        assert_eq!(read_key_file("k1", &path).unwrap().len(), 32);
        let ring = KeyRing::load_entries(&[format!("k1={}", path.display())]).unwrap();
        assert_eq!(ring.writing_id(), "k1");
    }
}
