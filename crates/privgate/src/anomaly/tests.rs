//! Unit tests of the detector's rules, one at a time, on hand-made traffic.

use super::config::{check, RawAnomaly};
use super::*;

const H: u64 = 3_600_000;
const MIN: u64 = 60_000;
/// Some Monday 00:00 UTC (2026-11-02).
const MONDAY: u64 = 1_793_577_600_000;

fn config(yaml: &str) -> AnomalyConfig {
    let raw: RawAnomaly = marked_yaml::from_yaml(0, yaml).unwrap();
    check(&raw).unwrap()
}

fn obs(at_ms: u64, subject: &str, route: &str, records: u64) -> Observation {
    Observation {
        at_ms,
        subject: subject.into(),
        route: route.into(),
        is_export: false,
        records,
        personal_values: records * 3,
        denied: false,
    }
}

fn kinds(alerts: &[Alert]) -> Vec<AlertKind> {
    alerts.iter().map(|a| a.kind).collect()
}

/// 100 records an hour, every hour, for `hours` hours from `start`.
fn steady(d: &mut Detector, subject: &str, start: u64, hours: u64) -> Vec<Alert> {
    let mut all = Vec::new();
    for h in 0..hours {
        for q in 0..4 {
            all.extend(d.observe(&obs(start + h * H + q * 15 * MIN, subject, "list", 25)));
        }
    }
    all
}

#[test]
fn volume_spike_after_warmup_once_per_interval() {
    let mut d = Detector::new(config("warmup_intervals: 24\nfloor_records: 500\nk: 4"));
    assert!(steady(&mut d, "u", MONDAY, 48).is_empty());
    // Next hour: 1000 records in 20 requests; the alert comes when the total crosses 500.
    let t = MONDAY + 48 * H;
    let mut alerts = Vec::new();
    for i in 0..20 {
        alerts.extend(d.observe(&obs(t + i * MIN, "u", "list", 50)));
    }
    assert_eq!(kinds(&alerts), [AlertKind::VolumeSpike]);
    let a = &alerts[0];
    assert_eq!(a.observed, 550.0);
    assert!((a.baseline.unwrap() - 100.0).abs() < 1e-6);
    assert_eq!(a.threshold, Some(500.0));
    assert_eq!(a.route, None);
    assert_eq!(a.at_ms, t + 10 * MIN);
    // The hour after: another spike is another alert.
    let t = t + H;
    let alerts: Vec<Alert> = (0..20)
        .flat_map(|i| d.observe(&obs(t + i * MIN, "u", "list", 50)))
        .collect();
    assert_eq!(kinds(&alerts), [AlertKind::VolumeSpike]);
}

