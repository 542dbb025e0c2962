//! privgate's tamper-evident audit trail: the event schema, a hash-chained JSON Lines
//! writer with rotation and forwarding to stdout and syslog, and a verifier.
//!
//! The gateway builds an [`Event`] and hands it to [`Auditor::record`], which never blocks:
//! a writer thread seals each event onto an HMAC-SHA256 chain ([`Record`]: `seq`, `prev`,
//! `mac`, `key_id`), appends it to the active segment, fsyncs, and forwards the same line
//! to stdout and syslog. [`verify`] follows the chain across segments and names the first
//! line that was edited, deleted, inserted, moved or cut. This crate uses std threads and
//! sockets only (no tokio, no hyper) and does not depend on the policy crate; the
//! gateway's config embeds [`AuditConfig`]. The format is described in the crate README.
//!
//! ```no_run
//! use std::path::Path;
//! use privgate_audit::{AuditConfig, Auditor, Event, KeyRing, KeySpec, StartupEvent};
//!
//! # fn main() -> Result<(), privgate_audit::AuditError> {
//! let config = AuditConfig::new(
//!     "audit/audit.jsonl",
//!     vec![KeySpec { id: "k1".into(), file: "audit.key".into() }],
//! )
//! .check(Path::new("/etc/privgate"))?;
//! let auditor = Auditor::start(&config, KeyRing::load(&config.keys)?)?;
//! auditor.record(Event::Startup(StartupEvent { version: "0.1.0".into(), policy_hash: None }))?;
//! auditor.shutdown()?;
//!
//! let files = privgate_audit::segment_files(&config.file.path)?;
//! let report = privgate_audit::verify(&files, &KeyRing::load(&config.keys)?);
//! assert!(report.is_intact(), "{report}");
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod auditor;
mod chain;
mod clock;
mod config;
mod error;
mod event;
mod file;
mod keys;
mod schema;
mod syslog;
mod tail;
mod verify;

pub use auditor::Auditor;
pub use config::{
    parse_age, parse_bytes, AuditConfig, ConfigIssue, Facility, FileConfig, Fsync, KeySpec,
    OnFailure, SyslogConfig, Transport,
};
pub use error::AuditError;
pub use event::{
    subject_ref, AlertEvent, ApprovalEvent, ApprovalState, Decision, DiscoveryEvent, Event,
    PiiCounts, PolicyReloadEvent, Record, ReloadResult, RequestEvent, RevocationAction,
    RevocationEvent, RevocationTarget, ShutdownEvent, StartupEvent, StreamAbortEvent,
    FORMAT_VERSION,
};
pub use file::{repair, segment_files, RepairReport};
pub use keys::{generate_key, KeyRing, MIN_KEY_BYTES};
pub use schema::event_schema;
pub use tail::{render, tail};
/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use verify::{
    verify, verify_with, Endpoint, Problem, ProblemKind, VerifyOptions, VerifyReport,
};
