//! The hash chain: sealing an event into a line, and checking one line's mac.
//!
//! A line is the compact JSON of a [`Record`] whose last member is `mac`. The mac is
//! HMAC-SHA256(key, prev ‖ body), where `prev` is the previous record's mac as 32 raw
//! bytes (zeros before the first record) and `body` is the line's bytes with the
//! `,"mac":"…"` member cut out (so it ends in `}`). Checking works on the bytes as
//! written, never on a re-serialisation, so no JSON library's key order or number
//! formatting can make an intact line fail or an edited one pass. This module is not the
//! verifier (`verify.rs` follows a chain across lines and files) nor the writer
//! (`file.rs`, `auditor.rs`).
//!
//! [`Record`]: crate::Record

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::event::{Event, FORMAT_VERSION};
use crate::keys::KeyRing;

/// Length of a mac in bytes.
pub const MAC_LEN: usize = 32;

/// The `prev` of the first record.
pub const GENESIS: [u8; MAC_LEN] = [0; MAC_LEN];

const MAC_PREFIX: &[u8] = b",\"mac\":\"";
const MAC_SUFFIX: &[u8] = b"\"}";
/// `,"mac":"` + 64 hex digits + `"}`.
const MAC_MEMBER_LEN: usize = 8 + 2 * MAC_LEN + 2;

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let digit = |n: u8| char::from_digit(u32::from(n), 16).unwrap_or('0');
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 0xf));
    }
    s
}

/// Decodes exactly 64 lowercase hex digits.
pub fn mac_from_hex(s: &[u8]) -> Option<[u8; MAC_LEN]> {
    if s.len() != 2 * MAC_LEN {
        return None;
    }
    let mut out = [0u8; MAC_LEN];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let hi = lower_hex_digit(*pair.first()?)?;
        let lo = lower_hex_digit(*pair.get(1)?)?;
        *o = hi << 4 | lo;
    }
    Some(out)
}

fn lower_hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// The head of a chain: the last record's `seq` (0 when there is none) and `mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last record's `seq`.
    pub seq: u64,
    /// The last record's `mac`.
    pub mac: [u8; MAC_LEN],
}

impl Head {
    /// The head of an empty chain.
    pub const EMPTY: Head = Head {
        seq: 0,
        mac: GENESIS,
    };
}

#[derive(Serialize)]
struct Unsealed<'a> {
    v: u32,
    seq: u64,
    time: &'a str,
    key_id: &'a str,
    prev: &'a str,
    #[serde(flatten)]
    event: &'a Event,
}

/// A sealed line (without its newline) and the new head.
#[derive(Debug)]
pub struct Sealed {
    pub line: String,
    pub head: Head,
}

/// Seals `event` as the record after `head`, with the ring's writing key.
pub fn seal(
    keys: &KeyRing,
    head: &Head,
    time: &str,
    event: &Event,
) -> Result<Sealed, serde_json::Error> {
    let (key_id, key) = keys.writing();
    let seq = head.seq + 1;
    let body = serde_json::to_vec(&Unsealed {
        v: FORMAT_VERSION,
        seq,
        time,
        key_id,
        prev: &hex(&head.mac),
        event,
    })?;
    let mac = sign(key, &head.mac, &body);
    // `body` is a JSON object: it ends in `}`, which the mac member replaces.
    let mut line = String::from_utf8(body).map_err(|_| {
        <serde_json::Error as serde::ser::Error>::custom("serialised event is not UTF-8")
    })?;
    line.pop();
    line.push_str(",\"mac\":\"");
    line.push_str(&hex(&mac));
    line.push_str("\"}");
    Ok(Sealed {
        line,
        head: Head { seq, mac },
    })
}

fn sign(key: &hmac::Key, prev: &[u8; MAC_LEN], body: &[u8]) -> [u8; MAC_LEN] {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(prev);
    ctx.update(body);
    let tag = ctx.sign();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

/// The envelope of a line: what the chain needs, whatever the event's kind.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub v: u32,
    pub seq: u64,
    pub time: String,
    pub key_id: String,
    pub prev: String,
    #[allow(dead_code, reason = "required: a line without `kind` is not a record")]
    pub kind: String,
    #[allow(dead_code, reason = "required; its value is read from the line's end")]
    pub mac: String,
}

/// Why one line does not check on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// Not a record line: bad JSON, missing envelope members, or `mac` not last.
    Malformed(&'static str),
    /// A format version this crate does not know.
    Version(u32),
    /// Its `key_id` is not in the key ring.
    UnknownKey(String),
    /// Its mac does not match its bytes.
    Mac,
}

