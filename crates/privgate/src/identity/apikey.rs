//! API keys for service accounts, kept as SHA-256 digests in a file.
//!
//! The file has one key a line: `<sha256 hex of the key>  <subject>  [role1,role2]`, with
//! `#` comments and blank lines. The gateway never sees a key in clear except in the
//! request: it hashes the presented key and looks the digest up. The file is read at
//! start: removing a line takes effect at the next restart; to cut a key off at once,
//! revoke its digest (`POST /admin/revocations`). Generate a line with
//! `printf %s "$KEY" | sha256sum`. Errors name the file and line, never the content.

use std::collections::HashMap;
use std::path::Path;

use ring::digest::{digest, SHA256};

use super::error::{AuthError, IdentityError};
use super::{Identity, Source};

/// Presented keys longer than this are refused before hashing.
const MAX_KEY_LEN: usize = 512;

/// The account a key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    subject: String,
    roles: Vec<String>,
}

/// The loaded key file: digest to account.
#[derive(Debug, Default)]
pub struct ApiKeys {
    by_digest: HashMap<[u8; 32], Account>,
}

impl ApiKeys {
    /// Reads the key file at `path`.
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let text = std::fs::read_to_string(path).map_err(|source| IdentityError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses key file text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, IdentityError> {
        let mut by_digest = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let fail = |problem| IdentityError::ApiKeyLine {
                path: path.to_owned(),
                line: i + 1,
                problem,
            };
            let line = line.split_once('#').map_or(line, |(before, _)| before);
            let mut fields = line.split_whitespace();
            let Some(hex) = fields.next() else {
                continue;
            };
            let digest = parse_digest(hex)
                .ok_or_else(|| fail("the first field must be 64 hex digits (a SHA-256 digest)"))?;
            let subject = fields
                .next()
                .ok_or_else(|| fail("a subject must follow the digest"))?
                .to_owned();
            let roles = fields
                .next()
                .map(|r| {
                    r.split(',')
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if fields.next().is_some() {
                return Err(fail(
                    "expected `digest subject [roles]`; roles are separated by commas, no spaces",
                ));
            }
            if by_digest
                .insert(digest, Account { subject, roles })
                .is_some()
            {
                return Err(fail("the same digest appears on an earlier line"));
            }
        }
        Ok(Self { by_digest })
    }

    /// The identity of the account `key` belongs to.
    pub fn identify(&self, key: &str) -> Result<Identity, AuthError> {
        let key = key.trim();
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AuthError::MalformedApiKey);
        }
        let mut wanted = [0u8; 32];
        wanted.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
        let account = self
            .by_digest
            .get(&wanted)
            .ok_or(AuthError::UnknownApiKey)?;
        Ok(Identity {
            subject: account.subject.clone(),
            roles: account.roles.clone(),
            source: Source::ApiKey,
            acr: None,
            amr: Vec::new(),
            auth_time: None,
            jti: None,
            key_digest: Some(wanted.iter().map(|b| format!("{b:02x}")).collect()),
            expires_at: None,
        })
    }
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}
