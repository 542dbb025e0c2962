//! The gateway's Prometheus metrics: one [`Metrics`] registry, shared by the proxy phases
//! (which record) and the admin listener (which renders it as text on `/metrics`).
//!
//! Labels stay bounded by construction: a route or role label is a name from the loaded
//! policy (or `unmatched` / empty), a decision or reason is one of the gateway's fixed
//! codes, a PII type or operator comes from the engine's enums. No label ever carries a
//! user id, a path, a header or a body value. The registry is private to the process
//! (no global default registry), built with `prometheus` without its protobuf feature.

use privgate_mask::Stats;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The route label of a request that matched no policy route.
pub const UNMATCHED: &str = "unmatched";

/// Every reason a response is cut off mid-body (`proxy/body.rs`), so each series shows
/// as 0 from the start rather than appearing on the first abort.
pub const ABORT_REASONS: [&str; 9] = [
    "malformed-body",
    "value-too-long",
    "too-deep",
    "record-limit",
    "engine",
    "decode",
    "upstream-body",
    "upstream-read-timeout",
    "client-gone",
];

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    upstream_duration: HistogramVec,
    aborts: IntCounterVec,
    masked: IntCounterVec,
    records: IntCounterVec,
    reloads: IntCounterVec,
    policy_info: IntGaugeVec,
    controls: IntCounterVec,
    inspections: IntCounterVec,
    approvals: IntCounterVec,
    exports: IntCounterVec,
    revocations: IntCounterVec,
    store_errors: IntCounterVec,
    audit_depth: prometheus::IntGauge,
    audit_write_failures: prometheus::IntCounter,
    audit_record_failures: IntCounterVec,
    audit_healthy: prometheus::IntGauge,
    audit_last_seq: prometheus::IntGauge,
    anomalies: IntCounterVec,
    webhook: IntCounterVec,
    anomaly_identities: prometheus::IntGauge,
    discoveries: IntCounterVec,
    inventory_entries: IntGaugeVec,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "privgate_requests_total",
                "Requests by policy route, role served and decision.",
            ),
            &["route", "role", "decision"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "privgate_request_duration_seconds",
                "Time from the request head to the end of the response body, by route.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["route"],
        )?;
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "privgate_upstream_duration_seconds",
                "Time from sending a request upstream to its response head, by route.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["route"],
        )?;
        registry.register(Box::new(upstream_duration.clone()))?;
        let aborts = IntCounterVec::new(
            Opts::new(
                "privgate_stream_aborts_total",
                "Responses cut off mid-body (engine error kind, upstream error, timeout).",
            ),
            &["reason"],
        )?;
        let masked = IntCounterVec::new(
            Opts::new(
                "privgate_values_masked_total",
                "Personal values served, by PII type and the operator applied (keep: as is).",
            ),
            &["pii_type", "operator"],
        )?;
        let records = IntCounterVec::new(
            Opts::new(
                "privgate_records_served_total",
                "Records in completed masked responses, by route and role.",
            ),
            &["route", "role"],
        )?;
        let reloads = IntCounterVec::new(
            Opts::new(
                "privgate_policy_reloads_total",
                "Policy reloads by result (ok, invalid).",
            ),
            &["result"],
        )?;
        let policy_info = IntGaugeVec::new(
            Opts::new(
                "privgate_policy_info",
                "The running policy set: 1 for its content hash.",
            ),
            &["hash"],
        )?;
        let controls = IntCounterVec::new(
            Opts::new(
                "privgate_control_decisions_total",
                "Export-control decisions by route, control (rate_limit, quota, approval, \
                 step_up, max_records, revocation, state) and outcome (denied, challenged, \
                 accepted, would_deny in shadow mode, unavailable).",
            ),
            &["route", "control", "outcome"],
        )?;
        let inspections = IntCounterVec::new(
            Opts::new(
                "privgate_inspection_total",
                "Requests whose inspection score reached the route's threshold, by route, \
                 attack class (sqli, xss, traversal, cmdi) and outcome (blocked, detected).",
            ),
            &["route", "class", "outcome"],
        )?;
        let approvals = IntCounterVec::new(
            Opts::new(
                "privgate_approvals_total",
                "Approval state changes by the state entered (pending, approved, rejected, used, \
                 returned: given back after its export failed before serving anything).",
            ),
            &["state"],
        )?;
        let exports = IntCounterVec::new(
            Opts::new(
                "privgate_exports_total",
                "Responses of export routes by outcome (completed, cut: stopped at its record \
                 cap, aborted).",
            ),
            &["route", "outcome"],
        )?;
        let revocations = IntCounterVec::new(
            Opts::new(
                "privgate_revocations_total",
                "Revocations added and removed through the admin listener.",
            ),
            &["action"],
        )?;
        let store_errors = IntCounterVec::new(
            Opts::new(
                "privgate_state_errors_total",
                "State backend operations that failed or timed out, by operation.",
            ),
            &["operation"],
        )?;
        let audit_depth = prometheus::IntGauge::new(
            "privgate_audit_queue_depth",
            "Audit events queued for the writer and not yet written.",
        )?;
        let audit_write_failures = prometheus::IntCounter::new(
            "privgate_audit_write_failures_total",
            "Failed attempts to write or fsync the audit trail.",
        )?;
        let audit_record_failures = IntCounterVec::new(
            Opts::new(
                "privgate_audit_record_failures_total",
                "Audit events that could not be queued (writer failing or queue full), by kind.",
            ),
            &["kind"],
        )?;
        let audit_healthy = prometheus::IntGauge::new(
            "privgate_audit_healthy",
            "1 while the audit trail is being written, 0 while its writer fails (0 too when no trail is configured).",
        )?;
        let anomalies = IntCounterVec::new(
            Opts::new(
                "privgate_anomalies_total",
                "Anomaly alerts raised, by kind (volume_spike, first_route_use, off_hours, \
                 denial_burst, export_off_hours).",
            ),
            &["kind"],
        )?;
        let webhook = IntCounterVec::new(
            Opts::new(
                "privgate_alert_webhook_total",
                "Alert webhook deliveries by outcome (sent, failed, dropped, retried).",
            ),
            &["outcome"],
        )?;
        let anomaly_identities = prometheus::IntGauge::new(
            "privgate_anomaly_identities",
            "Identities the anomaly detector keeps a baseline for.",
        )?;
        let discoveries = IntCounterVec::new(
            Opts::new(
                "privgate_discoveries_total",
                "First sightings of personal data no policy field covers, by route and \
                 PII type (the path is in the audit event and the inventory).",
            ),
            &["route", "pii_type"],
        )?;
        let inventory_entries = IntGaugeVec::new(
            Opts::new(
                "privgate_inventory_entries",
                "Data inventory entries (route, path, PII type) by coverage (covered, \
                 uncovered).",
            ),
            &["coverage"],
        )?;
        for coverage in ["covered", "uncovered"] {
            inventory_entries.with_label_values(&[coverage]);
        }
        registry.register(Box::new(discoveries.clone()))?;
        registry.register(Box::new(inventory_entries.clone()))?;
        registry.register(Box::new(anomaly_identities.clone()))?;
        registry.register(Box::new(anomalies.clone()))?;
        registry.register(Box::new(webhook.clone()))?;
        for outcome in ["sent", "failed", "dropped", "retried"] {
            webhook.with_label_values(&[outcome]);
        }
        for kind in [
            "request",
            "approval",
            "revocation",
            "policy_reload",
            "stream_abort",
            "alert",
            "startup",
            "shutdown",
        ] {
            audit_record_failures.with_label_values(&[kind]);
        }
        for kind in crate::anomaly::AlertKind::ALL {
            anomalies.with_label_values(&[kind.as_str()]);
        }
        registry.register(Box::new(audit_depth.clone()))?;
        registry.register(Box::new(audit_write_failures.clone()))?;
        registry.register(Box::new(audit_record_failures.clone()))?;
        registry.register(Box::new(audit_healthy.clone()))?;
        let audit_last_seq = prometheus::IntGauge::new(
            "privgate_audit_last_seq",
            "The seq of the last event written to the audit trail: kept by Prometheus outside \
             the trail, it is what `privgate audit verify --expect-last-seq` checks a trail \
             against (a removed tail).",
        )?;
        registry.register(Box::new(audit_last_seq.clone()))?;
        for c in [
            &controls,
            &inspections,
            &approvals,
            &exports,
            &revocations,
            &store_errors,
        ] {
            registry.register(Box::new(c.clone()))?;
        }
        for state in ["pending", "approved", "rejected", "used"] {
            approvals.with_label_values(&[state]);
        }
        for action in ["added", "removed"] {
            revocations.with_label_values(&[action]);
        }
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(aborts.clone()))?;
        registry.register(Box::new(masked.clone()))?;
        registry.register(Box::new(records.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(policy_info.clone()))?;
        for result in ["ok", "invalid"] {
            reloads.with_label_values(&[result]);
        }
        for reason in ABORT_REASONS {
            aborts.with_label_values(&[reason]);
        }
        Ok(Metrics {
            registry,
            requests,
            duration,
            upstream_duration,
            aborts,
            masked,
            records,
            reloads,
            policy_info,
            controls,
            inspections,
            approvals,
            exports,
            revocations,
            store_errors,
            audit_depth,
            audit_write_failures,
            audit_record_failures,
            audit_healthy,
            audit_last_seq,
            anomalies,
            webhook,
            anomaly_identities,
            discoveries,
            inventory_entries,
        })
    }

    /// Counts the first sighting of uncovered personal data.
    pub fn discovery(&self, route: &str, pii_type: &str) {
        self.discoveries.with_label_values(&[route, pii_type]).inc();
    }

    /// The inventory's entries by coverage.
    pub fn inventory(&self, covered: u64, uncovered: u64) {
        self.inventory_entries
            .with_label_values(&["covered"])
            .set(covered as i64);
        self.inventory_entries
            .with_label_values(&["uncovered"])
            .set(uncovered as i64);
    }

    /// The anomaly detector's tracked identities.
    pub fn anomaly_identities(&self, n: usize) {
        self.anomaly_identities.set(n as i64);
    }

    /// Counts an anomaly alert.
    pub fn anomaly(&self, kind: &str) {
        self.anomalies.with_label_values(&[kind]).inc();
    }

    /// Mirrors the webhook sender's counts (before a scrape).
    pub fn webhook_counts(&self, sent: u64, failed: u64, dropped: u64, retried: u64) {
        for (outcome, n) in [
            ("sent", sent),
            ("failed", failed),
            ("dropped", dropped),
            ("retried", retried),
        ] {
            let c = self.webhook.with_label_values(&[outcome]);
            if n > c.get() {
                c.inc_by(n - c.get());
            }
        }
    }

    /// Mirrors the audit writer's state (before a scrape): queue depth, write failures
    /// so far (a counter that only follows the writer's own), health.
    pub fn audit_state(&self, depth: usize, write_failures: u64, healthy: bool, last_seq: u64) {
        self.audit_depth.set(depth as i64);
        self.audit_last_seq.set(last_seq as i64);
        let seen = self.audit_write_failures.get();
        if write_failures > seen {
            self.audit_write_failures.inc_by(write_failures - seen);
        }
        self.audit_healthy.set(i64::from(healthy));
    }

    /// Counts an audit event of `kind` that could not be queued.
    pub fn audit_failure(&self, kind: &str) {
        self.audit_record_failures.with_label_values(&[kind]).inc();
    }

    /// Counts a request whose inspection reached the threshold, once per class matched
    /// (`outcome` `blocked` or `detected`).
    pub fn inspection(&self, route: &str, class: &str, outcome: &str) {
        self.inspections
            .with_label_values(&[route, class, outcome])
            .inc();
    }

    /// Counts an export-control decision (`route` a policy route name or empty).
    pub fn control(&self, route: &str, control: &str, outcome: &str) {
        let route = if route.is_empty() { UNMATCHED } else { route };
        self.controls
            .with_label_values(&[route, control, outcome])
            .inc();
    }

    /// Counts an approval entering `state`.
    pub fn approval(&self, state: &str) {
        self.approvals.with_label_values(&[state]).inc();
    }

    /// Counts an export response's outcome (`completed`, `cut`, `aborted`).
    pub fn export(&self, route: &str, outcome: &str) {
        self.exports.with_label_values(&[route, outcome]).inc();
    }

    /// Counts a revocation change (`added`, `removed`).
    pub fn revocation(&self, action: &str) {
        self.revocations.with_label_values(&[action]).inc();
    }

    /// Counts a failed state-backend operation.
    pub fn store_error(&self, operation: &str) {
        self.store_errors.with_label_values(&[operation]).inc();
    }

    /// Counts a request's decision (`route` empty when none matched; `role` empty when
    /// no policy role applies).
    pub fn request(&self, route: &str, role: &str, decision: &str) {
        let route = if route.is_empty() { UNMATCHED } else { route };
        self.requests
            .with_label_values(&[route, role, decision])
            .inc();
    }

    /// Records how long a request took, head to end of body.
    pub fn duration(&self, route: &str, seconds: f64) {
        let route = if route.is_empty() { UNMATCHED } else { route };
        self.duration.with_label_values(&[route]).observe(seconds);
    }

    /// Records how long the upstream took to answer with its response head.
    pub fn upstream_duration(&self, route: &str, seconds: f64) {
        self.upstream_duration
            .with_label_values(&[route])
            .observe(seconds);
    }

    /// Counts a response cut off mid-body.
    pub fn abort(&self, reason: &str) {
        self.aborts.with_label_values(&[reason]).inc();
    }

    /// Adds what a masker did over one response.
    pub fn masked(&self, route: &str, role: &str, stats: &Stats) {
        for (pii, op, n) in stats.masked_counts() {
            self.masked
                .with_label_values(&[pii.as_str(), op.as_str()])
                .inc_by(n);
        }
        if stats.records > 0 {
            self.records
                .with_label_values(&[route, role])
                .inc_by(stats.records);
        }
    }

    /// Counts a reload attempt (`ok` or `invalid`).
    pub fn reload(&self, result: &str) {
        self.reloads.with_label_values(&[result]).inc();
    }

    /// Makes `hash` the one `privgate_policy_info` series.
    pub fn policy(&self, hash: &str) {
        self.policy_info.reset();
        self.policy_info.with_label_values(&[hash]).set(1);
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_renders_with_help_and_one_policy_series() {
        let m = Metrics::new().unwrap();
        m.request("", "", "not_found");
        m.request("appointments", "receptionist", "allowed");
        m.duration("appointments", 0.01);
        m.abort("malformed-body");
        m.masked("appointments", "receptionist", &Stats::default());
        m.policy("aaa");
        m.policy("bbb");
        let text = m.render().unwrap();
        for name in [
            "privgate_requests_total",
            "privgate_request_duration_seconds",
            "privgate_stream_aborts_total",
            "privgate_policy_reloads_total",
            "privgate_policy_info",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
        }
        assert!(text.contains("route=\"unmatched\""), "{text}");
        assert!(
            text.contains("privgate_policy_info{hash=\"bbb\"} 1"),
            "{text}"
        );
        assert!(!text.contains("hash=\"aaa\""), "{text}");
    }
}
