//! The audit events: what the gateway records, as typed Rust values and as JSON.
//!
//! A line of the trail is a [`Record`]: the envelope (`v`, `seq`, `time`, `key_id`,
//! `prev`, `mac`) that the writer adds, around one [`Event`] whose `kind` names its body.
//! The gateway builds only the [`Event`]; sealing it into a record is `chain.rs`'s job.
//! No event carries a data subject's value: where one must be referenced, the gateway puts
//! [`subject_ref`] of it. The JSON Schema of a record is `schema.rs`'s.

use std::collections::BTreeMap;

use ring::hmac;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::chain::hex;

/// The version of the record format written in `v`.
pub const FORMAT_VERSION: u32 = 1;

/// One line of the audit trail: the envelope and the event.
///
/// `mac` is always the last member of the line: it is the HMAC-SHA256 of the previous
/// record's mac followed by the line's bytes without `,"mac":"…"` (see the crate README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "privgate audit record")]
pub struct Record {
    /// Format version, `1`.
    #[schemars(range(min = 1, max = 1))]
    pub v: u32,
    /// Position in the chain: 1 for the first event ever written, then +1 per event,
    /// across file rotations and restarts.
    #[schemars(range(min = 1))]
    pub seq: u64,
    /// When the writer sealed the event: RFC 3339, UTC, milliseconds
    /// (`2026-11-29T15:45:22.123Z`).
    #[schemars(pattern(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"))]
    pub time: String,
    /// Which key of the key ring computed `mac`.
    #[schemars(pattern(r"^[A-Za-z0-9_.-]{1,64}$"))]
    pub key_id: String,
    /// The previous record's `mac` (64 lowercase hex digits); 64 zeros for `seq` 1.
    #[schemars(pattern(r"^[0-9a-f]{64}$"))]
    pub prev: String,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// HMAC-SHA256 (64 lowercase hex digits) of `prev`'s bytes followed by this line
    /// without its `mac` member.
    #[schemars(pattern(r"^[0-9a-f]{64}$"))]
    pub mac: String,
}

/// What happened. `kind` in the JSON names the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// One request through the gateway, allowed or denied, written when it completes.
    Request(RequestEvent),
    /// An export approval changed state.
    Approval(ApprovalEvent),
    /// A revocation was added or removed.
    Revocation(RevocationEvent),
    /// The policy set was (re)loaded, or a reload failed.
    PolicyReload(PolicyReloadEvent),
    /// A response stream was ended before its end (quota, masking error, upstream).
    StreamAbort(StreamAbortEvent),
    /// An anomaly detector fired.
    Alert(AlertEvent),
    /// Personal data no policy field covers was seen at a path for the first time.
    Discovery(DiscoveryEvent),
    /// The gateway started.
    Startup(StartupEvent),
    /// The gateway is stopping.
    Shutdown(ShutdownEvent),
}

impl Event {
    /// The `kind` string of this event, as written in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Request(_) => "request",
            Event::Approval(_) => "approval",
            Event::Revocation(_) => "revocation",
            Event::PolicyReload(_) => "policy_reload",
            Event::StreamAbort(_) => "stream_abort",
            Event::Alert(_) => "alert",
            Event::Discovery(_) => "discovery",
            Event::Startup(_) => "startup",
            Event::Shutdown(_) => "shutdown",
        }
    }
}

/// The access decision taken for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Served.
    Allow,
    /// Refused.
    Deny,
    /// Served in shadow mode although the policy would have refused it.
    WouldDeny,
}

/// Personal values served, by PII type then by operator: `{"cn_mobile": {"keep": 3,
/// "partial": 10}}`. `keep` counts values served unmasked. Sorted maps keep the bytes of
/// a record deterministic.
pub type PiiCounts = BTreeMap<String, BTreeMap<String, u64>>;

/// One request through the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestEvent {
    /// The gateway's request id (also sent to the client and the upstream).
    pub request_id: String,
    /// Who asked: the employee or service account (the identity's subject), never a data
    /// subject. `-` when the request carried no valid identity.
    pub subject: String,
    /// The role the request was decided under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The client's address (`ip:port` or `ip`) as the gateway saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// HTTP method.
    pub method: String,
    /// The policy route's name; absent when no route matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// HTTP status sent to the client.
    pub status: u16,
    /// The access decision.
    pub decision: Decision,
    /// Why (a short machine-readable reason such as `no_route`, `role`, `step_up`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Records served (items of a list, rows of a CSV).
    #[serde(default)]
    pub records: u64,
    /// Personal values served, by PII type and operator (`keep` = unmasked).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pii: PiiCounts,
    /// Response body bytes sent to the client.
    #[serde(default)]
    pub bytes: u64,
    /// Time from the request's arrival to the end of its response, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
    /// The export approval this request used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Hash of the policy set in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
    /// Why the response was cut or aborted before its end, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<String>,
}

