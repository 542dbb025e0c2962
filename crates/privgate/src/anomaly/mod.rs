//! Anomaly detection for the SOC: per-identity baselines over finished requests, raising
//! [`Alert`]s that the gateway writes to the audit trail, counts in metrics and may POST
//! to a webhook ([`webhook`]).
//!
//! The gateway hands the [`Detector`] one [`Observation`] per finished request (who, which
//! policy route, export or not, how many personal records and values were served, denied
//! or not) and gets back the alerts it raised. The detector is pure and deterministic:
//! it reads no clock, time comes only from `Observation::at_ms` (and [`Detector::tick`]),
//! so tests replay a week of traffic in milliseconds. It is not thread-safe by itself;
//! the gateway keeps it in a `Mutex`, and [`Detector::observe`] is O(1) amortised (a
//! hash lookup, a few additions; allocation only for a new identity, a new route or an
//! alert).
//!
//! # Alert kinds
//!
//! | kind | fires when | `observed` / `baseline` / `threshold` |
//! | --- | --- | --- |
//! | `volume_spike` | the records one identity was served in the current interval exceed `mean + k·stddev` of its baseline **and** `floor_records`, after `warmup_intervals` | records so far this interval / EWMA mean / `max(mean + k·stddev, floor)` |
//! | `first_route_use` | an identity is served by a route for the first time, once `first_use_warmup` has passed since it was first seen | records served / – / – |
//! | `off_hours` | a request outside working hours (not an export) | records served / – / – |
//! | `export_off_hours` | an export outside working hours (severity `critical`) | records exported / – / – |
//! | `denial_burst` | `denial_burst.count` denials of one identity within `denial_burst.window` | denials in the window / – / `count` |
//!
//! Each alert fires at most once per (kind, subject, interval), and `first_route_use`
//! once per (subject, route) ever; `export_off_hours` once per (subject, route,
//! interval). An off-hours export raises `export_off_hours` only, not `off_hours` too.
//!
//! # The volume model
//!
//! Time is cut into fixed intervals (`interval`, 1h by default) aligned on the Unix epoch.
//! For each identity the records served by non-export requests are summed per interval;
//! when an interval closes its total is folded into an exponentially weighted mean and
//! variance ([`ewma::Ewma`], weight `alpha` for the newest interval). Intervals without
//! traffic count as zeros when they pass, in O(1) whatever their number (a closed form),
//! so a quiet weekend costs nothing and intervals close lazily on the identity's next
//! request: calling [`Detector::tick`] or not gives the same alerts.
//!
//! The spike test runs on every request against the running total of the open
//! interval, so an alert comes as soon as the line is crossed, not when the hour ends.
//! The threshold is `max(mean + k·stddev, floor_records)`: the statistical test catches
//! a heavy user going several times their usual rate; the floor keeps quiet accounts,
//! whose baseline is near zero overnight, from alerting on their first requests of the
//! morning. An interval that spiked enters the baseline clipped to the threshold, so one
//! incident does not blind the detector for the hours after it.
//!
//! Exports are left out of the volume baseline: a weekly export cannot be learnt by an
//! hourly baseline, and exports already have their own controls (approval, `max_records`,
//! quotas in `store/`) and alerts here (`export_off_hours`, `first_route_use` of the
//! export route).
//!
//! # Knobs (`anomaly:` in gateway.yaml; see [`config`])
//!
//! ```yaml
//! anomaly:
//!   enabled: true
//!   interval: 1h              # baseline interval
//!   alpha: 0.3                # EWMA weight of the newest interval (0 < alpha ≤ 1)
//!   k: 4.0                    # standard deviations above the mean that make a spike
//!   floor_records: 500        # and at least this many records in the interval
//!   warmup_intervals: 24      # intervals an identity's baseline learns before alerting
//!   first_use_warmup: 7d      # routes an identity uses in its first 7 days are learnt silently
//!   forget_after: 30d         # an identity idle this long is forgotten
//!   working_hours:            # without it, no off-hours alerts
//!     zone: Asia/Shanghai     # IANA name; the tz database is built in
//!     days: [mon, tue, wed, thu, fri]
//!     start: "08:00"          # local wall-clock time, inclusive
//!     end: "19:00"            # exclusive
//!   denial_burst: { count: 20, window: 5m }
//!   max_identities: 100000    # the least recently seen identity is evicted past this
//!   webhook:                  # optional
//!     url: "http://127.0.0.1:9000/alerts"
//!     timeout: 2s
//!     retries: 3
//!     queue: 1000
//!     backoff: 500ms          # first retry delay, doubled each time
//! ```
//!
//! Lower `alpha` remembers longer (smoother baseline, slower to accept a new normal);
//! lower `k` or `floor_records` alert sooner and more often. Holidays are not known:
//! working days are weekdays only.
//!
//! # Memory
//!
//! Per identity: the baseline, the set of routes it was served by (capped at
//! [`MAX_ROUTES_PER_IDENTITY`]; route names come from the policy), the last
//! `denial_burst.count` denial times and the dedup marks. Identities idle for
//! `forget_after` are dropped, and past `max_identities` the least recently seen one is
//! evicted; both are found through a queue of touches, so this too is O(1) amortised.
//! A forgotten identity starts over, warm-ups included.

