//! Two weeks of a small clinic's traffic through the detector with the default settings
//! and the clinic's working hours (Asia/Shanghai, Mon–Fri 08:00–19:00): the first week
//! is the warm-up every identity goes through (`first_use_warmup: 7d`), the second a
//! normal week plus four incidents. Traffic comes from a seeded RNG, so each run is the
//! same; several seeds are replayed to show the outcome does not hang on one draw.
//!
//! The clinic: five receptionists (r1–r3 08:00–17:00, r4–r5 10:00–19:00, a quieter
//! lunch hour), two doctors (09:00–12:00 and 14:00–18:00), all Monday to Friday, about
//! 1% of requests denied; and `svc-export`, a service account running the appointment
//! export every Friday at 17:00.
//!
//! The incidents of the second week:
//! - Tuesday 03:00: r3 pulls about 900 records in 40 minutes, 10× a usual hour of hers;
//! - Wednesday 10:30: r2 runs the appointment export, a route she never used;
//! - Thursday 14:00: r5 probes an admin route, 25 denials in three minutes;
//! - Saturday 22:30: `svc-export` runs an export outside working hours.

use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::{check, RawAnomaly};
use super::*;

const EXPORT: &str = "appointment-export";

fn shanghai() -> TimeZone {
    TimeZone::get("Asia/Shanghai").unwrap()
}

/// Unix milliseconds of a Shanghai wall-clock time in November 2026.
fn local(day: i8, h: i8, m: i8, s: i8) -> u64 {
    date(2026, 11, day)
        .at(h, m, s, 0)
        .to_zoned(shanghai())
        .unwrap()
        .timestamp()
        .as_millisecond() as u64
}

fn o(at_ms: u64, subject: &str, route: &str, records: u64) -> Observation {
    Observation {
        at_ms,
        subject: subject.into(),
        route: route.into(),
        is_export: route == EXPORT,
        records,
        personal_values: records * 4,
        denied: false,
    }
}

/// A random instant within the local hour `h` of `day`.
fn within(rng: &mut StdRng, day: i8, h: i8) -> u64 {
    local(day, h, 0, 0) + rng.gen_range(0..3_600_000)
}

/// The clinic's ordinary traffic, Monday 2 to Sunday 15 November 2026.
fn normal_traffic(seed: u64) -> Vec<Observation> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for day in 2..=15i8 {
        let weekday = (day - 2) % 7; // 0 is Monday
        if weekday >= 5 {
            continue;
        }
        for (i, who) in ["r1", "r2", "r3", "r4", "r5"].iter().enumerate() {
            let hours = if i < 3 { 8..17 } else { 10..19 };
            for h in hours {
                let n = if h == 12 {
                    rng.gen_range(2..6)
                } else {
                    rng.gen_range(8..16)
                };
                for _ in 0..n {
                    let at = within(&mut rng, day, h);
                    let mut req = match rng.gen_range(0..100) {
                        0..40 => o(at, who, "appointments-list", rng.gen_range(10..30)),
                        40..70 => o(at, who, "appointment-detail", 1),
                        70..90 => o(at, who, "patient-search", rng.gen_range(0..8)),
                        _ => o(at, who, "appointment-update", 1),
                    };
                    if rng.gen_bool(0.01) {
                        req.denied = true;
                        req.records = 0;
                        req.personal_values = 0;
                    }
                    out.push(req);
                }
            }
        }
        for who in ["d1", "d2"] {
            for h in (9..12).chain(14..18) {
                for _ in 0..rng.gen_range(4..10) {
                    let at = within(&mut rng, day, h);
                    out.push(match rng.gen_range(0..100) {
                        0..50 => o(at, who, "patient-detail", 1),
                        50..80 => o(at, who, "patient-history", rng.gen_range(5..40)),
                        _ => o(at, who, "appointments-list", rng.gen_range(5..15)),
                    });
                }
            }
        }
        if weekday == 4 {
            let at = local(day, 17, 0, 0) + rng.gen_range(0..600_000);
            out.push(o(at, "svc-export", EXPORT, rng.gen_range(3000..5000)));
        }
    }
    out
}

/// The four incidents of the second week.
fn incidents(seed: u64) -> Vec<Observation> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut out = Vec::new();
    // Tuesday 10 November, 03:00–03:40: r3 pulls ~900 records.
    for i in 0..20 {
        let at = local(10, 3, 0, 0) + i * 120_000 + rng.gen_range(0..60_000);
        out.push(o(at, "r3", "appointments-list", rng.gen_range(40..51)));
    }
    // Wednesday 11 November, 10:30: r2's first export.
    out.push(o(local(11, 10, 30, 0), "r2", EXPORT, 300));
    // Thursday 12 November, 14:00–14:03: r5 probes an admin route.
    for i in 0..25 {
        out.push(Observation {
            denied: true,
            ..o(local(12, 14, 0, 0) + i * 7_000, "r5", "admin-users", 0)
        });
    }
    // Saturday 14 November, 22:30: an export at night.
    out.push(o(local(14, 22, 30, 0), "svc-export", EXPORT, 5000));
    out
}

