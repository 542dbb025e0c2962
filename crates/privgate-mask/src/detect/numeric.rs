//! Number detectors: mainland mobile numbers, resident ID numbers, bank cards and E.164
//! phone numbers, found from runs of ASCII digits and confirmed by their check digits.
//!
//! A *run* is a maximal sequence of ASCII digits; a *chain* is runs joined by single spaces
//! or hyphens (`138-1234-5678`, `6222 0202 0000 1234 567`), optionally after a `+`. Plain
//! shapes are read from one run, grouped and prefixed shapes from a whole chain, which must
//! start and end where the chain does. A run that belongs to a decimal number (`3.14`) is
//! never a match. This file does not resolve overlaps between kinds (that is `mod.rs`) and
//! knows nothing of letters-and-digits codes (`code.rs`), e-mails (`email.rs`) or IPs
//! (`ip.rs`). It also holds the GB 11643 and Luhn checks.

use super::{byte_before_is, byte_is, next_where, push, run_end, Detection, DetectorSet};
use crate::pii::PiiType;

/// Runs of a chain whose lengths are kept; longer chains match no grouped shape.
const MAX_RUNS: usize = 8;
/// Digits of a chain that are kept; longer chains are too long for every kind.
const MAX_DIGITS: usize = 19;

/// Appends the number findings of `text` to `out` (unsorted; `mod.rs` resolves them).
pub(super) fn scan(text: &str, set: DetectorSet, out: &mut Vec<Detection>) {
    let bytes = text.as_bytes();
    let mut pos = 0;
    while let Some(start) = next_where(bytes, pos, is_digit) {
        let end = run_end(bytes, start, is_digit);
        if !in_decimal(bytes, start, end) {
            run_shapes(bytes, start, end, set, out);
        }
        // Grouped and prefixed shapes need a chain that starts here and has more than one
        // run or a `+` in front.
        let inside_chain =
            byte_before_is(bytes, start, is_sep) && byte_before_is(bytes, start - 1, is_digit);
        let grouped = byte_is(bytes, end, is_sep) && byte_is(bytes, end + 1, is_digit);
        if !inside_chain && (grouped || plus_before(bytes, start)) {
            let chain = Chain::at(bytes, start);
            if !in_decimal(bytes, start, chain.end) {
                chain_shapes(bytes, &chain, set, out);
            }
        }
        pos = end;
    }
}

/// Shapes read from the single run `bytes[start..end]`.
fn run_shapes(bytes: &[u8], start: usize, end: usize, set: DetectorSet, out: &mut Vec<Detection>) {
    let run = bytes.get(start..end).unwrap_or_default();
    let plus = plus_before(bytes, start);
    let id_end = id_card_end(bytes, start, end);
    if let Some(id_end) = id_end {
        if set.contains(PiiType::CnIdCard) {
            push(out, start..id_end, PiiType::CnIdCard);
        }
    }
    if set.contains(PiiType::CnMobile) {
        if is_mobile(run) {
            push(out, start..end, PiiType::CnMobile);
        } else if is_prefixed_mobile(run) {
            let lo = if plus { start - 1 } else { start };
            push(out, lo..end, PiiType::CnMobile);
        }
    }
    // A card number glued to ASCII letters is an identifier (`ORD2024050600004`), not a
    // card: Luhn alone passes one run of digits in ten.
    let in_word = byte_before_is(bytes, start, |b| b.is_ascii_alphabetic())
        || byte_is(bytes, end, |b| b.is_ascii_alphabetic());
    if set.contains(PiiType::BankCard) && !plus && !in_word && id_end.is_none() && is_card(run) {
        push(out, start..end, PiiType::BankCard);
    }
}