#[test]
fn no_volume_alert_during_warmup() {
    let mut d = Detector::new(config("warmup_intervals: 24"));
    assert!(steady(&mut d, "u", MONDAY, 10).is_empty());
    let alerts: Vec<Alert> = (0..20)
        .flat_map(|i| d.observe(&obs(MONDAY + 10 * H + i * MIN, "u", "list", 100)))
        .collect();
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn the_statistical_line_matters_above_the_floor() {
    // A heavy account, 2000 records every hour: the baseline is flat (σ = 0), so the
    // line is mean + kσ = 2000, far above the floor.
    let mut d = Detector::new(config("warmup_intervals: 5\nfloor_records: 500"));
    for h in 0..10 {
        assert!(d
            .observe(&obs(MONDAY + h * H, "heavy", "list", 2000))
            .is_empty());
    }
    let alerts = d.observe(&obs(MONDAY + 10 * H, "heavy", "list", 1999));
    assert!(alerts.is_empty());
    let alerts = d.observe(&obs(MONDAY + 10 * H + MIN, "heavy", "list", 10));
    assert_eq!(kinds(&alerts), [AlertKind::VolumeSpike]);
    assert_eq!(alerts[0].threshold, Some(2000.0));
}

#[test]
fn quiet_intervals_count_as_zeros() {
    let c = config("warmup_intervals: 3");
    let mut d = Detector::new(c.clone());
    for h in 0..5 {
        d.observe(&obs(MONDAY + h * H, "u", "list", 100));
    }
    // 20 quiet hours, then a request: the baseline has decayed as if 20 zeros went in.
    d.observe(&obs(MONDAY + 25 * H, "u", "list", 1));
    let id = &d.identities["u"];
    let mut want = Ewma::default();
    for _ in 0..5 {
        want.update(c.alpha, 100.0);
    }
    for _ in 0..20 {
        want.update(c.alpha, 0.0);
    }
    assert_eq!(id.baseline.count, 25);
    assert!((id.baseline.mean - want.mean).abs() < 1e-9);
    assert!((id.baseline.var - want.var).abs() < 1e-9);
}

#[test]
fn a_spike_enters_the_baseline_clipped() {
    let mut d = Detector::new(config("warmup_intervals: 2\nfloor_records: 500"));
    for h in 0..4 {
        d.observe(&obs(MONDAY + h * H, "u", "list", 100));
    }
    d.observe(&obs(MONDAY + 4 * H, "u", "list", 100_000));
    d.observe(&obs(MONDAY + 5 * H, "u", "list", 100));
    // 100 then the threshold 500 (not 100000): 100 + 0.3·400 = 220.
    assert!((d.identities["u"].baseline.mean - 220.0).abs() < 1e-6);
}

#[test]
fn exports_are_not_in_the_volume_baseline() {
    let mut d = Detector::new(config("warmup_intervals: 2"));
    steady(&mut d, "svc", MONDAY, 5);
    let export = Observation {
        is_export: true,
        ..obs(MONDAY + 5 * H, "svc", "export", 50_000)
    };
    assert!(d.observe(&export).is_empty());
}

#[test]
fn first_route_use_after_the_identitys_warmup() {
    let mut d = Detector::new(config("first_use_warmup: 2d"));
    assert!(d.observe(&obs(MONDAY, "r1", "list", 5)).is_empty());
    // Day two: a new route is still learnt silently.
    assert!(d
        .observe(&obs(MONDAY + 30 * H, "r1", "search", 5))
        .is_empty());
    // Day three: a new route alerts, once; known routes do not.
    let t = MONDAY + 50 * H;
    assert!(d.observe(&obs(t, "r1", "search", 5)).is_empty());
    let alerts = d.observe(&obs(t + MIN, "r1", "export", 300));
    assert_eq!(kinds(&alerts), [AlertKind::FirstRouteUse]);
    assert_eq!(alerts[0].route.as_deref(), Some("export"));
    assert_eq!(alerts[0].observed, 300.0);
    assert!(d.observe(&obs(t + 2 * MIN, "r1", "export", 3)).is_empty());
    assert!(d.observe(&obs(t + 30 * H, "r1", "export", 3)).is_empty());
    // A newcomer on day three has its own warm-up.
    assert!(d.observe(&obs(t, "r2", "export", 1)).is_empty());
    assert!(d.observe(&obs(t + MIN, "r2", "admin", 1)).is_empty());
}

#[test]
fn a_denied_attempt_is_not_a_use() {
    let mut d = Detector::new(config("first_use_warmup: 1h"));
    d.observe(&obs(MONDAY, "r1", "list", 5));
    let denied = Observation {
        denied: true,
        ..obs(MONDAY + 2 * H, "r1", "admin", 0)
    };
    assert!(d.observe(&denied).is_empty());
    // Served later: that is the first use.
    let alerts = d.observe(&obs(MONDAY + 3 * H, "r1", "admin", 1));
    assert_eq!(kinds(&alerts), [AlertKind::FirstRouteUse]);
}

#[test]
fn off_hours_once_per_interval_and_exports_apart() {
    let mut d = Detector::new(config(
        "working_hours: { zone: Asia/Shanghai, days: [mon, tue, wed, thu, fri], start: \"08:00\", end: \"19:00\" }",
    ));
    // MONDAY 02:00 UTC is Monday 10:00 in Shanghai.
    assert!(d.observe(&obs(MONDAY + 2 * H, "d1", "list", 5)).is_empty());
    // Monday 12:00 UTC is 20:00 local: off hours, once for the hour.
    let t = MONDAY + 12 * H;
    let alerts = d.observe(&obs(t, "d1", "list", 5));
    assert_eq!(kinds(&alerts), [AlertKind::OffHours]);
    assert_eq!(alerts[0].route.as_deref(), Some("list"));
    assert!(d.observe(&obs(t + 10 * MIN, "d1", "detail", 1)).is_empty());
    // An export in the same hour is its own, more severe kind (and no off_hours).
    let export = Observation {
        is_export: true,
        ..obs(t + 20 * MIN, "d1", "export", 800)
    };
    let alerts = d.observe(&export);
    assert_eq!(kinds(&alerts), [AlertKind::ExportOffHours]);
    assert_eq!(alerts[0].kind.severity(), "critical");
    assert_eq!(alerts[0].observed, 800.0);
    assert!(d
        .observe(&Observation {
            at_ms: t + 30 * MIN,
            ..export.clone()
        })
        .is_empty());
    // Another export route in the same hour is another alert.
    let other = Observation {
        route: "patients-export".into(),
        at_ms: t + 40 * MIN,
        ..export.clone()
    };
    assert_eq!(kinds(&d.observe(&other)), [AlertKind::ExportOffHours]);
    // The next hour alerts again.
    assert_eq!(
        kinds(&d.observe(&obs(t + H, "d1", "list", 5))),
        [AlertKind::OffHours]
    );
}

#[test]
fn without_working_hours_there_is_no_off_hours() {
    let mut d = Detector::new(config("{}"));
    let export = Observation {
        is_export: true,
        ..obs(MONDAY + 20 * H, "d1", "export", 800)
    };
    assert!(d.observe(&export).is_empty());
}

#[test]
fn denial_burst_in_a_sliding_window() {
    let mut d = Detector::new(config("denial_burst: { count: 5, window: 1m }"));
    let denied = |at: u64| Observation {
        denied: true,
        ..obs(at, "p", "admin", 0)
    };
    // Four denials a minute apart never make five within a minute.
    for i in 0..10 {
        assert!(d.observe(&denied(MONDAY + i * MIN)).is_empty());
    }
    // Five within 40 s: one alert, and no more that interval.
    let t = MONDAY + 20 * MIN;
    let mut alerts = Vec::new();
    for i in 0..30 {
        alerts.extend(d.observe(&denied(t + i * 10_000)));
    }
    assert_eq!(kinds(&alerts), [AlertKind::DenialBurst]);
    assert_eq!(alerts[0].observed, 5.0);
    assert_eq!(alerts[0].threshold, Some(5.0));
    assert_eq!(alerts[0].at_ms, t + 40_000);
    // The state holds at most `count` times.
    assert!(d.identities["p"].denials.len() <= 5);
}

#[test]
fn idle_identities_are_forgotten() {
    let mut d = Detector::new(config("forget_after: 2d"));
    d.observe(&obs(MONDAY, "a", "list", 1));
    d.observe(&obs(MONDAY + H, "b", "list", 1));
    assert!(d.tick(MONDAY + 48 * H + 30 * MIN).is_empty());
    assert_eq!(d.stats().identities, 1, "a is gone, b is not yet");
    d.observe(&obs(MONDAY + 72 * H, "c", "list", 1));
    assert_eq!(d.stats().identities, 1);
    assert_eq!(d.stats().forgotten, 2);
    assert!(d.identities.contains_key("c"));
}

#[test]
fn the_least_recently_seen_is_evicted_past_the_cap() {
    let mut d = Detector::new(config("max_identities: 3"));
    for (i, s) in ["a", "b", "c"].iter().enumerate() {
        d.observe(&obs(MONDAY + i as u64, s, "list", 1));
    }
    d.observe(&obs(MONDAY + 10, "a", "list", 1)); // a is now the most recent
    d.observe(&obs(MONDAY + 11, "d", "list", 1));
    let mut left: Vec<&str> = d.identities.keys().map(|k| &**k).collect();
    left.sort_unstable();
    assert_eq!(left, ["a", "c", "d"]);
    assert_eq!(d.stats().evicted, 1);
}

#[test]
fn the_touch_queue_stays_bounded() {
    let mut d = Detector::new(config("{}"));
    for i in 0..100_000u64 {
        d.observe(&obs(
            MONDAY + i,
            if i % 2 == 0 { "a" } else { "b" },
            "list",
            1,
        ));
    }
    assert!(d.touches.len() <= 2 * 2 + 1024 + 1);
}

#[test]
fn tick_changes_no_alert() {
    let yaml = "warmup_intervals: 3\nfloor_records: 50\nfirst_use_warmup: 1d\n\
                working_hours: { zone: Europe/Berlin }\ndenial_burst: { count: 3, window: 1m }";
    let mut with = Detector::new(config(yaml));
    let mut without = Detector::new(config(yaml));
    let mut a = Vec::new();
    let mut b = Vec::new();
    for i in 0..2000u64 {
        let at = MONDAY + i * 7 * MIN;
        let o = Observation {
            denied: i % 13 == 0 || (i / 100) % 5 == 0,
            is_export: i % 97 == 0,
            ..obs(
                at,
                ["x", "y", "z"][(i % 3) as usize],
                ["l", "m", "n", "o"][(i % 7 % 4) as usize],
                (i * 37) % 90,
            )
        };
        a.extend(with.observe(&o));
        a.extend(with.tick(at + 3 * MIN));
        b.extend(without.observe(&o));
    }
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn disabled_detector_is_silent() {
    let mut d = Detector::new(config(
        "enabled: false\nwarmup_intervals: 0\nfloor_records: 1",
    ));
    assert!(d.observe(&obs(MONDAY, "u", "list", 1_000_000)).is_empty());
    assert_eq!(d.stats().identities, 0);
}

#[test]
fn late_observations_do_not_move_time_back() {
    let mut d = Detector::new(config("warmup_intervals: 1"));
    d.observe(&obs(MONDAY + 5 * H, "u", "list", 10));
    d.observe(&obs(MONDAY + 4 * H, "u", "list", 10)); // finished late
    assert_eq!(d.identities["u"].interval, 5 + MONDAY / H);
    assert_eq!(d.identities["u"].total, 20);
}

#[test]
fn the_detector_and_sender_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<std::sync::Mutex<Detector>>();
    shared::<webhook::WebhookSender>();
    shared::<Arc<webhook::WebhookCounters>>();
}
