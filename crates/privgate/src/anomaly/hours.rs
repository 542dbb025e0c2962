//! Working hours in a named time zone: which instants count as "at work".
//!
//! The zone is an IANA name (`Asia/Shanghai`, `Europe/Berlin`) resolved with `jiff`
//! against the tz database bundled into the binary (`tzdb-bundle-always`), so a
//! distroless or scratch container without `/usr/share/zoneinfo` still knows the
//! zone, and every replica applies the same rules whatever its host has installed.
//! Daylight saving time is handled by converting each instant to local civil time
//! through the zone's transitions: 08:00 is 08:00 on the wall clock on both sides of a
//! change.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Working days and hours, checked.
#[derive(Debug, Clone)]
pub struct WorkingHours {
    /// The zone the hours are on the wall clock of.
    pub zone: TimeZone,
    /// The zone's name, as configured.
    pub zone_name: String,
    /// Working days, Monday first.
    pub days: [bool; 7],
    /// Start of the working day, minutes after local midnight (inclusive).
    pub start_min: u16,
    /// End of the working day, minutes after local midnight (exclusive; up to 1440).
    pub end_min: u16,
}

impl WorkingHours {
    /// Whether the instant `at_ms` (Unix milliseconds) falls on a working day between
    /// start (inclusive) and end (exclusive), local time.
    pub fn is_working(&self, at_ms: u64) -> bool {
        let Ok(ts) = Timestamp::from_millisecond(i64::try_from(at_ms).unwrap_or(i64::MAX)) else {
            return false;
        };
        let local = self.zone.to_datetime(ts);
        let day = local.weekday().to_monday_zero_offset() as usize;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        self.days[day] && (self.start_min..self.end_min).contains(&minute)
    }
}