/// Shapes read from the chain starting at `chain.start`: grouped and prefixed mobiles,
/// grouped cards and E.164 numbers.
fn chain_shapes(bytes: &[u8], chain: &Chain, set: DetectorSet, out: &mut Vec<Detection>) {
    let plus = plus_before(bytes, chain.start);
    if chain.runs < 2 && !plus {
        return;
    }
    let lo = if plus { chain.start - 1 } else { chain.start };
    let digits = chain.digits();
    if set.contains(PiiType::E164Phone)
        && plus
        && (8..=15).contains(&chain.count)
        && digits.first() != Some(&b'0')
    {
        push(out, lo..chain.end, PiiType::E164Phone);
    }
    if chain.runs < 2 {
        return;
    }
    let lens = chain.lens();
    if set.contains(PiiType::CnMobile) {
        let mobile = match lens {
            [3, 4, 4] => !plus && is_mobile(digits),
            [2, 11] | [2, 3, 4, 4] => is_prefixed_mobile(digits),
            _ => false,
        };
        if mobile {
            push(out, lo..chain.end, PiiType::CnMobile);
        }
    }
    if set.contains(PiiType::BankCard) && !plus && is_card_grouping(lens) && is_card(digits) {
        push(out, chain.start..chain.end, PiiType::BankCard);
    }
}

/// Digit runs joined by single spaces or hyphens.
#[derive(Debug)]
struct Chain {
    start: usize,
    end: usize,
    /// Number of runs.
    runs: usize,
    /// Lengths of the first [`MAX_RUNS`] runs.
    lens: [usize; MAX_RUNS],
    /// Number of digits.
    count: usize,
    /// The first [`MAX_DIGITS`] digits, separators removed.
    digits: [u8; MAX_DIGITS],
}

impl Chain {
    /// The chain whose first run starts at `start`.
    fn at(bytes: &[u8], start: usize) -> Self {
        let mut chain = Chain {
            start,
            end: start,
            runs: 0,
            lens: [0; MAX_RUNS],
            count: 0,
            digits: [0; MAX_DIGITS],
        };
        let mut pos = start;
        loop {
            let end = run_end(bytes, pos, is_digit);
            if let Some(slot) = chain.lens.get_mut(chain.runs) {
                *slot = end - pos;
            }
            chain.runs += 1;
            for &d in bytes.get(pos..end).unwrap_or_default() {
                if let Some(slot) = chain.digits.get_mut(chain.count) {
                    *slot = d;
                }
                chain.count += 1;
            }
            chain.end = end;
            if byte_is(bytes, end, is_sep) && byte_is(bytes, end + 1, is_digit) {
                pos = end + 1;
            } else {
                return chain;
            }
        }
    }

    /// The digits, or an empty slice when the chain is longer than any match.
    fn digits(&self) -> &[u8] {
        self.digits.get(..self.count).unwrap_or_default()
    }

    /// The run lengths, or an empty slice when there are too many runs to match anything.
    fn lens(&self) -> &[usize] {
        self.lens.get(..self.runs).unwrap_or_default()
    }
}

/// Groups of four, then a last group of one to four (`6222 0202 0000 1234 567`).
fn is_card_grouping(lens: &[usize]) -> bool {
    match lens.split_last() {
        Some((last, init)) => {
            init.len() >= 3 && init.iter().all(|&n| n == 4) && (1..=4).contains(last)
        }
        None => false,
    }
}

fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'-'
}

/// Whether the run `start..end` is part of a decimal number such as `3.1415926535897`.
fn in_decimal(bytes: &[u8], start: usize, end: usize) -> bool {
    let before =
        byte_before_is(bytes, start, |b| b == b'.') && byte_before_is(bytes, start - 1, is_digit);
    let after = byte_is(bytes, end, |b| b == b'.') && byte_is(bytes, end + 1, is_digit);
    before || after
}

/// Whether `start` follows a `+` that does not itself follow a digit (`1+2` is arithmetic).
fn plus_before(bytes: &[u8], start: usize) -> bool {
    byte_before_is(bytes, start, |b| b == b'+') && !byte_before_is(bytes, start - 1, is_digit)
}