fn clinic_config() -> AnomalyConfig {
    let raw: RawAnomaly = marked_yaml::from_yaml(
        0,
        "working_hours: { zone: Asia/Shanghai, days: [mon, tue, wed, thu, fri], start: \"08:00\", end: \"19:00\" }",
    )
    .unwrap();
    check(&raw).unwrap()
}

/// Feeds the traffic in time order, ticking every minute of the way like the gateway's
/// timer would; returns every alert.
fn replay(mut traffic: Vec<Observation>) -> Vec<Alert> {
    traffic.sort_by_key(|o| o.at_ms);
    let mut d = Detector::new(clinic_config());
    let mut alerts = Vec::new();
    let mut next_tick = traffic.first().map_or(0, |o| o.at_ms);
    for obs in &traffic {
        while next_tick < obs.at_ms {
            alerts.extend(d.tick(next_tick));
            next_tick += 60_000;
        }
        alerts.extend(d.observe(obs));
    }
    alerts
}

/// `2026-11-10 Tue 03:21 volume_spike r3 -`.
fn line(a: &Alert) -> String {
    let at = Timestamp::from_millisecond(a.at_ms as i64)
        .unwrap()
        .to_zoned(shanghai())
        .strftime("%Y-%m-%d %a %H:%M")
        .to_string();
    format!(
        "{at} {} {} {}",
        a.kind,
        a.subject,
        a.route.as_deref().unwrap_or("-")
    )
}

/// The line without its minutes, which vary with the seed.
fn coarse(a: &Alert) -> String {
    let l = line(a);
    format!("{}{}", &l[..17], &l[20..])
}

const SEEDS: [u64; 5] = [7, 42, 2026, 31337, 0xC11];

#[test]
fn normal_weeks_raise_no_alert() {
    for seed in SEEDS {
        let traffic = normal_traffic(seed);
        assert!(traffic.len() > 5000, "{}", traffic.len());
        let alerts = replay(traffic);
        let lines: Vec<String> = alerts.iter().map(line).collect();
        assert!(lines.is_empty(), "seed {seed}: {lines:#?}");
    }
}

#[test]
fn the_incidents_raise_one_alert_each() {
    for seed in SEEDS {
        let mut traffic = normal_traffic(seed);
        traffic.extend(incidents(seed));
        let alerts = replay(traffic.clone());
        let lines: Vec<String> = alerts.iter().map(coarse).collect();
        assert_eq!(
            lines,
            [
                "2026-11-10 Tue 03 off_hours r3 appointments-list",
                "2026-11-10 Tue 03 volume_spike r3 -",
                "2026-11-11 Wed 10 first_route_use r2 appointment-export",
                "2026-11-12 Thu 14 denial_burst r5 -",
                "2026-11-14 Sat 22 export_off_hours svc-export appointment-export",
            ],
            "seed {seed}: {:#?}",
            alerts.iter().map(line).collect::<Vec<_>>()
        );

        // The spike: over the floor, ~10× r3's usual working hour.
        let spike = &alerts[1];
        assert_eq!(
            spike.threshold,
            Some(500.0),
            "the floor is the line at night"
        );
        assert!(spike.observed > 500.0 && spike.observed < 560.0);
        let night: u64 = traffic
            .iter()
            .filter(|o| {
                o.subject == "r3" && o.at_ms >= local(10, 3, 0, 0) && o.at_ms < local(10, 4, 0, 0)
            })
            .map(|o| o.records)
            .sum();
        let usual = usual_hour(&traffic, "r3");
        assert!(
            night as f64 >= 8.0 * usual,
            "seed {seed}: {night} records at night, {usual} in a usual hour"
        );
        // The others carry what the SOC needs.
        assert_eq!(alerts[2].observed, 300.0);
        assert_eq!(
            (alerts[3].observed, alerts[3].threshold),
            (20.0, Some(20.0))
        );
        assert_eq!(alerts[4].observed, 5000.0);
        assert_eq!(alerts[4].kind.severity(), "critical");
    }
}

/// The median of an identity's records per working hour, first week.
fn usual_hour(traffic: &[Observation], subject: &str) -> f64 {
    let mut per_hour: HashMap<u64, u64> = HashMap::new();
    for o in traffic
        .iter()
        .filter(|o| o.subject == subject && o.at_ms < local(9, 0, 0, 0))
    {
        *per_hour.entry(o.at_ms / 3_600_000).or_default() += o.records;
    }
    let mut v: Vec<u64> = per_hour.into_values().collect();
    v.sort_unstable();
    v[v.len() / 2] as f64
}
