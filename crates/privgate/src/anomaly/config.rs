//! The `anomaly:` section of the gateway config: its YAML shape ([`RawAnomaly`], parsed
//! with `deny_unknown_fields` like the rest of the file) and [`check`], which turns it
//! into an [`AnomalyConfig`] or every problem found, each naming its key
//! (`` `anomaly.k`: expected a positive number, e.g. `4.0` ``).
//!
//! Every key may be omitted; the defaults are those of the example in the module docs,
//! except `working_hours` (no default zone: without it the off-hours kinds are off) and
//! `webhook` (without it alerts go only where the gateway sends them).

use std::time::Duration;

use hyper::http::uri::Uri;
use serde::Deserialize;

use super::hours::{parse_clock, parse_day, WorkingHours};

/// `anomaly:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnomaly {
    /// Whether the detector runs (`true`).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The length of one baseline interval (`1h`).
    #[serde(default)]
    pub interval: Option<String>,
    /// The EWMA weight of the newest interval, 0 < alpha ≤ 1 (`0.3`).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// How many standard deviations above the mean is a spike (`4.0`).
    #[serde(default)]
    pub k: Option<f64>,
    /// The fewest records in one interval that can be a spike (`500`).
    #[serde(default)]
    pub floor_records: Option<u64>,
    /// Intervals an identity's baseline learns before it can spike (`24`).
    #[serde(default)]
    pub warmup_intervals: Option<u64>,
    /// How long after an identity is first seen its new routes are learnt silently (`7d`).
    #[serde(default)]
    pub first_use_warmup: Option<String>,
    /// How long an identity may be idle before its state is forgotten (`30d`).
    #[serde(default)]
    pub forget_after: Option<String>,
    /// Working days and hours; without them the off-hours kinds are off.
    #[serde(default)]
    pub working_hours: Option<RawWorkingHours>,
    /// Denials that make a burst.
    #[serde(default)]
    pub denial_burst: Option<RawDenialBurst>,
    /// The most identities tracked at once (`100000`); the least recently seen is evicted.
    #[serde(default)]
    pub max_identities: Option<usize>,
    /// Where alerts are POSTed as JSON.
    #[serde(default)]
    pub webhook: Option<RawWebhook>,
}

/// `anomaly.working_hours:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkingHours {
    /// An IANA time zone name (`Asia/Shanghai`).
    pub zone: String,
    /// Working days (`[mon, tue, wed, thu, fri]`).
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// Local start, `HH:MM` (`08:00`).
    #[serde(default)]
    pub start: Option<String>,
    /// Local end, `HH:MM`, exclusive (`19:00`).
    #[serde(default)]
    pub end: Option<String>,
}

/// `anomaly.denial_burst:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDenialBurst {
    /// Denials within `window` that make a burst (`20`).
    #[serde(default)]
    pub count: Option<u32>,
    /// The sliding window (`5m`).
    #[serde(default)]
    pub window: Option<String>,
}

/// `anomaly.webhook:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// `http://host:port/path`.
    pub url: String,
    /// How long one attempt may take (`2s`; `ms` allowed).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Attempts after the first one fails (`3`).
    #[serde(default)]
    pub retries: Option<u32>,
    /// Alerts waiting to be sent; past that they are dropped and counted (`1000`).
    #[serde(default)]
    pub queue: Option<usize>,
    /// The wait before the first retry, doubled for each next one (`500ms`).
    #[serde(default)]
    pub backoff: Option<String>,
}

/// A checked `anomaly:` section.
#[derive(Debug, Clone)]
pub struct AnomalyConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Baseline interval length, milliseconds.
    pub interval_ms: u64,
    /// EWMA weight.
    pub alpha: f64,
    /// Standard deviations above the mean.
    pub k: f64,
    /// Absolute floor of a spike, records per interval.
    pub floor_records: u64,
    /// Closed intervals before volume alerts.
    pub warmup_intervals: u64,
    /// Milliseconds after first sight before `first_route_use` alerts.
    pub first_use_warmup_ms: u64,
    /// Milliseconds of inactivity after which an identity is forgotten.
    pub forget_after_ms: u64,
    /// Working hours, when configured.
    pub working_hours: Option<WorkingHours>,
    /// Denials in the window that make a burst.
    pub denial_count: u32,
    /// The denial window, milliseconds.
    pub denial_window_ms: u64,
    /// Identities tracked at most.
    pub max_identities: usize,
    /// The webhook, when configured.
    pub webhook: Option<WebhookConfig>,
}

/// A checked `anomaly.webhook:` section.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The `http://` URL.
    pub url: Uri,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Queue capacity.
    pub queue: usize,
    /// First retry delay (doubled each retry, at most 30 s).
    pub backoff: Duration,
}