/// Parses `HH:MM` (00:00 to 24:00) into minutes after midnight.
pub fn parse_clock(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// Parses a day name (`mon` … `sun`, or the full English name) into Monday-first 0–6.
pub fn parse_day(text: &str) -> Option<usize> {
    let t = text.trim().to_ascii_lowercase();
    const DAYS: [(&str, &str); 7] = [
        ("mon", "monday"),
        ("tue", "tuesday"),
        ("wed", "wednesday"),
        ("thu", "thursday"),
        ("fri", "friday"),
        ("sat", "saturday"),
        ("sun", "sunday"),
    ];
    DAYS.iter()
        .position(|(short, long)| t == *short || t == *long)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn hours(zone: &str, days: [bool; 7], start: &str, end: &str) -> WorkingHours {
        WorkingHours {
            zone: TimeZone::get(zone).expect("a bundled zone"),
            zone_name: zone.into(),
            days,
            start_min: parse_clock(start).unwrap(),
            end_min: parse_clock(end).unwrap(),
        }
    }

    /// Unix milliseconds of a UTC civil time.
    fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> u64 {
        date(y, mo, d)
            .at(h, mi, 0, 0)
            .to_zoned(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_millisecond() as u64
    }

    const WEEKDAYS: [bool; 7] = [true, true, true, true, true, false, false];
    const EVERY_DAY: [bool; 7] = [true; 7];

    #[test]
    fn shanghai_is_utc_plus_eight_all_year() {
        let w = hours("Asia/Shanghai", WEEKDAYS, "08:00", "19:00");
        // Monday 2026-11-30 08:00 in Shanghai is Monday 00:00 UTC.
        assert!(w.is_working(utc(2026, 11, 30, 0, 0)));
        assert!(!w.is_working(utc(2026, 11, 29, 23, 59))); // 07:59
        assert!(w.is_working(utc(2026, 11, 30, 10, 59))); // 18:59
        assert!(!w.is_working(utc(2026, 11, 30, 11, 0))); // 19:00: end is exclusive
                                                          // Sunday 2026-11-29 09:00 local (01:00 UTC): not a working day.
        assert!(!w.is_working(utc(2026, 11, 29, 1, 0)));
        // Friday 2026-12-04 20:00 UTC is Saturday 04:00 local.
        assert!(!w.is_working(utc(2026, 12, 4, 20, 0)));
        // Sunday 2026-11-29 16:30 UTC is Monday 00:30 local: a working day, but night.
        assert!(!w.is_working(utc(2026, 11, 29, 16, 30)));
        // Summer: still +8 (no DST), so 00:30 UTC is 08:30 local.
        assert!(w.is_working(utc(2026, 7, 1, 0, 30)));
        assert!(!w.is_working(utc(2026, 6, 30, 23, 30)));
    }

    #[test]
    fn berlin_spring_forward() {
        // 2026-03-29 (a Sunday): 02:00 CET becomes 03:00 CEST.
        let w = hours("Europe/Berlin", EVERY_DAY, "08:00", "19:00");
        // The day before: UTC+1, 08:00 local is 07:00 UTC.
        assert!(!w.is_working(utc(2026, 3, 28, 6, 30))); // 07:30 local
        assert!(w.is_working(utc(2026, 3, 28, 7, 0))); // 08:00 local
        assert!(!w.is_working(utc(2026, 3, 28, 18, 0))); // 19:00 local
                                                         // The day of the change: UTC+2 from 01:00 UTC, so 08:00 local is 06:00 UTC.
        assert!(!w.is_working(utc(2026, 3, 29, 5, 59))); // 07:59 local
        assert!(w.is_working(utc(2026, 3, 29, 6, 0))); // 08:00 local
        assert!(w.is_working(utc(2026, 3, 29, 6, 30))); // 08:30 local
        assert!(w.is_working(utc(2026, 3, 29, 16, 59))); // 18:59 local
        assert!(!w.is_working(utc(2026, 3, 29, 17, 0))); // 19:00 local
    }

    #[test]
    fn berlin_fall_back() {
        // 2026-10-25 (a Sunday): 03:00 CEST becomes 02:00 CET.
        let w = hours("Europe/Berlin", EVERY_DAY, "08:00", "19:00");
        assert!(w.is_working(utc(2026, 10, 24, 6, 30))); // 08:30 CEST
        assert!(!w.is_working(utc(2026, 10, 25, 6, 30))); // 07:30 CET
        assert!(w.is_working(utc(2026, 10, 25, 7, 0))); // 08:00 CET
        assert!(w.is_working(utc(2026, 10, 25, 17, 59))); // 18:59 CET
        assert!(!w.is_working(utc(2026, 10, 25, 18, 0))); // 19:00 CET
                                                          // A window around the repeated hour (02:00–03:00 happens twice).
        let night = hours("Europe/Berlin", EVERY_DAY, "02:00", "03:00");
        assert!(night.is_working(utc(2026, 10, 25, 0, 30))); // 02:30 CEST
        assert!(night.is_working(utc(2026, 10, 25, 1, 30))); // 02:30 CET
        assert!(!night.is_working(utc(2026, 10, 25, 2, 0))); // 03:00 CET
    }

    #[test]
    fn weekday_boundaries_follow_the_local_date() {
        // Mon–Fri only, Berlin: Friday 2026-11-27 18:30 local is working, Saturday is not.
        let w = hours("Europe/Berlin", WEEKDAYS, "08:00", "19:00");
        assert!(w.is_working(utc(2026, 11, 27, 17, 30)));
        assert!(!w.is_working(utc(2026, 11, 28, 9, 0)));
    }

    #[test]
    fn clock_and_day_parsing() {
        assert_eq!(parse_clock("08:00"), Some(480));
        assert_eq!(parse_clock("8:30"), Some(510));
        assert_eq!(parse_clock("24:00"), Some(1440));
        assert_eq!(parse_clock("24:01"), None);
        assert_eq!(parse_clock("25:00"), None);
        assert_eq!(parse_clock("08:60"), None);
        assert_eq!(parse_clock("0800"), None);
        assert_eq!(parse_clock("08:0"), None);
        assert_eq!(parse_day("mon"), Some(0));
        assert_eq!(parse_day("Sunday"), Some(6));
        assert_eq!(parse_day("mo"), None);
    }
}