/// The state an approval moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Asked for by the requester.
    Requested,
    /// Granted by an approver.
    Approved,
    /// Refused by an approver.
    Rejected,
    /// Consumed by the export it allowed.
    Used,
    /// Given back after use: its export failed before serving anything (upstream error or
    /// timeout, a refused response), so it may be used again.
    Returned,
    /// Expired unused.
    Expired,
    /// Withdrawn.
    Revoked,
}

/// An export approval changed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalEvent {
    /// The approval's id.
    pub id: String,
    /// The route it is for.
    pub route: String,
    /// Its new state.
    pub state: ApprovalState,
    /// Who caused the change (the approver, the requester, or `gateway`).
    pub by: String,
    /// Who asked for the approval.
    pub requester: String,
}

/// Added or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationAction {
    /// The revocation was added.
    Added,
    /// The revocation was lifted.
    Removed,
}

/// What a revocation applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationTarget {
    /// One token, by its `jti`.
    Jti,
    /// One API key.
    ApiKey,
    /// Every credential of an identity (offboarding).
    Subject,
}

/// A revocation was added or removed. A token or API key is never written, only its
/// keyed hash (`value_ref`); a revoked identity is written as its subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RevocationEvent {
    /// Added or removed.
    pub action: RevocationAction,
    /// What is revoked (`jti`, `api_key` or `subject`).
    pub target: RevocationTarget,
    /// [`subject_ref`] of the token id or API key, when `target` is `jti` or `api_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_ref: Option<String>,
    /// The revoked identity, when `target` is `subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Who made the change (the admin's identity), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl RevocationEvent {
    /// A revocation of a token (`Jti`) or an API key: `value` is hashed with `ref_key`
    /// ([`subject_ref`]) and never stored. For `Subject`, `value` is the subject itself.
    pub fn new(
        action: RevocationAction,
        target: RevocationTarget,
        ref_key: &[u8],
        value: &str,
    ) -> Self {
        let (value_ref, subject) = match target {
            RevocationTarget::Subject => (None, Some(value.to_owned())),
            RevocationTarget::Jti | RevocationTarget::ApiKey => {
                (Some(subject_ref(ref_key, value)), None)
            }
        };
        RevocationEvent {
            action,
            target,
            value_ref,
            subject,
            by: None,
        }
    }
}

/// How a policy reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReloadResult {
    /// The new policy set is in force.
    Ok,
    /// The new set had errors; the previous one stays in force.
    Error,
}

/// The policy set was (re)loaded, or a reload failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyReloadEvent {
    /// How it ended.
    pub result: ReloadResult,
    /// Hash of the policy set now in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// How many errors the rejected set had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
}

/// A response stream was ended before its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamAbortEvent {
    /// The request's id.
    pub request_id: String,
    /// The route's name.
    pub route: String,
    /// Why (`quota`, `mask_error`, `upstream`, …).
    pub reason: String,
    /// Records sent before the abort.
    pub records: u64,
}

/// An anomaly detector fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertEvent {
    /// Which detector (`volume`, `exports`, `denials`, `off_hours`, …).
    pub alert: String,
    /// The identity it is about.
    pub subject: String,
    /// The route, when the alert is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The numbers behind it (`observed`, `baseline`, `threshold`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, f64>,
}

/// Personal data no policy field covers, seen at a path for the first time (or again
/// after a field covering it was removed). Names where, never what: the path's array
/// indexes are folded to `[]` and keys that look like data to `*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiscoveryEvent {
    /// The request whose response showed it.
    pub request_id: String,
    /// The policy route.
    pub route: String,
    /// The normalised path in the body (`$.items[].notes`).
    pub path: String,
    /// What the detector found (`cn_mobile`, `email`, …).
    pub pii_type: String,
}

/// The gateway started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartupEvent {
    /// The gateway's version.
    pub version: String,
    /// Hash of the policy set loaded at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
}

/// The gateway is stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShutdownEvent {
    /// Why (`signal`, `admin`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A keyed reference to a value that must not be written: the first 16 bytes of
/// HMAC-SHA256(`key`, `value`) as 32 lowercase hex digits.
///
/// The same key and value always give the same reference, so events about one data
/// subject (or one token) can be correlated without revealing it. Use a key of its own,
/// not a chain key: chain keys rotate, and references should not.
pub fn subject_ref(key: &[u8], value: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, value.as_bytes());
    hex(tag.as_ref().get(..16).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_ref_is_keyed_and_stable() {
        let a = subject_ref(b"key one", "13812345678");
        assert_eq!(a.len(), 32);
        assert_eq!(a, subject_ref(b"key one", "13812345678"));
        assert_ne!(a, subject_ref(b"key two", "13812345678"));
        assert!(!a.contains("13812345678"));
    }

    #[test]
    fn revocation_of_a_token_keeps_only_its_hash() {
        let e = RevocationEvent::new(
            RevocationAction::Added,
            RevocationTarget::Jti,
            b"k",
            "token-id-1",
        );
        let json = serde_json::to_string(&Event::Revocation(e)).unwrap();
        assert!(!json.contains("token-id-1"), "{json}");
        assert!(json.contains(r#""kind":"revocation""#), "{json}");
    }
}