impl Default for AnomalyConfig {
    /// The defaults: what an empty `anomaly: {}` checks to.
    fn default() -> Self {
        match check(&RawAnomaly::default()) {
            Ok(c) => c,
            Err(_) => unreachable!("the defaults are valid"),
        }
    }
}

/// Checks `anomaly:`; every problem is `` `anomaly.<key>`: <what was expected> ``.
pub fn check(raw: &RawAnomaly) -> Result<AnomalyConfig, Vec<String>> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, msg: &str| problems.push(format!("`anomaly.{key}`: {msg}"));

    let mut duration = |key: &str, text: Option<&str>, default: Duration| match text {
        None => default,
        Some(t) => match parse_duration(t) {
            Some(d) => d,
            None => {
                problem(
                    key,
                    "expected a positive duration such as `500ms`, `5m`, `1h` or `7d`",
                );
                default
            }
        },
    };
    let interval = duration(
        "interval",
        raw.interval.as_deref(),
        Duration::from_secs(3600),
    );
    let first_use_warmup = duration(
        "first_use_warmup",
        raw.first_use_warmup.as_deref(),
        Duration::from_secs(7 * 86_400),
    );
    let forget_after = duration(
        "forget_after",
        raw.forget_after.as_deref(),
        Duration::from_secs(30 * 86_400),
    );
    let burst = raw.denial_burst.as_ref();
    let denial_window = duration(
        "denial_burst.window",
        burst.and_then(|b| b.window.as_deref()),
        Duration::from_secs(300),
    );
    let hook = raw.webhook.as_ref();
    let timeout = duration(
        "webhook.timeout",
        hook.and_then(|w| w.timeout.as_deref()),
        Duration::from_secs(2),
    );
    let backoff = duration(
        "webhook.backoff",
        hook.and_then(|w| w.backoff.as_deref()),
        Duration::from_millis(500),
    );

    let alpha = raw.alpha.unwrap_or(0.3);
    if !(alpha > 0.0 && alpha <= 1.0) {
        problem(
            "alpha",
            "expected a number above 0 and at most 1, e.g. `0.3`",
        );
    }
    let k = raw.k.unwrap_or(4.0);
    if !(k.is_finite() && k > 0.0) {
        problem("k", "expected a positive number, e.g. `4.0`");
    }
    let floor_records = raw.floor_records.unwrap_or(500);
    if floor_records == 0 {
        problem(
            "floor_records",
            "expected a positive whole number, e.g. `500`",
        );
    }
    let warmup_intervals = raw.warmup_intervals.unwrap_or(24);
    if warmup_intervals > 1_000_000 {
        problem(
            "warmup_intervals",
            "expected a whole number of intervals up to 1000000, e.g. `24`",
        );
    }
    let max_identities = raw.max_identities.unwrap_or(100_000);
    if !(1..=100_000_000).contains(&max_identities) {
        problem(
            "max_identities",
            "expected a whole number from 1 to 100000000, e.g. `100000`",
        );
    }
    let denial_count = burst.and_then(|b| b.count).unwrap_or(20);
    if denial_count < 2 {
        problem(
            "denial_burst.count",
            "expected a whole number of at least 2, e.g. `20`",
        );
    }
    if forget_after < interval {
        problem(
            "forget_after",
            "expected at least one `interval`, so an identity outlives its open interval",
        );
    }

    let working_hours = raw.working_hours.as_ref().and_then(|w| {
        let zone = match jiff::tz::TimeZone::get(w.zone.trim()) {
            Ok(z) => Some(z),
            Err(_) => {
                problem(
                    "working_hours.zone",
                    "expected an IANA time zone name, e.g. `Asia/Shanghai` or `Europe/Berlin`",
                );
                None
            }
        };
        let mut days = [false; 7];
        match &w.days {
            None => days[..5].fill(true),
            Some(list) if list.is_empty() => {
                problem("working_hours.days", "expected at least one day, e.g. `[mon, tue, wed, thu, fri]`");
            }
            Some(list) => {
                for d in list {
                    match parse_day(d) {
                        Some(i) => days[i] = true,
                        None => problem(
                            "working_hours.days",
                            "expected day names `mon`, `tue`, `wed`, `thu`, `fri`, `sat` or `sun`",
                        ),
                    }
                }
            }
        }
        let mut clock = |key: &str, text: Option<&str>, default: u16| match text {
            None => Some(default),
            Some(t) => {
                let m = parse_clock(t);
                if m.is_none() {
                    problem(key, "expected a local time `HH:MM` from 00:00 to 24:00, e.g. `08:00`");
                }
                m
            }
        };
        let start = clock("working_hours.start", w.start.as_deref(), 8 * 60);
        let end = clock("working_hours.end", w.end.as_deref(), 19 * 60);
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                problem(
                    "working_hours.end",
                    "expected a time after `start` (a working day that crosses midnight is not supported)",
                );
                return None;
            }
        }
        Some(WorkingHours {
            zone: zone?,
            zone_name: w.zone.trim().to_owned(),
            days,
            start_min: start?,
            end_min: end?,
        })
    });

    let webhook = hook.and_then(|w| {
        let retries = w.retries.unwrap_or(3);
        if retries > 20 {
            problem("webhook.retries", "expected a whole number from 0 to 20, e.g. `3`");
        }
        let queue = w.queue.unwrap_or(1000);
        if !(1..=1_000_000).contains(&queue) {
            problem("webhook.queue", "expected a whole number from 1 to 1000000, e.g. `1000`");
        }
        let url = match w.url.trim().parse::<Uri>() {
            Ok(u) if u.scheme_str() == Some("http") && u.authority().is_some() => {
                if u.authority().is_some_and(|a| a.as_str().contains('@')) {
                    problem(
                        "webhook.url",
                        "expected no credentials in the URL (`user@`); put the receiver behind a local relay",
                    );
                    None
                } else {
                    Some(u)
                }
            }
            Ok(u) if u.scheme_str() == Some("https") => {
                problem(
                    "webhook.url",
                    "expected an `http://` URL: https is not supported yet (use a local relay)",
                );
                None
            }
            _ => {
                problem(
                    "webhook.url",
                    "expected an `http://host:port/path` URL, e.g. `http://127.0.0.1:9000/alerts`",
                );
                None
            }
        };
        Some(WebhookConfig {
            url: url?,
            timeout,
            retries,
            queue,
            backoff,
        })
    });

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(AnomalyConfig {
        enabled: raw.enabled.unwrap_or(true),
        interval_ms: millis(interval),
        alpha,
        k,
        floor_records,
        warmup_intervals,
        first_use_warmup_ms: millis(first_use_warmup),
        forget_after_ms: millis(forget_after),
        working_hours,
        denial_count,
        denial_window_ms: millis(denial_window),
        max_identities,
        webhook,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A positive duration: `ms`, or what the policy files accept (`s`, `m`, `h`, `d`).
fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    match t.strip_suffix("ms") {
        Some(ms) => ms
            .parse::<u64>()
            .ok()
            .filter(|m| *m > 0)
            .map(Duration::from_millis),
        None => privgate_policy::parse_duration(t).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> RawAnomaly {
        marked_yaml::from_yaml(0, yaml).expect("valid YAML of the right shape")
    }

    fn errors(yaml: &str) -> Vec<String> {
        check(&parse(yaml)).expect_err("a problem")
    }

    #[test]
    fn the_documented_example() {
        let c = check(&parse(
            r#"
enabled: true
interval: 1h
alpha: 0.3
k: 4.0
floor_records: 500
warmup_intervals: 24
first_use_warmup: 7d
working_hours: { zone: Asia/Shanghai, days: [mon, tue, wed, thu, fri], start: "08:00", end: "19:00" }
denial_burst: { count: 20, window: 5m }
max_identities: 100000
webhook: { url: "http://127.0.0.1:9000/alerts", timeout: 2s, retries: 3, queue: 1000 }
"#,
        ))
        .unwrap();
        assert!(c.enabled);
        assert_eq!(c.interval_ms, 3_600_000);
        assert_eq!(
            (c.alpha, c.k, c.floor_records, c.warmup_intervals),
            (0.3, 4.0, 500, 24)
        );
        assert_eq!(c.first_use_warmup_ms, 7 * 86_400_000);
        let w = c.working_hours.unwrap();
        assert_eq!(w.zone_name, "Asia/Shanghai");
        assert_eq!(w.days, [true, true, true, true, true, false, false]);
        assert_eq!((w.start_min, w.end_min), (480, 1140));
        assert_eq!((c.denial_count, c.denial_window_ms), (20, 300_000));
        assert_eq!(c.max_identities, 100_000);
        let h = c.webhook.unwrap();
        assert_eq!(h.url.to_string(), "http://127.0.0.1:9000/alerts");
        assert_eq!(
            (h.timeout, h.retries, h.queue),
            (Duration::from_secs(2), 3, 1000)
        );
    }

    #[test]
    fn defaults_when_keys_are_omitted() {
        let c = check(&parse("{}")).unwrap();
        assert!(c.enabled);
        assert_eq!(c.interval_ms, 3_600_000);
        assert_eq!(
            (c.alpha, c.k, c.floor_records, c.warmup_intervals),
            (0.3, 4.0, 500, 24)
        );
        assert_eq!(c.forget_after_ms, 30 * 86_400_000);
        assert!(c.working_hours.is_none());
        assert!(c.webhook.is_none());
        let c = check(&parse(
            "working_hours: { zone: Europe/Berlin }\nwebhook: { url: \"http://alerts.internal/x\" }",
        ))
        .unwrap();
        let w = c.working_hours.unwrap();
        assert_eq!(w.days, [true, true, true, true, true, false, false]);
        assert_eq!((w.start_min, w.end_min), (480, 1140));
        let h = c.webhook.unwrap();
        assert_eq!(
            (h.timeout, h.retries, h.queue),
            (Duration::from_secs(2), 3, 1000)
        );
        assert_eq!(h.backoff, Duration::from_millis(500));
        assert_eq!(AnomalyConfig::default().max_identities, 100_000);
    }

    #[test]
    fn unknown_keys_are_refused_at_parse() {
        for yaml in [
            "treshold: 3",
            "working_hours: { zone: UTC, hours: 8 }",
            "webhook: { url: \"http://x\", token: abc }",
            "denial_burst: { count: 3, per: 5m }",
        ] {
            assert!(
                marked_yaml::from_yaml::<RawAnomaly>(0, yaml).is_err(),
                "{yaml} was accepted"
            );
        }
    }

    #[test]
    fn each_problem_names_its_key() {
        let cases: &[(&str, &str)] = &[
            (
                "k: 0",
                "`anomaly.k`: expected a positive number, e.g. `4.0`",
            ),
            ("k: -1.5", "`anomaly.k`: expected a positive number"),
            (
                "alpha: 0",
                "`anomaly.alpha`: expected a number above 0 and at most 1",
            ),
            ("alpha: 1.5", "`anomaly.alpha`: expected a number above 0"),
            (
                "interval: 1x",
                "`anomaly.interval`: expected a positive duration",
            ),
            (
                "interval: 0s",
                "`anomaly.interval`: expected a positive duration",
            ),
            (
                "floor_records: 0",
                "`anomaly.floor_records`: expected a positive whole number",
            ),
            (
                "max_identities: 0",
                "`anomaly.max_identities`: expected a whole number from 1",
            ),
            (
                "first_use_warmup: soon",
                "`anomaly.first_use_warmup`: expected a positive duration",
            ),
            (
                "forget_after: 30m",
                "`anomaly.forget_after`: expected at least one `interval`",
            ),
            (
                "denial_burst: { count: 1 }",
                "`anomaly.denial_burst.count`: expected a whole number of at least 2",
            ),
            (
                "denial_burst: { window: forever }",
                "`anomaly.denial_burst.window`: expected a positive duration",
            ),
            (
                "working_hours: { zone: Mars/Olympus }",
                "`anomaly.working_hours.zone`: expected an IANA time zone name",
            ),
            (
                "working_hours: { zone: UTC, days: [mon, funday] }",
                "`anomaly.working_hours.days`: expected day names",
            ),
            (
                "working_hours: { zone: UTC, days: [] }",
                "`anomaly.working_hours.days`: expected at least one day",
            ),
            (
                "working_hours: { zone: UTC, start: \"8am\" }",
                "`anomaly.working_hours.start`: expected a local time `HH:MM`",
            ),
            (
                "working_hours: { zone: UTC, start: \"20:00\", end: \"06:00\" }",
                "`anomaly.working_hours.end`: expected a time after `start`",
            ),
            (
                "webhook: { url: \"https://soc.example/hook\" }",
                "`anomaly.webhook.url`: expected an `http://` URL: https is not supported",
            ),
            (
                "webhook: { url: \"soc.example/hook\" }",
                "`anomaly.webhook.url`: expected an `http://host:port/path` URL",
            ),
            (
                "webhook: { url: \"http://u:p@soc.example/hook\" }",
                "`anomaly.webhook.url`: expected no credentials",
            ),
            (
                "webhook: { url: \"http://x\", timeout: 0ms }",
                "`anomaly.webhook.timeout`: expected a positive duration",
            ),
            (
                "webhook: { url: \"http://x\", queue: 0 }",
                "`anomaly.webhook.queue`: expected a whole number from 1",
            ),
            (
                "webhook: { url: \"http://x\", retries: 99 }",
                "`anomaly.webhook.retries`: expected a whole number from 0 to 20",
            ),
        ];
        for (yaml, want) in cases {
            let got = errors(yaml);
            assert_eq!(got.len(), 1, "{yaml}: {got:?}");
            assert!(got[0].starts_with(want), "{yaml}: {got:?}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let got = errors("k: 0\nalpha: 2\nworking_hours: { zone: Nowhere/Land }");
        assert_eq!(got.len(), 3, "{got:?}");
    }
}