pub mod config;
pub mod ewma;
pub mod hours;
#[cfg(test)]
mod replay;
pub mod webhook;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

pub use config::AnomalyConfig;
use ewma::Ewma;

/// Routes remembered per identity for `first_route_use`; past this, new routes are neither
/// learnt nor alerted on.
pub const MAX_ROUTES_PER_IDENTITY: usize = 1024;

/// One finished request, as the gateway saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// When it finished, Unix milliseconds.
    pub at_ms: u64,
    /// The employee or service account.
    pub subject: String,
    /// The policy route's name (or the gateway's `unmatched`).
    pub route: String,
    /// Whether the route is an export.
    pub is_export: bool,
    /// Personal records served.
    pub records: u64,
    /// Personal values served.
    pub personal_values: u64,
    /// Whether the request was refused.
    pub denied: bool,
}

/// What kind of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// Far more records than the identity's baseline in one interval.
    VolumeSpike,
    /// The identity's first use of a route, after its warm-up.
    FirstRouteUse,
    /// Access outside working hours.
    OffHours,
    /// Many denials in a short window.
    DenialBurst,
    /// An export outside working hours.
    ExportOffHours,
}

impl AlertKind {
    /// Every kind, for metrics that start at 0.
    pub const ALL: [AlertKind; 5] = [
        AlertKind::VolumeSpike,
        AlertKind::FirstRouteUse,
        AlertKind::OffHours,
        AlertKind::DenialBurst,
        AlertKind::ExportOffHours,
    ];

    /// The kind's name, as JSON, metrics and the audit trail write it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::VolumeSpike => "volume_spike",
            AlertKind::FirstRouteUse => "first_route_use",
            AlertKind::OffHours => "off_hours",
            AlertKind::DenialBurst => "denial_burst",
            AlertKind::ExportOffHours => "export_off_hours",
        }
    }

    /// `critical` for an off-hours export, `warning` for the rest.
    pub fn severity(self) -> &'static str {
        match self {
            AlertKind::ExportOffHours => "critical",
            _ => "warning",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One anomaly. Carries the acting identity and route, never a data subject's values.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// What kind.
    pub kind: AlertKind,
    /// The identity.
    pub subject: String,
    /// The route, for kinds about one request.
    pub route: Option<String>,
    /// When, Unix milliseconds (the observation's time).
    pub at_ms: u64,
    /// What was seen (see the table in the module docs).
    pub observed: f64,
    /// The baseline it was compared with, where there is one.
    pub baseline: Option<f64>,
    /// The line it crossed, where there is one.
    pub threshold: Option<f64>,
}

/// Per-identity state.
#[derive(Debug)]
struct Identity {
    /// The touch that is this identity's newest entry in the touch queue.
    stamp: u64,
    first_seen: u64,
    last_seen: u64,
    /// The open interval's index and its total so far.
    interval: u64,
    total: u64,
    baseline: Ewma,
    /// The open interval already raised `volume_spike`.
    spiked: bool,
    routes: HashSet<Box<str>>,
    /// Times of the latest denials, oldest first, at most `denial_count`.
    denials: VecDeque<u64>,
    /// The interval each per-interval kind last fired in (indexed by kind).
    fired: [Option<u64>; 5],
    /// Routes that raised `export_off_hours` in the interval `fired[ExportOffHours]`.
    export_routes: Vec<Box<str>>,
}

/// Counts for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorStats {
    /// Identities tracked now.
    pub identities: usize,
    /// Identities forgotten after `forget_after` of inactivity.
    pub forgotten: u64,
    /// Identities evicted because `max_identities` was reached.
    pub evicted: u64,
    /// Alerts raised, by [`AlertKind::ALL`] order.
    pub alerts: [u64; 5],
}

