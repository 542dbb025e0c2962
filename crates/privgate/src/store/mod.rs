//! The state behind export control: request rate limits, record quotas, approvals and
//! revocations, kept by one of two backends.
//!
//! - `memory` (the default): one process. Rate limits (governor's GCRA) and quota
//!   counters live in memory and restart empty; approvals and revocations are also
//!   written to an embedded SQLite file (`state.path`), so a restart loses none.
//! - `redis`: shared by every replica behind a load balancer. Each operation is one
//!   atomic server-side script (GCRA, quota reservation, approval transitions), so two
//!   gateways never both spend the last record of a quota or both use one approval.
//!
//! Both answer the same [`Store`] calls, and the proxy does not know which one runs. A
//! backend that cannot answer returns [`StoreError::Unavailable`]; what the request then
//! gets is the caller's choice (`state.on_unavailable`: exports fail closed by default).
//!
//! Time is passed in by the caller ([`Clock`]), never read here, so tests drive a week of
//! traffic in microseconds.
//!
//! Quotas use fixed windows aligned on the Unix epoch (`50000/day` is a UTC day). A
//! response *reserves* records before the upstream is called (as many as it may serve:
//! the smaller of what is left and its cap) and settles after its end, giving back what it
//! did not serve; two concurrent exports of one identity therefore never overspend, at
//! the price that a running export holds its reservation until it ends.

pub mod memory;
pub mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use privgate_policy::{Quota, Rate};

use crate::config::{StateBackend, StateConfig};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// Where "now" comes from: the system clock, or a hand-driven one in tests.
#[derive(Debug, Clone)]
pub enum Clock {
    /// `SystemTime::now()`.
    System,
    /// A shared millisecond counter.
    #[cfg_attr(not(test), allow(dead_code, reason = "tests drive time with it"))]
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> Millis {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Now, in whole seconds since the epoch.
    pub fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// A manual clock starting at `ms`, and its handle.
    #[cfg_attr(not(test), allow(dead_code, reason = "tests drive time with it"))]
    pub fn manual(ms: Millis) -> (Clock, Arc<AtomicU64>) {
        let t = Arc::new(AtomicU64::new(ms));
        (Clock::Manual(Arc::clone(&t)), t)
    }
}

impl governor::clock::Clock for Clock {
    type Instant = governor::nanos::Nanos;

    fn now(&self) -> Self::Instant {
        self.now_ms().saturating_mul(1_000_000).into()
    }
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend is unreachable or timed out (Redis down, a full disk).
    #[error("state backend unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a corrupt record).
    #[error("state backend returned unreadable data: {0}")]
    Corrupt(String),
}

/// The outcome of a rate-limit check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the rate.
    Allowed,
    /// Over it: the earliest time a request would be allowed, from now.
    Limited {
        /// When to retry.
        retry_after: Duration,
    },
}

/// Records reserved against a quota for one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The counter's key (identity, route and window).
    pub key: String,
    /// Records reserved: the most the response may serve.
    pub granted: u64,
    /// Records already used in the window before this reservation.
    pub used_before: u64,
    /// When the window ends (Unix seconds).
    pub window_end: u64,
}

/// The state of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Asked for, not decided.
    Pending,
    /// Approved by someone else; usable once until it expires.
    Approved,
    /// Rejected.
    Rejected,
    /// Used by its export.
    Used,
}

impl ApprovalState {
    /// The state's name, as the API and metrics write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Used => "used",
        }
    }
}

/// A four-eyes approval of one export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Random, unguessable id (`apr_…`).
    pub id: String,
    /// Who asked (the subject that may run the export).
    pub requester: String,
    /// The export route.
    pub route: String,
    /// The request it approves: the normalised path and the query in canonical order.
    pub target: String,
    /// Why, as the requester wrote it (shown to approvers; never logged or audited).
    pub reason: String,
    /// The most records the export may return.
    pub max_records: u64,
    /// Where it stands.
    pub state: ApprovalState,
    /// When it was asked for (Unix seconds).
    pub created_at: u64,
    /// When it stops being usable (Unix seconds), whatever its state.
    pub expires_at: u64,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When (Unix seconds).
    pub decided_at: Option<u64>,
    /// When its export ran (Unix seconds).
    pub used_at: Option<u64>,
}

