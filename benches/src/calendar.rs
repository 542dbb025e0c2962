//! Calendar dates and times of day for the generated records (birth dates, bookings).
//!
//! Just enough of the proleptic Gregorian calendar to draw valid dates and print them the
//! ways booking systems do (`1985-07-14`, `19850714`, `2025-03-12T09:30:00+08:00`, epoch
//! milliseconds). It is not a date library: no parsing, no time zones beyond the fixed
//! `+08:00` of the data. Used by `person.rs` and `appointment.rs`.

use std::fmt::Write as _;

use crate::dice::Dice;

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Date {
    pub(crate) year: u32,
    pub(crate) month: u32,
    pub(crate) day: u32,
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// A uniformly drawn valid date with a year in `first_year..=last_year`.
    pub(crate) fn random(dice: &mut Dice, first_year: u32, last_year: u32) -> Date {
        let year = dice.range(first_year, last_year);
        let month = dice.range(1, 12);
        let day = dice.range(1, days_in_month(year, month));
        Date { year, month, day }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub(crate) fn days_since_epoch(self) -> i64 {
        let (y, m, d) = (
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Appends `YYYY-MM-DD`.
    pub(crate) fn push_iso(self, out: &mut String) {
        let _ = write!(out, "{:04}-{:02}-{:02}", self.year, self.month, self.day);
    }

    /// Appends `YYYYMMDD`, the form inside a resident ID number.
    pub(crate) fn push_compact(self, out: &mut String) {
        let _ = write!(out, "{:04}{:02}{:02}", self.year, self.month, self.day);
    }

    /// `YYYY-MM-DD` as a new string.
    pub(crate) fn iso(self) -> String {
        let mut s = String::with_capacity(10);
        self.push_iso(&mut s);
        s
    }
}

/// A moment in Beijing time (UTC+08:00), to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moment {
    pub(crate) date: Date,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
}

impl Moment {
    /// `2025-03-12T09:30:00+08:00`.
    pub(crate) fn rfc3339(self) -> String {
        let mut s = self.date.iso();
        let _ = write!(
            s,
            "T{:02}:{:02}:{:02}+08:00",
            self.hour, self.minute, self.second
        );
        s
    }

    /// `2025-03-12 09:30`, as spreadsheets export it.
    pub(crate) fn local_minutes(self) -> String {
        let mut s = self.date.iso();
        let _ = write!(s, " {:02}:{:02}", self.hour, self.minute);
        s
    }

    /// `2025-03-12 09:30:05`.
    pub(crate) fn local_seconds(self) -> String {
        let mut s = self.local_minutes();
        let _ = write!(s, ":{:02}", self.second);
        s
    }

    /// Milliseconds since the Unix epoch.
    pub(crate) fn epoch_millis(self) -> i64 {
        let secs = self.date.days_since_epoch() * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - 8 * 3_600;
        secs * 1_000
    }

    /// The same moment `days` days and `minutes` minutes earlier, clamped to whole days
    /// within the month so it stays a valid date without a borrow across months.
    pub(crate) fn earlier(self, days: u32, minutes: u32) -> Moment {
        let mut m = self;
        m.date.day = m.date.day.saturating_sub(days).max(1);
        let total = (m.hour * 60 + m.minute + 24 * 60 - minutes % (24 * 60)) % (24 * 60);
        m.hour = total / 60;
        m.minute = total % 60;
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_days_match_known_dates() {
        assert_eq!(
            Date {
                year: 1970,
                month: 1,
                day: 1
            }
            .days_since_epoch(),
            0
        );
        assert_eq!(
            Date {
                year: 2000,
                month: 3,
                day: 1
            }
            .days_since_epoch(),
            11_017
        );
        let m = Moment {
            date: Date {
                year: 2024,
                month: 1,
                day: 1,
            },
            hour: 8,
            minute: 0,
            second: 0,
        };
        assert_eq!(m.epoch_millis(), 1_704_067_200_000);
    }

    #[test]
    fn random_dates_are_valid() {
        let mut dice = Dice::new(1);
        for _ in 0..10_000 {
            let d = Date::random(&mut dice, 1940, 2020);
            assert!((1..=12).contains(&d.month));
            assert!(d.day >= 1 && d.day <= days_in_month(d.year, d.month));
        }
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
    }
}
