//! The `generalize` operator: coarsens a date to its year or month and a number to the
//! range of a fixed width that holds it (`1990-05-17` → `1990`, `34` → `30-39`).
//!
//! It recognises only what it can coarsen without guessing: a leading calendar date
//! (`YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD` or `YYYYMMDD`, optionally followed by a time)
//! and a plain decimal number. Anything else is refused, and the caller redacts it; this
//! module never falls back to writing the value. It is not a date library: there are no
//! time zones, no calendars other than the Gregorian one and no locale formats.
//!
//! Neighbours: `mod.rs` (the operator definitions and `mask_text`, the caller),
//! `partial.rs` (shape-keeping masks), `pseudonym.rs` (`hash`, `tokenize`).

use std::fmt::Write as _;

use super::{DateGranularity, Generalize};

/// Writes the generalised `value` to `out` and returns true, or returns false and writes
/// nothing when the value is neither a date nor a number.
pub(crate) fn generalize(g: &Generalize, value: &str, out: &mut String) -> bool {
    let value = value.trim();
    if let Some(date) = parse_date(value) {
        // Years are 1000..=2999 and months 1..=12: written by hand, as `write!` costs
        // more than the rest of the masking of a value.
        push_digits(date.year, 4, out);
        if g.date == DateGranularity::YearMonth {
            out.push('-');
            push_digits(date.month, 2, out);
        }
        return true;
    }
    let Some(n) = parse_floor(value) else {
        return false;
    };
    let Some((lo, hi)) = bucket_of(n, g.bucket) else {
        return false;
    };
    let _ = if lo == hi {
        write!(out, "{lo}")
    } else {
        write!(out, "{lo}-{hi}")
    };
    true
}