/// End of the ID card number starting with the run `start..end`, if there is a valid one:
/// 18 digits, or 17 digits and `X`, with no ASCII letter or digit right after.
fn id_card_end(bytes: &[u8], start: usize, end: usize) -> Option<usize> {
    let run = bytes.get(start..end)?;
    let (body, check, id_end) = match run.len() {
        18 => (run.get(..17)?, *run.get(17)?, end),
        17 if byte_is(bytes, end, |b| b == b'X' || b == b'x') => (run, b'X', end + 1),
        _ => return None,
    };
    let free_after = !byte_is(bytes, id_end, |b| b.is_ascii_alphanumeric());
    (free_after && is_id_card(body, check)).then_some(id_end)
}

/// A mobile number: `1[3-9]` and nine more digits.
fn is_mobile(digits: &[u8]) -> bool {
    match digits {
        [b'1', b'3'..=b'9', rest @ ..] => rest.len() == 9 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// A mobile number after the country code: `86` and a mobile number.
fn is_prefixed_mobile(digits: &[u8]) -> bool {
    matches!(digits, [b'8', b'6', rest @ ..] if is_mobile(rest))
}

/// A card number: 13–19 digits starting with 2–9, Luhn-valid, not all the same digit, and
/// not a mobile number with its country code or an ID card number (those are reported as
/// what they are).
///
/// The first digit is the ISO/IEC 7812 major industry identifier: payment cards use 2–6 (and
/// some domestic cards 9), while 0 is unassigned and 1 is airline-only. Excluding 0 and 1
/// keeps millisecond timestamps (13 digits starting `1`) and most snowflake ids, one in ten
/// of which pass Luhn, from being reported as cards.
fn is_card(digits: &[u8]) -> bool {
    let is_id = || matches!(digits.split_last(), Some((&check, body)) if is_id_card(body, check));
    let all_same = || {
        digits
            .first()
            .is_some_and(|f| digits.iter().all(|d| d == f))
    };
    (13..=19).contains(&digits.len())
        && matches!(digits.first(), Some(b'2'..=b'9'))
        && luhn(digits)
        && !all_same()
        && !is_prefixed_mobile(digits)
        && !is_id()
}

/// Whether `digits` (ASCII) pass the Luhn check.
fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &b) in digits.iter().rev().enumerate() {
        let Some(d) = digit_value(b) else {
            return false;
        };
        sum += if i % 2 == 1 {
            (d * 2) % 10 + d * 2 / 10
        } else {
            d
        };
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// GB 11643 weights of the first 17 characters of an ID card number.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each weighted sum modulo 11.
const ID_CHECKS: &[u8; 11] = b"10X98765432";

/// Whether `body` (17 digits) and `check` form a valid ID card number: region code starting
/// 1–8, a birth date between 1900 and 2100 that exists, and the GB 11643 check character.
fn is_id_card(body: &[u8], check: u8) -> bool {
    if body.len() != 17 || !matches!(body.first(), Some(b'1'..=b'8')) {
        return false;
    }
    let mut sum = 0u32;
    for (&b, w) in body.iter().zip(ID_WEIGHTS) {
        let Some(d) = digit_value(b) else {
            return false;
        };
        sum += d * w;
    }
    let expected = ID_CHECKS.get((sum % 11) as usize).copied();
    expected == Some(check.to_ascii_uppercase())
        && is_birth_date(body.get(6..14).unwrap_or_default())
}

/// Whether `yyyymmdd` is a date that exists, with a year in 1900..=2100.
fn is_birth_date(yyyymmdd: &[u8]) -> bool {
    let field = |range: std::ops::Range<usize>| yyyymmdd.get(range).and_then(number);
    let (Some(year), Some(month), Some(day)) = (field(0..4), field(4..6), field(6..8)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1900..=2100).contains(&year) && (1..=days).contains(&day)
}

/// The value of a short string of ASCII digits.
fn number(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |acc, &b| Some(acc * 10 + digit_value(b)?))
}

fn digit_value(b: u8) -> Option<u32> {
    char::from(b).to_digit(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detectors;

    fn found(set: DetectorSet, text: &str) -> Vec<(PiiType, &str)> {
        let mut out = Vec::new();
        Detectors::new(set).find(text, &mut out);
        out.iter()
            .map(|d| (d.kind, &text[d.range.clone()]))
            .collect()
    }

    fn all(text: &str) -> Vec<(PiiType, &str)> {
        found(DetectorSet::all(), text)
    }

    /// Appends the Luhn check digit to `body`.
    fn with_luhn(body: &str) -> String {
        (0..10)
            .map(|d| format!("{body}{d}"))
            .find(|s| luhn(s.as_bytes()))
            .unwrap()
    }

    #[test]
    fn checksums_match_known_values() {
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(luhn(b"79927398713"));
        assert!(luhn(b"1700000000004"));
        assert!(!luhn(b""));
        assert!(is_id_card(b"11010519491231002", b'X'));
        assert!(is_id_card(b"11010519491231002", b'x'));
        assert!(!is_id_card(b"11010519491231002", b'3'));
        assert!(is_id_card(b"11010119900307123", b'3'));
        assert_eq!(with_luhn("622202020000123456"), "6222020200001234562");
    }

    #[test]
    fn birth_dates_must_exist() {
        assert!(is_birth_date(b"20000229"));
        assert!(!is_birth_date(b"19000229"));
        assert!(!is_birth_date(b"19991301"));
        assert!(!is_birth_date(b"19990100"));
        assert!(!is_birth_date(b"18991231"));
        assert!(!is_birth_date(b"19990431"));
    }

    #[test]
    fn mobile_numbers_in_free_text() {
        use PiiType::CnMobile as M;
        assert_eq!(all("call 13812345678 after 5pm"), [(M, "13812345678")]);
        assert_eq!(all("电话13812345678，谢谢"), [(M, "13812345678")]);
        assert_eq!(all("Tel:19912345678."), [(M, "19912345678")]);
        assert_eq!(
            all("手机 +86 138-1234-5678 联系"),
            [(M, "+86 138-1234-5678")]
        );
        assert_eq!(all("+8613812345678"), [(M, "+8613812345678")]);
        assert_eq!(all("8613812345678"), [(M, "8613812345678")]);
        assert_eq!(all("86 138 1234 5678"), [(M, "86 138 1234 5678")]);
        assert_eq!(all("+86-13812345678"), [(M, "+86-13812345678")]);
        assert_eq!(all("138 1234 5678"), [(M, "138 1234 5678")]);
        assert_eq!(all("号码138-1234-5678。"), [(M, "138-1234-5678")]);
    }

    #[test]
    fn mobile_near_misses_are_not_found() {
        let mobile = DetectorSet::empty().with(PiiType::CnMobile);
        for text in [
            "23812345678",
            "12812345678",
            "1381234567",
            "138123456789",
            "a 138123456789 b",
            "x13812345678.5",
            "3.13812345678",
            "138 1234 56789",
            "138  1234 5678",
            "+138 1234 5678",
            "87 138 1234 5678",
            "0 138 1234 5678",
        ] {
            assert_eq!(found(mobile, text), [], "{text}");
        }
    }

    #[test]
    fn id_cards_in_free_text() {
        use PiiType::CnIdCard as I;
        assert_eq!(
            all("身份证号11010519491231002X。"),
            [(I, "11010519491231002X")]
        );
        assert_eq!(all("id 11010519491231002x ok"), [(I, "11010519491231002x")]);
        assert_eq!(
            all("身份证号110101199003071233。"),
            [(I, "110101199003071233")]
        );
        assert_eq!(all("ID110101199003071233"), [(I, "110101199003071233")]);
    }

    #[test]
    fn id_card_near_misses_are_not_found() {
        let id = DetectorSet::empty().with(PiiType::CnIdCard);
        for text in [
            "110105194912310021",
            "身份证号110101199003071234。",
            "11010519491231002Xa",
            "11010519491231002X1",
            "110101199003071233X",
            "1110101199003071233",
            "11010119900307123",
            "910101199003071236",
            // Valid check digit over an impossible date (1990-13-07).
            "110101199013071237",
        ] {
            assert_eq!(found(id, text), [], "{text}");
        }
    }

    #[test]
    fn id_card_wins_over_bank_card() {
        // Luhn-valid and ID-valid at once: reported as an ID, never as a card.
        let id = (0..1000)
            .map(|n| format!("11010119900307{n:03}"))
            .flat_map(|body| {
                ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"].map(|c| body.clone() + c)
            })
            .find(|s| luhn(s.as_bytes()) && is_id_card(&s.as_bytes()[..17], s.as_bytes()[17]))
            .unwrap();
        assert_eq!(all(&id), [(PiiType::CnIdCard, id.as_str())]);
        assert_eq!(found(DetectorSet::empty().with(PiiType::BankCard), &id), []);
    }

    #[test]
    fn bank_cards_in_free_text() {
        use PiiType::BankCard as B;
        let long = with_luhn("622202020000123456");
        assert_eq!(all("card 4111111111111111 exp"), [(B, "4111111111111111")]);
        assert_eq!(all(&format!("卡号{long}，")), [(B, long.as_str())]);
        assert_eq!(
            all("卡号 6222 0202 0000 1234 562 谢谢"),
            [(B, "6222 0202 0000 1234 562")]
        );
        assert_eq!(all("4111-1111-1111-1111"), [(B, "4111-1111-1111-1111")]);
        let thirteen = with_luhn("430000000000");
        assert_eq!(all(&thirteen), [(B, thirteen.as_str())]);
    }

    #[test]
    fn bank_card_near_misses_are_not_found() {
        let card = DetectorSet::empty().with(PiiType::BankCard);
        for text in [
            "4111111111111112",
            "41111111111111111",
            "0000000000000000",
            "12345678901234567890",
            "4111 1111 1111 1111 2",
            "41111 111 1111 1111",
            "1.4111111111111111",
            "+4111111111111111",
            "8613812345671",
            // Luhn-valid millisecond timestamp.
            "1700000000004",
            "0000000000000000000",
            // Order numbers: Luhn-valid digits glued to letters.
            "ORD2024050600004",
            "2024050600004X",
        ] {
            assert_eq!(found(card, text), [], "{text}");
        }
        assert!(luhn(b"2024050600004"));
        // A 13-digit "86 + mobile" that happens to pass Luhn is a mobile, not a card.
        assert!(luhn(b"8613812345611"));
        assert_eq!(found(card, "8613812345611"), []);
    }

    #[test]
    fn e164_numbers() {
        use PiiType::E164Phone as E;
        assert_eq!(all("call +447700900123 now"), [(E, "+447700900123")]);
        assert_eq!(all("電話+44 7700 900123。"), [(E, "+44 7700 900123")]);
        assert_eq!(all("+1-202-555-0143"), [(E, "+1-202-555-0143")]);
        assert_eq!(all("+12025550143"), [(E, "+12025550143")]);
        // A mainland mobile number with +86 is a CnMobile, unless only E.164 is enabled.
        assert_eq!(
            all("+8613812345678"),
            [(PiiType::CnMobile, "+8613812345678")]
        );
        let e164 = DetectorSet::empty().with(E);
        assert_eq!(found(e164, "+8613812345678"), [(E, "+8613812345678")]);
        for text in [
            "+0447700900123",
            "+1234567",
            "+1234567890123456",
            "3+447700900123",
            "+ 447700900123",
        ] {
            assert_eq!(found(e164, text), [], "{text}");
        }
    }
}
