//! The audit crate's error.
//!
//! One variant per cause. No variant carries an event's content or a key's bytes: key
//! problems name the key id and its file, chain problems name the file, line and `seq`.
//! What [`verify`](crate::verify) finds in a trail is not an error but a
//! [`VerifyReport`](crate::VerifyReport). Neighbours: `config.rs` ([`ConfigIssue`]).

use std::fmt;
use std::path::PathBuf;

use crate::config::ConfigIssue;

/// What can go wrong configuring, starting or feeding the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file or directory of the trail could not be read or written.
    #[error("audit trail: cannot use `{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("audit trail: cannot start the writer thread: {0}")]
    Thread(std::io::Error),
    /// The audit configuration has problems (every one is listed).
    #[error("audit configuration: {}", Issues(.0))]
    Config(Vec<ConfigIssue>),
    /// A `--key` entry is not `id=file`.
    #[error("audit key entry `{entry}` is not `id=file`")]
    KeyEntry {
        /// The entry as given (an id and a path, not key material).
        entry: String,
    },
    /// A key file cannot be used.
    #[error("audit key `{id}`: file `{}` {reason}", path.display())]
    KeyFile {
        /// The key's id.
        id: String,
        /// The key file.
        path: PathBuf,
        /// What is wrong with it (never its contents).
        reason: String,
    },
    /// A key id is empty, too long or has characters other than letters, digits, `-_.`.
    #[error("audit key id `{id}` must be 1 to 64 letters, digits, `-`, `_` or `.`")]
    KeyId {
        /// The id.
        id: String,
    },
    /// Two keys have the same id.
    #[error("audit key id `{id}` is used twice")]
    DuplicateKey {
        /// The id.
        id: String,
    },
    /// A key is shorter than 32 bytes.
    #[error("audit key `{id}` is shorter than 32 bytes")]
    KeyTooShort {
        /// The id.
        id: String,
    },
    /// The key ring is empty.
    #[error("no audit key: list at least one under `audit.keys`")]
    NoKeys,
    /// The system's random generator failed.
    #[error("cannot generate a random audit key")]
    Random,
    /// The newest segment ends with a partial line, left by a crash in the middle of a
    /// write. The writer will not continue a chain it cannot read.
    #[error(
        "audit trail `{}` ends with a torn line at byte {offset} (a crash during a write?); \
         run `privgate audit repair {}` to move the torn bytes to a side file and cut \
         the segment after its last complete event, then start again",
        path.display(), path.display()
    )]
    TornTail {
        /// The segment.
        path: PathBuf,
        /// Where the torn line starts.
        offset: u64,
    },
    /// The last complete line of the newest segment is not a record this key ring
    /// verifies: the chain cannot be continued from it.
    #[error(
        "audit trail `{}` line {line}: the last event cannot be continued ({reason}); \
         run `privgate audit verify` on the trail; if a key is missing add it to \
         `audit.keys`, otherwise keep the directory as evidence, move it aside and start \
         a new trail",
        path.display()
    )]
    CorruptTail {
        /// The segment.
        path: PathBuf,
        /// The line number (1-based).
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The queue is full: the writer is behind. The event was not recorded.
    #[error("audit queue is full; the event was not recorded")]
    QueueFull,
    /// The writer cannot write the trail (disk full, file removed, …); it retries, and
    /// refuses new events until it succeeds. The event was not recorded.
    #[error("audit trail is failing to write; the event was not recorded")]
    Unhealthy,
    /// The auditor was shut down.
    #[error("audit trail is shut down; the event was not recorded")]
    Stopped,
    /// Events accepted by `record` could not be written before a flush or a shutdown
    /// returned.
    #[error("{count} audit event(s) accepted but not written")]
    Unwritten {
        /// How many.
        count: u64,
    },
}

struct Issues<'a>(&'a [ConfigIssue]);

impl fmt::Display for Issues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}