/// A line whose mac checked.
#[derive(Debug)]
pub struct Checked {
    pub envelope: Envelope,
    pub prev: [u8; MAC_LEN],
    pub mac: [u8; MAC_LEN],
}

/// Checks one line (without its newline): its shape, its key and its own mac. Whether it
/// follows the previous line is the caller's question.
pub fn check_line(keys: &KeyRing, line: &[u8]) -> Result<Checked, LineError> {
    let split = line
        .len()
        .checked_sub(MAC_MEMBER_LEN)
        .filter(|&at| at > 0)
        .ok_or(LineError::Malformed("too short to be a record"))?;
    let (body_part, member) = line.split_at(split);
    let hex_part = member
        .strip_prefix(MAC_PREFIX)
        .and_then(|m| m.strip_suffix(MAC_SUFFIX))
        .ok_or(LineError::Malformed(
            "the line does not end with its `mac` member",
        ))?;
    let mac = mac_from_hex(hex_part)
        .ok_or(LineError::Malformed("`mac` is not 64 lowercase hex digits"))?;
    let envelope: Envelope = serde_json::from_slice(line)
        .map_err(|_| LineError::Malformed("not a JSON record with a complete envelope"))?;
    if envelope.v != FORMAT_VERSION {
        return Err(LineError::Version(envelope.v));
    }
    let prev = mac_from_hex(envelope.prev.as_bytes()).ok_or(LineError::Malformed(
        "`prev` is not 64 lowercase hex digits",
    ))?;
    // The id is echoed in reports: only a well-formed one, never arbitrary line content.
    if crate::keys::check_id(&envelope.key_id).is_err() {
        return Err(LineError::Malformed("`key_id` is not a valid key id"));
    }
    let key = keys
        .get(&envelope.key_id)
        .ok_or_else(|| LineError::UnknownKey(envelope.key_id.clone()))?;
    let mut msg = Vec::with_capacity(MAC_LEN + body_part.len() + 1);
    msg.extend_from_slice(&prev);
    msg.extend_from_slice(body_part);
    msg.push(b'}');
    hmac::verify(key, &msg, &mac).map_err(|_| LineError::Mac)?;
    Ok(Checked {
        envelope,
        prev,
        mac,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ShutdownEvent, StartupEvent};

    fn ring() -> KeyRing {
        KeyRing::from_keys([("k1", vec![7u8; 32])]).unwrap()
    }

    #[test]
    fn sealed_lines_check_and_chain() {
        let keys = ring();
        let e = Event::Startup(StartupEvent {
            version: "0.1.0".into(),
            policy_hash: None,
        });
        let a = seal(&keys, &Head::EMPTY, "2026-11-29T15:45:22.123Z", &e).unwrap();
        assert!(a.line.ends_with("\"}"));
        assert!(a.line.starts_with(
            r#"{"v":1,"seq":1,"time":"2026-11-29T15:45:22.123Z","key_id":"k1","prev":"0000"#
        ));
        let c = check_line(&keys, a.line.as_bytes()).unwrap();
        assert_eq!(c.envelope.seq, 1);
        assert_eq!(c.prev, GENESIS);
        assert_eq!(c.mac, a.head.mac);
        let b = seal(
            &keys,
            &a.head,
            "2026-11-29T15:45:22.124Z",
            &Event::Shutdown(ShutdownEvent { reason: None }),
        )
        .unwrap();
        let c = check_line(&keys, b.line.as_bytes()).unwrap();
        assert_eq!(c.prev, a.head.mac);
        assert_eq!(c.envelope.kind, "shutdown");
    }

    #[test]
    fn an_edited_line_fails() {
        let keys = ring();
        let e = Event::Startup(StartupEvent {
            version: "0.1.0".into(),
            policy_hash: None,
        });
        let a = seal(&keys, &Head::EMPTY, "2026-11-29T15:45:22.123Z", &e).unwrap();
        let edited = a.line.replace("0.1.0", "0.1.1");
        assert_eq!(
            check_line(&keys, edited.as_bytes()).unwrap_err(),
            LineError::Mac
        );
        let upper = a
            .line
            .replace(&hex(&a.head.mac), &hex(&a.head.mac).to_uppercase());
        assert!(matches!(
            check_line(&keys, upper.as_bytes()),
            Err(LineError::Malformed(_))
        ));
    }

    #[test]
    fn hex_round_trips() {
        let m = [0xabu8; MAC_LEN];
        assert_eq!(mac_from_hex(hex(&m).as_bytes()), Some(m));
        assert_eq!(mac_from_hex(b"zz"), None);
    }
}
