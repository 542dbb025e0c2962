//! The gateway's side of the audit trail (`privgate-audit`): which events it records and
//! what a request needs for its event.
//!
//! One `request` event per request, allowed or refused, written when the response ends
//! (with the records and personal values served, by PII type and operator, the bytes
//! sent and why a stream was cut); an `approval` event per approval state change, a
//! `revocation` event per revocation change, a `policy_reload` per reload, a
//! `stream_abort` per response cut off mid-body, `startup` and `shutdown`. Events carry
//! the employee's subject (who must be traceable), never a data subject's value; a token
//! id or API key digest is written as a keyed reference ([`Trail::reference`]).
//!
//! Recording never blocks: the auditor queues and a writer thread seals and writes. When
//! an event cannot be queued (the writer failing, the queue full) the failure is counted,
//! and with `audit.on_failure: deny` (the default) requests are refused with 503 while
//! the trail cannot take them ([`Trail::refuses`]): no access to personal data without a
//! trace. Without an `audit:` section there is no trail and nothing is refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use privgate_audit::{Auditor, Decision, Event, OnFailure, PiiCounts, RequestEvent};
use privgate_mask::Stats;

use crate::admin::metrics::Metrics;

/// The trail, if configured, and what the gateway needs around it.
pub struct Trail {
    auditor: Option<Arc<Auditor>>,
    /// Key of the references to token ids and API key digests (derived from the first
    /// audit key; random when there is no trail).
    ref_key: [u8; 32],
    /// The auditor's queue size.
    capacity: usize,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trail")
            .field("enabled", &self.auditor.is_some())
            .finish_non_exhaustive()
    }
}

/// The audit form of an approval state.
pub fn approval_state(s: crate::store::ApprovalState) -> privgate_audit::ApprovalState {
    use crate::store::ApprovalState as S;
    match s {
        S::Pending => privgate_audit::ApprovalState::Requested,
        S::Approved => privgate_audit::ApprovalState::Approved,
        S::Rejected => privgate_audit::ApprovalState::Rejected,
        S::Used => privgate_audit::ApprovalState::Used,
    }
}

/// The `approval` event of `a` entering `state`, caused by `by`.
pub fn approval_event(a: &crate::store::Approval, by: &str) -> Event {
    Event::Approval(privgate_audit::ApprovalEvent {
        id: a.id.clone(),
        route: a.route.clone(),
        state: approval_state(a.state),
        by: by.to_owned(),
        requester: a.requester.clone(),
    })
}

impl Trail {
    /// A trail writing with `auditor` (none: audit off), whose queue holds `capacity`,
    /// writing references keyed with `ref_key` (random when `None`).
    pub fn new(
        auditor: Option<Auditor>,
        capacity: usize,
        ref_key: Option<[u8; 32]>,
        metrics: Arc<Metrics>,
    ) -> Trail {
        use ring::rand::SecureRandom as _;
        let ref_key = ref_key.unwrap_or_else(|| {
            let mut k = [0u8; 32];
            // Without randomness the references are still keyed, only by a fixed key.
            let _ = ring::rand::SystemRandom::new().fill(&mut k);
            k
        });
        Trail {
            auditor: auditor.map(Arc::new),
            ref_key,
            capacity,
            metrics,
        }
    }

    /// Whether a trail is configured.
    pub fn enabled(&self) -> bool {
        self.auditor.is_some()
    }

    /// Queues `event`; a failure is counted and logged (without the event).
    pub fn record(&self, event: Event) -> bool {
        let Some(a) = &self.auditor else { return true };
        let kind = event.kind();
        match a.record(event) {
            Ok(()) => true,
            Err(e) => {
                self.metrics.audit_failure(kind);
                tracing::error!(kind, error = %e, "audit event not recorded");
                false
            }
        }
    }

    /// Records the `request` event of `meta` ending as `o`; without a trail nothing is
    /// built (this runs for every request).
    pub fn request(&self, meta: &RequestMeta, o: &Outcome<'_>) {
        if self.enabled() {
            self.record(request_event(meta, o));
        }
    }