/// The detector: feed it every finished request.
#[derive(Debug)]
pub struct Detector {
    config: AnomalyConfig,
    identities: HashMap<Arc<str>, Identity>,
    /// (identity, stamp) in the order of touches; an entry whose stamp is no longer the
    /// identity's is stale and skipped.
    touches: VecDeque<(Arc<str>, u64)>,
    next_stamp: u64,
    /// The latest time seen.
    now: u64,
    /// The minute (Unix ms / 60000) last looked up, and whether it was working time.
    hours_cache: Option<(u64, bool)>,
    stats: DetectorStats,
}

impl Detector {
    /// A detector with no history.
    pub fn new(config: AnomalyConfig) -> Detector {
        Detector {
            config,
            identities: HashMap::new(),
            touches: VecDeque::new(),
            next_stamp: 0,
            now: 0,
            hours_cache: None,
            stats: DetectorStats::default(),
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &AnomalyConfig {
        &self.config
    }

    /// Counts for metrics.
    pub fn stats(&self) -> DetectorStats {
        DetectorStats {
            identities: self.identities.len(),
            ..self.stats
        }
    }

    /// Takes in one finished request; returns the alerts it raised (usually none).
    pub fn observe(&mut self, obs: &Observation) -> Vec<Alert> {
        let mut alerts = Vec::new();
        if !self.config.enabled {
            return alerts;
        }
        self.now = self.now.max(obs.at_ms);
        self.forget_idle();
        let working = self.is_working(obs.at_ms);
        let stamp = self.next_stamp;
        self.next_stamp += 1;

        let cfg = &self.config;
        let key: Arc<str> = match self.identities.get_key_value(obs.subject.as_str()) {
            Some((k, _)) => Arc::clone(k),
            None => {
                if self.identities.len() >= cfg.max_identities {
                    evict_oldest(&mut self.identities, &mut self.touches);
                    self.stats.evicted += 1;
                }
                let k: Arc<str> = Arc::from(obs.subject.as_str());
                self.identities.insert(
                    Arc::clone(&k),
                    Identity {
                        stamp,
                        first_seen: obs.at_ms,
                        last_seen: obs.at_ms,
                        interval: obs.at_ms / cfg.interval_ms,
                        total: 0,
                        baseline: Ewma::default(),
                        spiked: false,
                        routes: HashSet::new(),
                        denials: VecDeque::new(),
                        fired: [None; 5],
                        export_routes: Vec::new(),
                    },
                );
                k
            }
        };
        let Some(id) = self.identities.get_mut(&key) else {
            return alerts;
        };
        id.stamp = stamp;
        // Requests finish slightly out of order: never let the state go back in time.
        let at = obs.at_ms.max(id.last_seen);
        id.last_seen = at;
        let interval = at / cfg.interval_ms;
        roll(id, cfg, interval);
        let alert = |kind: AlertKind, route: bool, observed: f64| Alert {
            kind,
            subject: obs.subject.clone(),
            route: route.then(|| obs.route.clone()),
            at_ms: obs.at_ms,
            observed,
            baseline: None,
            threshold: None,
        };

        // first_route_use: routes actually served; denied attempts are denial_burst's.
        if !obs.denied
            && id.routes.len() < MAX_ROUTES_PER_IDENTITY
            && !id.routes.contains(obs.route.as_str())
        {
            id.routes.insert(obs.route.as_str().into());
            if at.saturating_sub(id.first_seen) >= cfg.first_use_warmup_ms {
                alerts.push(alert(AlertKind::FirstRouteUse, true, obs.records as f64));
            }
        }

        // off_hours and export_off_hours.
        if !working {
            if obs.is_export {
                let kind = AlertKind::ExportOffHours;
                if id.fired[kind.index()] != Some(interval) {
                    id.fired[kind.index()] = Some(interval);
                    id.export_routes.clear();
                }
                if !id.export_routes.iter().any(|r| **r == *obs.route) {
                    id.export_routes.push(obs.route.as_str().into());
                    alerts.push(alert(kind, true, obs.records as f64));
                }
            } else if fire_once(id, AlertKind::OffHours, interval) {
                alerts.push(alert(AlertKind::OffHours, true, obs.records as f64));
            }
        }

        // volume_spike: the open interval's running total against the baseline.
        if !obs.is_export {
            id.total = id.total.saturating_add(obs.records);
            if !id.spiked && id.baseline.count >= cfg.warmup_intervals {
                let threshold = id.baseline.threshold(cfg.k, cfg.floor_records as f64);
                if id.total as f64 > threshold {
                    id.spiked = true;
                    if fire_once(id, AlertKind::VolumeSpike, interval) {
                        alerts.push(Alert {
                            baseline: Some(id.baseline.mean),
                            threshold: Some(threshold),
                            ..alert(AlertKind::VolumeSpike, false, id.total as f64)
                        });
                    }
                }
            }
        }

        // denial_burst: a sliding window over the latest `count` denials.
        if obs.denied {
            let window_start = at.saturating_sub(cfg.denial_window_ms);
            id.denials.push_back(at);
            while id.denials.len() > cfg.denial_count as usize
                || id.denials.front().is_some_and(|t| *t <= window_start)
            {
                id.denials.pop_front();
            }
            if id.denials.len() >= cfg.denial_count as usize
                && fire_once(id, AlertKind::DenialBurst, interval)
            {
                alerts.push(Alert {
                    threshold: Some(cfg.denial_count as f64),
                    ..alert(AlertKind::DenialBurst, false, id.denials.len() as f64)
                });
            }
        }

        self.touches.push_back((key, stamp));
        self.compact_touches();
        for a in &alerts {
            self.stats.alerts[a.kind.index()] += 1;
        }
        alerts
    }

    /// Advances time to `now_ms` while traffic is quiet: forgets identities idle for
    /// `forget_after`. Open intervals close lazily (empty ones as zeros, in O(1)) on the
    /// identity's next request, so whether and how often this is called changes no alert;
    /// spikes are raised by [`Detector::observe`] as they happen. Returns the alerts due
    /// (none of the current kinds is raised by the passing of time alone).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Alert> {
        if self.config.enabled {
            self.now = self.now.max(now_ms);
            self.forget_idle();
        }
        Vec::new()
    }

    /// Whether `at_ms` is working time; always true without `working_hours`.
    fn is_working(&mut self, at_ms: u64) -> bool {
        let Some(hours) = &self.config.working_hours else {
            return true;
        };
        // Zone offsets are whole minutes, so one lookup per minute is exact.
        let minute = at_ms / 60_000;
        match self.hours_cache {
            Some((m, w)) if m == minute => w,
            _ => {
                let w = hours.is_working(at_ms);
                self.hours_cache = Some((minute, w));
                w
            }
        }
    }

    /// Drops identities idle for `forget_after` (oldest touches first).
    fn forget_idle(&mut self) {
        let cutoff = self.now.saturating_sub(self.config.forget_after_ms);
        while let Some((key, stamp)) = self.touches.front() {
            match self.identities.get(key) {
                Some(id) if id.stamp == *stamp => {
                    if id.last_seen >= cutoff {
                        break;
                    }
                    self.identities.remove(key);
                    self.stats.forgotten += 1;
                }
                _ => {}
            }
            self.touches.pop_front();
        }
    }

    /// Keeps the touch queue within twice the live entries (amortised O(1)).
    fn compact_touches(&mut self) {
        if self.touches.len() > 2 * self.identities.len() + 1024 {
            let ids = &self.identities;
            self.touches
                .retain(|(k, s)| ids.get(k).is_some_and(|id| id.stamp == *s));
        }
    }
}

/// Closes the identity's open interval (and the empty ones after it) when `interval` is
/// later.
fn roll(id: &mut Identity, cfg: &AnomalyConfig, interval: u64) {
    if interval <= id.interval {
        return;
    }
    let warmed = id.baseline.count >= cfg.warmup_intervals;
    let threshold = id.baseline.threshold(cfg.k, cfg.floor_records as f64);
    let total = id.total as f64;
    // A spike enters the baseline clipped to the line it crossed.
    let x = if warmed && total > threshold {
        threshold
    } else {
        total
    };
    id.baseline.update(cfg.alpha, x);
    id.baseline
        .update_zeros(cfg.alpha, interval - id.interval - 1);
    id.interval = interval;
    id.total = 0;
    id.spiked = false;
}

/// Marks `kind` fired in `interval`; false when it already was.
fn fire_once(id: &mut Identity, kind: AlertKind, interval: u64) -> bool {
    let slot = &mut id.fired[kind.index()];
    if *slot == Some(interval) {
        return false;
    }
    *slot = Some(interval);
    true
}

/// Evicts the least recently seen identity.
fn evict_oldest(ids: &mut HashMap<Arc<str>, Identity>, touches: &mut VecDeque<(Arc<str>, u64)>) {
    while let Some((key, stamp)) = touches.pop_front() {
        if ids.get(&key).is_some_and(|id| id.stamp == stamp) {
            ids.remove(&key);
            return;
        }
    }
}

#[cfg(test)]
mod tests;