impl Approval {
    /// This approval moved to `to` at `now` (Unix seconds), decided by `by` when `to` is a
    /// decision. Given back from `used` to `approved` (its export failed before serving
    /// anything), it keeps its decision and loses its use time.
    pub fn moved(&self, to: ApprovalState, by: Option<&str>, now: u64) -> Approval {
        let mut next = self.clone();
        match (self.state, to) {
            (_, ApprovalState::Used) => next.used_at = Some(now),
            (ApprovalState::Used, ApprovalState::Approved) => next.used_at = None,
            _ => {
                next.decided_by = by.map(str::to_owned);
                next.decided_at = Some(now);
            }
        }
        next.state = to;
        next
    }

    /// Whether it expired at `now` (Unix seconds).
    pub fn expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

/// The result of a state change asked of an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Done; the approval as it now is.
    Done(Approval),
    /// No approval has this id.
    NotFound,
    /// It was not in the expected state (or had expired); as it is.
    Conflict(Approval),
}

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationKind {
    /// Every credential of a user or service account (its subject).
    Subject,
    /// One token (its JWT `jti`).
    Jti,
    /// One API key (the SHA-256 hex of the key, as in the API key file).
    ApiKey,
}

impl RevocationKind {
    /// The kind's name, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Subject => "subject",
            RevocationKind::Jti => "jti",
            RevocationKind::ApiKey => "api_key",
        }
    }
}

/// A revoked identity or credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// What kind of value `value` is.
    pub kind: RevocationKind,
    /// The subject, `jti` or key digest.
    pub value: String,
    /// When (Unix seconds).
    pub at: u64,
    /// A note for the operators (e.g. a ticket number).
    pub note: Option<String>,
}

/// The configured backend.
#[derive(Debug)]
pub enum Store {
    /// One process, approvals and revocations on disk.
    Memory(memory::MemoryStore),
    /// Shared by the replicas through Redis.
    Redis(redis::RedisStore),
}

impl Store {
    /// Opens the configured backend (the memory backend reads its file now).
    pub async fn open(config: &StateConfig, clock: Clock) -> Result<Store, StoreError> {
        match &config.backend {
            StateBackend::Memory { path } => {
                Ok(Store::Memory(memory::MemoryStore::open(path, clock)?))
            }
            StateBackend::Redis(r) => Ok(Store::Redis(redis::RedisStore::open(r, clock).await?)),
        }
    }

