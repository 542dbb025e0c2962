//! The gateway's side of anomaly detection (`anomaly/`): every finished request with a
//! known caller is an observation; each alert the detector raises becomes an `alert`
//! audit event, a `privgate_anomalies_total` increment, a warning log line (kind and
//! route, not the account) and, when configured, a webhook post. A background task ticks
//! the detector every minute so idle identities are forgotten.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::anomaly::webhook::WebhookSender;
use crate::anomaly::{Alert, AnomalyConfig, Detector, Observation};

use super::State;

/// The detector and its webhook, when anomaly detection is on.
#[derive(Debug)]
pub struct Watch {
    detector: Mutex<Detector>,
    webhook: Option<WebhookSender>,
}

impl Watch {
    /// A detector with `config` (and its webhook sender; call inside the runtime).
    pub fn new(config: AnomalyConfig) -> Watch {
        let webhook = config.webhook.clone().map(WebhookSender::spawn);
        let detector = Detector::new(config);
        tracing::info!(
            zone = detector
                .config()
                .working_hours
                .as_ref()
                .map_or("-", |h| h.zone_name.as_str()),
            webhook = webhook.is_some(),
            "anomaly detection on"
        );
        Watch {
            detector: Mutex::new(detector),
            webhook,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Detector> {
        self.detector.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a finished request tells the detector.
#[derive(Debug)]
pub struct Seen<'a> {
    /// The caller.
    pub subject: &'a str,
    /// The route (empty when none matched).
    pub route: &'a str,
    /// An export route.
    pub is_export: bool,
    /// Records served.
    pub records: u64,
    /// Personal values served.
    pub personal_values: u64,
    /// Refused.
    pub denied: bool,
}

/// Feeds one finished request to the detector, if there is one, and raises its alerts.
pub fn observe(state: &State, seen: &Seen<'_>) {
    let Some(watch) = &state.watch else { return };
    let alerts = watch.lock().observe(&Observation {
        at_ms: now_ms(),
        subject: seen.subject.to_owned(),
        route: seen.route.to_owned(),
        is_export: seen.is_export,
        records: seen.records,
        personal_values: seen.personal_values,
        denied: seen.denied,
    });
    for alert in alerts {
        raise(state, watch, &alert);
    }
}

fn raise(state: &State, watch: &Watch, alert: &Alert) {
    let kind = alert.kind.as_str();
    state.metrics.anomaly(kind);
    tracing::warn!(
        alert = kind,
        severity = alert.kind.severity(),
        route = alert
            .route
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("-"),
        "anomaly"
    );
    let mut details = std::collections::BTreeMap::new();
    details.insert("observed".to_owned(), alert.observed);
    if let Some(b) = alert.baseline {
        details.insert("baseline".to_owned(), b);
    }
    if let Some(t) = alert.threshold {
        details.insert("threshold".to_owned(), t);
    }
    // A request that matched no route has no route to name.
    let mut alert = alert.clone();
    alert.route = alert.route.filter(|r| !r.is_empty());
    state
        .audit
        .record(privgate_audit::Event::Alert(privgate_audit::AlertEvent {
            alert: kind.to_owned(),
            subject: alert.subject.clone(),
            route: alert.route.clone(),
            details,
        }));
    if let Some(w) = &watch.webhook {
        w.send(&alert);
    }
}

/// Ticks the detector every minute (forgets idle identities) until the task is dropped.
pub async fn tick_every_minute(state: Arc<State>) {
    let Some(watch) = &state.watch else { return };
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        let alerts = watch.lock().tick(now_ms());
        for alert in alerts {
            raise(&state, watch, &alert);
        }
    }
}

/// Mirrors the detector's and the webhook's counters into the metrics (before a scrape).
pub fn export_metrics(state: &State) {
    if let Some(w) = &state.watch {
        state
            .metrics
            .anomaly_identities(w.lock().stats().identities);
    }
    if let Some(w) = state.watch.as_ref().and_then(|w| w.webhook.as_ref()) {
        let c = w.counters().snapshot();
        state
            .metrics
            .webhook_counts(c.sent, c.failed, c.dropped, c.retried);
    }
}