/// Writes the last `width` decimal digits of `n`, zero-padded.
fn push_digits(n: u32, width: u32, out: &mut String) {
    for k in (0..width).rev() {
        let digit = (n / 10u32.pow(k)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Date {
    year: u32,
    month: u32,
}

/// A reader over ASCII bytes that never indexes.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        match self.rest.split_first() {
            Some((&b, rest)) if b == byte => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    /// Reads between `min` and `max` digits (as many as there are, up to `max`).
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let len = self
            .rest
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if len < min {
            return None;
        }
        let (digits, rest) = self.rest.split_at_checked(len)?;
        self.rest = rest;
        Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }
}

/// Parses a date at the start of `value`, requiring whatever follows to look like a time.
fn parse_date(value: &str) -> Option<Date> {
    let mut c = Cursor {
        rest: value.as_bytes(),
    };
    let year = c.digits(4, 4)?;
    let (month, day) = match c.peek()? {
        sep @ (b'-' | b'/' | b'.') => {
            c.eat(sep);
            let month = c.digits(1, 2)?;
            if !c.eat(sep) {
                return None;
            }
            (month, c.digits(1, 2)?)
        }
        _ => (c.digits(2, 2)?, c.digits(2, 2)?),
    };
    let valid = (1000..=2999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day);
    (valid && is_time_or_nothing(c.rest)).then_some(Date { year, month })
}

/// Accepts nothing, or `T`/space and a time such as `10:30`, `10:30:00.5Z`, `10:30+08:00`.
fn is_time_or_nothing(rest: &[u8]) -> bool {
    let mut c = Cursor { rest };
    if c.peek().is_none() {
        return true;
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return false;
    }
    let hour_minute = matches!(c.digits(2, 2), Some(0..=23))
        && c.eat(b':')
        && matches!(c.digits(2, 2), Some(0..=59));
    hour_minute
        && c.rest
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b':' | b'.' | b'+' | b'-' | b'Z' | b'z'))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `[+-]digits[.digits]` and returns its floor, so `-0.5` lies in the range below 0
/// like every other negative number. Exponents and numbers beyond `i128` are refused.
fn parse_floor(value: &str) -> Option<i128> {
    let (negative, unsigned) = match value.as_bytes().first()? {
        b'-' => (true, value.get(1..)?),
        b'+' => (false, value.get(1..)?),
        _ => (false, value),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let magnitude = int.bytes().try_fold(0i128, |n, d| {
        n.checked_mul(10)?.checked_add(i128::from(d - b'0'))
    })?;
    let has_fraction = frac.bytes().any(|b| b != b'0');
    if negative {
        magnitude
            .checked_neg()?
            .checked_sub(i128::from(has_fraction))
    } else {
        Some(magnitude)
    }
}

/// The inclusive range `[lo, hi]` of width `bucket` (aligned on multiples of it) holding
/// `n`; a bucket of 0 or 1 is `n` itself.
fn bucket_of(n: i128, bucket: u64) -> Option<(i128, i128)> {
    let width = i128::from(bucket.max(1));
    let lo = n.checked_sub(n.rem_euclid(width))?;
    let hi = lo.checked_add(width - 1)?;
    Some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(date: DateGranularity, bucket: u64, value: &str) -> Option<String> {
        let mut out = String::new();
        generalize(&Generalize { date, bucket }, value, &mut out).then_some(out)
    }

    fn year(value: &str) -> Option<String> {
        run(DateGranularity::Year, 10, value)
    }

    fn month(value: &str) -> Option<String> {
        run(DateGranularity::YearMonth, 10, value)
    }

    fn num(bucket: u64, value: &str) -> Option<String> {
        run(DateGranularity::Year, bucket, value)
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn dates_in_every_spelling() {
        for value in [
            "1990-05-17",
            "1990/05/17",
            "1990.05.17",
            "19900517",
            "1990-5-7",
            "1990-05-17T10:30:00Z",
            "1990-05-17T10:30:00.123+08:00",
            "1990-05-17 10:30",
            " 1990-05-17 ",
        ] {
            assert_eq!(year(value), some("1990"), "{value}");
        }
        assert_eq!(month("1990-05-17"), some("1990-05"));
        assert_eq!(month("1990-5-7"), some("1990-05"));
        assert_eq!(month("20240229"), some("2024-02"));
        assert_eq!(year("2999-12-31"), some("2999"));
        assert_eq!(year("1000-01-01"), some("1000"));
    }

    #[test]
    fn near_dates_are_not_dates() {
        // Not a date and not a number: refused.
        for value in [
            "1990-13-01",
            "1990-00-10",
            "1990-02-30",
            "2023-02-29",
            "0999-05-17",
            "3000-05-17",
            "1990-05/17",
            "1990-05-17abc",
            "1990-05-17T",
            "1990-05-17T25:00",
            "1990-05",
            "May 17, 1990",
        ] {
            assert_eq!(year(value), None, "{value}");
        }
        // Compact spellings that are no date are numbers.
        assert_eq!(year("19901317"), some("19901310-19901319"));
        assert_eq!(year("1990051712"), some("1990051710-1990051719"));
        assert_eq!(year("2024"), some("2020-2029"));
    }

    #[test]
    fn numbers_fall_into_buckets() {
        assert_eq!(num(10, "34"), some("30-39"));
        assert_eq!(num(10, "30"), some("30-39"));
        assert_eq!(num(10, "39.99"), some("30-39"));
        assert_eq!(num(10, "34.5"), some("30-39"));
        assert_eq!(num(10, "+34"), some("30-39"));
        assert_eq!(num(10, "0"), some("0-9"));
        assert_eq!(num(10, "-0"), some("0-9"));
        assert_eq!(num(10, "-5"), some("-10--1"));
        assert_eq!(num(10, "-10"), some("-10--1"));
        assert_eq!(num(10, "-0.5"), some("-10--1"));
        assert_eq!(num(10, "-11"), some("-20--11"));
        assert_eq!(num(5, "34"), some("30-34"));
        assert_eq!(num(100, "007"), some("0-99"));
        assert_eq!(num(1, "34.9"), some("34"));
        assert_eq!(num(0, "34"), some("34"));
        assert_eq!(num(0, "-5.5"), some("-6"));
        assert_eq!(num(u64::MAX, "34"), some("0-18446744073709551614"));
        assert_eq!(num(10, " 34 "), some("30-39"));
    }

    #[test]
    fn non_numbers_are_refused() {
        for value in [
            "",
            " ",
            "-",
            "+",
            ".5",
            "5.",
            "1.2.3",
            "1e3",
            "0x10",
            "3 4",
            "abc",
            "三十四",
            "--5",
            "99999999999999999999999999999999999999999",
        ] {
            assert_eq!(num(10, value), None, "{value}");
        }
        let mut out = String::from("kept");
        assert!(!generalize(&Generalize::default(), "abc", &mut out));
        assert_eq!(out, "kept");
    }

    #[test]
    fn extreme_numbers_do_not_overflow() {
        let max = i128::MAX.to_string();
        let min = i128::MIN.to_string();
        assert_eq!(num(10, &max), None);
        assert_eq!(num(1, &max), Some(max.clone()));
        assert_eq!(num(10, &min), None);
        assert_eq!(num(1, &min), None);
    }
}
