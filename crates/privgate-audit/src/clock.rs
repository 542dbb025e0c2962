//! UTC timestamps: RFC 3339 with milliseconds for events, a compact form for file names.
//!
//! Written by hand from [`SystemTime`] with Howard Hinnant's civil-from-days algorithm
//! (<https://howardhinnant.github.io/date_algorithms.html>) instead of a date crate: the
//! trail needs one format, in UTC only, and parsing back only what it wrote. It is not a
//! general date library. Neighbours: `event.rs` (the `time` field), `file.rs` (segment
//! names and age).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; times before it count as the epoch.
fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Year, month (1..=12) and day (1..=31) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // [0, 11]
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: u64,
    mi: u64,
    s: u64,
    ms: u64,
}

fn parts(t: SystemTime) -> Parts {
    let ms_total = epoch_millis(t);
    let secs = ms_total / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let (y, mo, d) = civil_from_days(days);
    let sod = secs % 86_400;
    Parts {
        y,
        mo,
        d,
        h: sod / 3600,
        mi: sod % 3600 / 60,
        s: sod % 60,
        ms: ms_total % 1000,
    }
}

/// `2026-11-29T15:45:22.123Z`: the `time` of an event.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.ms
    )
}

/// `20261129T154522Z`: the time in a rotated segment's file name (no colons, sortable).
pub fn compact(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s
    )
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses what [`rfc3339_millis`] writes (and nothing else).
pub fn parse_rfc3339_millis(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 24
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || b.get(19) != Some(&b'.')
        || b.get(23) != Some(&b'Z')
    {
        return None;
    }
    let y = digits(s.get(0..4)?)?;
    let mo = u32::try_from(digits(s.get(5..7)?)?).ok()?;
    let d = u32::try_from(digits(s.get(8..10)?)?).ok()?;
    let h = digits(s.get(11..13)?)?;
    let mi = digits(s.get(14..16)?)?;
    let sec = digits(s.get(17..19)?)?;
    let ms = digits(s.get(20..23)?)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(i64::try_from(y).ok()?, mo, d);
    let days = u64::try_from(days).ok()?;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_millis(secs * 1000 + ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_007); // a leap day
        assert_eq!(rfc3339_millis(t), "2000-02-29T00:00:00.007Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_967_122_123);
        assert_eq!(rfc3339_millis(t), "2026-11-29T15:45:22.123Z");
        assert_eq!(compact(t), "20261129T154522Z");
    }

    #[test]
    fn parse_inverts_format() {
        for ms in [
            0u64,
            86_399_999,
            951_782_400_007,
            1_795_967_122_123,
            4_102_444_800_000,
        ] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(parse_rfc3339_millis(&rfc3339_millis(t)), Some(t));
        }
        assert_eq!(parse_rfc3339_millis("2026-11-29T15:45:22Z"), None);
        assert_eq!(parse_rfc3339_millis("2026-13-29T15:45:22.123Z"), None);
    }

    #[test]
    fn days_round_trip() {
        for days in -800_000..800_000i64 {
            if days % 997 != 0 {
                continue;
            }
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