    /// The backend's name (`memory` or `redis`).
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }

    /// Counts one request against `rate` under `key` (GCRA; the rate is also the burst).
    pub async fn rate(&self, key: &str, rate: Rate) -> Result<RateDecision, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.rate(key, rate)),
            Store::Redis(r) => r.rate(key, rate).await,
        }
    }

    /// Reserves up to `want` records of `quota` for `key` in the current window. A
    /// reservation of 0 means the quota is spent.
    pub async fn quota_reserve(
        &self,
        key: &str,
        quota: Quota,
        want: u64,
    ) -> Result<Reservation, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.quota_reserve(key, quota, want)),
            Store::Redis(r) => r.quota_reserve(key, quota, want).await,
        }
    }

    /// Settles a reservation once its response ended, `served` records served: gives
    /// back the rest.
    pub async fn quota_settle(&self, r: &Reservation, served: u64) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => {
                m.quota_settle(r, served);
                Ok(())
            }
            Store::Redis(s) => s.quota_settle(r, served).await,
        }
    }

    /// Stores a new approval.
    pub async fn approval_create(&self, a: &Approval) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => m.approval_create(a),
            Store::Redis(r) => r.approval_create(a).await,
        }
    }

    /// An approval by id.
    pub async fn approval_get(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.approval_get(id)),
            Store::Redis(r) => r.approval_get(id).await,
        }
    }

    /// Every approval not expired more than `keep` ago, newest first.
    pub async fn approval_list(&self) -> Result<Vec<Approval>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.approval_list()),
            Store::Redis(r) => r.approval_list().await,
        }
    }

    /// Moves approval `id` from `from` to `to` atomically, if it is in `from` and not
    /// expired at `now` (Unix seconds); `by` is recorded as the decider for approve and
    /// reject, and `now` as the decision or use time.
    pub async fn approval_transition(
        &self,
        id: &str,
        from: ApprovalState,
        to: ApprovalState,
        by: Option<&str>,
        now: u64,
    ) -> Result<Transition, StoreError> {
        match self {
            Store::Memory(m) => m.approval_transition(id, from, to, by, now),
            Store::Redis(r) => r.approval_transition(id, from, to, by, now).await,
        }
    }

    /// Adds (or replaces) a revocation.
    pub async fn revoke(&self, r: &Revocation) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => m.revoke(r),
            Store::Redis(s) => s.revoke(r).await,
        }
    }

    /// Removes a revocation; whether there was one.
    pub async fn unrevoke(&self, kind: RevocationKind, value: &str) -> Result<bool, StoreError> {
        match self {
            Store::Memory(m) => m.unrevoke(kind, value),
            Store::Redis(r) => r.unrevoke(kind, value).await,
        }
    }

    /// Every revocation.
    pub async fn revocations(&self) -> Result<Vec<Revocation>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.revocations()),
            Store::Redis(r) => r.revocations().await,
        }
    }

    /// Whether any of `values` is revoked.
    pub async fn is_revoked(&self, values: &[(RevocationKind, &str)]) -> Result<bool, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.is_revoked(values)),
            Store::Redis(r) => r.is_revoked(values).await,
        }
    }
}

/// The window a quota counter is in at `now_secs`: its index and its end.
pub fn quota_window(quota: Quota, now_secs: u64) -> (u64, u64) {
    let len = quota.window.as_secs().max(1);
    let index = now_secs / len;
    (index, (index + 1) * len)
}

/// GCRA's emission interval and burst tolerance for `rate`, in milliseconds.
pub fn gcra_params(rate: Rate) -> (u64, u64) {
    let period = rate.per.as_millis() as u64;
    let count = rate.count.max(1);
    let interval = (period / count).max(1);
    (interval, interval * (count - 1))
}

/// A new approval id: `apr_` and 128 random bits in hex; `None` when the system's
/// random source fails (an id must never be guessable, so there is no fallback).
pub fn new_approval_id() -> Option<String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("apr_{hex}"))
}

/// A pending approval for the backends' tests: `alice`'s CSV export, usable for an hour
/// from `now`.
#[cfg(test)]
pub fn test_approval(id: &str, now: u64) -> Approval {
    Approval {
        id: id.into(),
        requester: "alice".into(),
        route: "export".into(),
        target: "/api/export?format=csv".into(),
        reason: "audit".into(),
        max_records: 100,
        state: ApprovalState::Pending,
        created_at: now,
        expires_at: now + 3600,
        decided_by: None,
        decided_at: None,
        used_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_given_back_keeps_its_decision_and_loses_its_use() {
        let a = test_approval("apr_1", 100);
        let approved = a.moved(ApprovalState::Approved, Some("bob"), 110);
        assert_eq!(
            (approved.decided_by.as_deref(), approved.decided_at),
            (Some("bob"), Some(110))
        );
        let used = approved.moved(ApprovalState::Used, None, 120);
        assert_eq!((used.state, used.used_at), (ApprovalState::Used, Some(120)));
        assert_eq!(used.decided_by.as_deref(), Some("bob"));
        let back = used.moved(ApprovalState::Approved, None, 130);
        assert_eq!(back.state, ApprovalState::Approved);
        assert_eq!(back.used_at, None);
        assert_eq!(
            (back.decided_by.as_deref(), back.decided_at),
            (Some("bob"), Some(110))
        );
    }
}