    /// Whether requests must be refused now: the trail is configured to deny on failure
    /// and its writer is failing or its queue is full.
    pub fn refuses(&self) -> bool {
        match &self.auditor {
            Some(a) if a.on_failure() == OnFailure::Deny => {
                !a.healthy() || a.queue_depth() >= self.capacity
            }
            _ => false,
        }
    }

    /// A keyed reference to a value that must not be written (a token id, a key digest).
    pub fn reference(&self, value: &str) -> String {
        privgate_audit::subject_ref(&self.ref_key, value)
    }

    /// Updates the audit gauges and counters (called before each scrape).
    pub fn export_metrics(&self) {
        if let Some(a) = &self.auditor {
            self.metrics.audit_state(
                a.queue_depth(),
                a.write_failures(),
                a.healthy(),
                a.last_seq(),
            );
        }
    }

    /// Writes what is queued and stops the writer (at shutdown; blocks).
    pub fn shutdown(&self) {
        if let Some(a) = &self.auditor {
            if let Err(e) = a.shutdown() {
                tracing::error!(error = %e, "the audit trail did not close cleanly");
            }
        }
    }
}

/// A request's identity for its audit event, known from its head.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// The gateway's request id (`X-Request-Id` to the upstream and the client).
    pub id: String,
    /// The HTTP method.
    pub method: String,
    /// The client's address.
    pub client: String,
    /// The caller's subject, once identified.
    pub subject: Option<String>,
    /// The policy hash in force.
    pub policy_hash: Option<String>,
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);
static REQUEST_PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// A request id unique within the process and unlikely to repeat across restarts: a
/// random per-process prefix and a counter (`3f9a02c1-000000000017`).
pub fn next_request_id() -> String {
    let prefix = *REQUEST_PREFIX.get_or_init(|| {
        use ring::rand::SecureRandom as _;
        let mut b = [0u8; 4];
        let _ = ring::rand::SystemRandom::new().fill(&mut b);
        u32::from_be_bytes(b)
    });
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:08x}-{n:012x}")
}

/// What a finished request's event says beyond its head.
#[derive(Debug, Default)]
pub struct Outcome<'a> {
    /// The route, if one matched.
    pub route: Option<&'a str>,
    /// The role served or refused.
    pub role: Option<&'a str>,
    /// The status sent.
    pub status: u16,
    /// Served or refused.
    pub allowed: bool,
    /// The decision label (`allowed`, `denied`, `rate_limited`, …).
    pub reason: &'a str,
    /// What the masker counted, for served bodies.
    pub stats: Option<&'a Stats>,
    /// Body bytes sent.
    pub bytes: u64,
    /// Milliseconds from the head to the end.
    pub duration_ms: u64,
    /// The approval used.
    pub approval: Option<&'a str>,
    /// Why the body was cut, if it was.
    pub cut: Option<&'a str>,
    /// A control in shadow mode would have refused it.
    pub would_deny: bool,
}

/// The `request` event of `meta` ending as `o`.
pub fn request_event(meta: &RequestMeta, o: &Outcome<'_>) -> Event {
    let mut pii = PiiCounts::new();
    let mut records = 0;
    if let Some(stats) = o.stats {
        records = stats.records;
        for (t, op, n) in stats.masked_counts() {
            *pii.entry(t.as_str().to_owned())
                .or_default()
                .entry(op.as_str().to_owned())
                .or_default() += n;
        }
    }
    Event::Request(RequestEvent {
        request_id: meta.id.clone(),
        subject: meta.subject.clone().unwrap_or_else(|| "-".to_owned()),
        role: o.role.map(str::to_owned),
        client: Some(meta.client.clone()),
        method: meta.method.clone(),
        route: o.route.map(str::to_owned),
        status: o.status,
        decision: if !o.allowed {
            Decision::Deny
        } else if o.would_deny {
            Decision::WouldDeny
        } else {
            Decision::Allow
        },
        reason: Some(o.reason.to_owned()),
        records,
        pii,
        bytes: o.bytes,
        duration_ms: o.duration_ms,
        approval: o.approval.map(str::to_owned),
        policy_hash: meta.policy_hash.clone(),
        cut: o.cut.map(str::to_owned),
    })
}
