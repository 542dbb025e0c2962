//! The keys of `hash` and `tokenize` for offline masking, read from key files.
//!
//! Keys never come from the command line (they would land in shell history and process
//! listings): only from files named by `--hash-key-file` / `--token-key-file` or the
//! `PRIVGATE_HASH_KEY_FILE` / `PRIVGATE_TOKEN_KEY_FILE` variables. A key file holds the
//! key as hex digits (`openssl rand -hex 32`), surrounding whitespace ignored. Errors
//! name the file and the problem, never the file's content. Used by `mask_cmd.rs` and `trace_cmd.rs`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use privgate_mask::Secrets;

use crate::cli::{MaskArgs, UsageError};

/// The variable naming the hash key file when `--hash-key-file` is absent.
pub const HASH_KEY_ENV: &str = "PRIVGATE_HASH_KEY_FILE";
/// The variable naming the token key file when `--token-key-file` is absent.
pub const TOKEN_KEY_ENV: &str = "PRIVGATE_TOKEN_KEY_FILE";
/// The variable giving the token key id when `--token-key-id` is absent.
pub const TOKEN_KEY_ID_ENV: &str = "PRIVGATE_TOKEN_KEY_ID";

fn from_env(flag: &Option<PathBuf>, var: &str) -> Option<PathBuf> {
    flag.clone().or_else(|| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The secrets the arguments (or the environment) give.
pub fn secrets(args: &MaskArgs) -> Result<Secrets> {
    secrets_from(
        &args.hash_key_file,
        &args.token_key_file,
        &args.token_key_id,
    )
}

/// The secrets of `--hash-key-file`, `--token-key-file` and `--token-key-id` (or the
/// environment), for any command that takes them.
pub fn secrets_from(
    hash_key_file: &Option<PathBuf>,
    token_key_file: &Option<PathBuf>,
    token_key_id: &Option<String>,
) -> Result<Secrets> {
    let mut secrets = Secrets::new();
    if let Some(path) = from_env(hash_key_file, HASH_KEY_ENV) {
        let key = read_key(&path)?;
        secrets = secrets
            .try_with_hash_key(&key)
            .with_context(|| format!("hash key file `{}`", path.display()))?;
    }
    if let Some(path) = from_env(token_key_file, TOKEN_KEY_ENV) {
        let id = token_key_id
            .clone()
            .or_else(|| std::env::var(TOKEN_KEY_ID_ENV).ok().filter(|v| !v.is_empty()))
            .ok_or_else(|| {
                UsageError(format!(
                    "a token key file needs its id: pass --token-key-id ID (or set {TOKEN_KEY_ID_ENV})"
                ))
            })?;
        let key = read_key(&path)?;
        secrets = secrets
            .with_token_key(&id, &key)
            .with_context(|| format!("token key file `{}`", path.display()))?;
    } else if token_key_id.is_some() {
        return Err(UsageError(format!(
            "--token-key-id needs a key: pass --token-key-file PATH (or set {TOKEN_KEY_ENV})"
        ))
        .into());
    }
    Ok(secrets)
}

/// Reads a key file of hex digits.
fn read_key(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read key file `{}`", path.display()))?;
    decode_hex(text.trim_ascii()).ok_or_else(|| {
        anyhow!(
            "key file `{}` must hold the key as hex digits (e.g. made with `openssl rand -hex 32`)",
            path.display()
        )
    })
}

fn decode_hex(text: &[u8]) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    text.chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decodes_and_rejects_other_text() {
        assert_eq!(decode_hex(b"00ff10Ab"), Some(vec![0, 255, 16, 171]));
        assert_eq!(decode_hex(b"abc"), None);
        assert_eq!(decode_hex(b"zz"), None);
        assert_eq!(decode_hex(b""), None);
    }
}
