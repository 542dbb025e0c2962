//! The `partial` operator: hides part of a value and keeps a recognisable shape
//! (`138****5678`, `张**`, `z***@example.com`).
//!
//! With `keep_first` or `keep_last` set it keeps that many characters at either end of any
//! value; otherwise the value's [`PiiType`] picks the shape, and a value that does not fit
//! its type's shape is masked generically. It is not a validator and not a detector: it
//! only looks at the value far enough to choose what to hide. Counts are in `char`s, never
//! bytes, so multi-byte text is never cut inside a character. Whatever the input, a
//! non-empty value never comes out unchanged.
//!
//! Neighbours: `mod.rs` (the operator definitions and `mask_text`, the only caller),
//! `pseudonym.rs` (`hash`, `tokenize`), `generalize.rs` (dates and numbers to ranges).

use super::Partial;
use crate::pii::PiiType;

/// Longest run kept at either end by the generic shape.
const GENERIC_KEEP_MAX: usize = 4;

/// Separators that may sit between the digits of a phone or card number.
const NUMBER_SEPARATORS: &[char] = &[' ', '-', '.', '(', ')'];

/// What may sit between the digits of a mainland mobile number (`+86 138-1234-5678`).
const MOBILE_SEPARATORS: &[char] = &[' ', '-', '.', '(', ')', '+'];

/// Writes the partially masked `value` to `out`.
pub(crate) fn mask(p: &Partial, pii: PiiType, value: &str, out: &mut String) {
    if value.is_empty() {
        return;
    }
    let start = out.len();
    if p.keep_first.is_some() || p.keep_last.is_some() {
        let first = p.keep_first.unwrap_or(0);
        let last = p.keep_last.unwrap_or(0);
        keep_ends(value, first, last, p.mask, out);
    } else if !typed(pii, value, p.mask, out) {
        out.truncate(start);
        generic(value, p.mask, out);
    }
    // A shape can reveal everything when the hidden positions already held the mask
    // character (`a***`) or a name has nothing to hide (`A B`): hide it all instead.
    if out.get(start..) == Some(value) {
        out.truncate(start);
        mask_all(value, p.mask, out);
    }
}

/// Writes the shape of `pii` and returns true, or returns false (perhaps after writing
/// part of it; the caller truncates) when `value` does not fit that shape.
fn typed(pii: PiiType, value: &str, mask: char, out: &mut String) -> bool {
    match pii {
        PiiType::CnMobile => cn_mobile(value, mask, out),
        PiiType::CnIdCard => fixed_ends(value, is_cn_id_card(value), 6, 4, mask, out),
        PiiType::CnUscc => fixed_ends(value, is_cn_uscc(value), 2, 4, mask, out),
        PiiType::CnPassport => fixed_ends(value, is_cn_passport(value), 1, 3, mask, out),
        PiiType::Address => fixed_ends(value, true, 6, 0, mask, out),
        PiiType::PersonName => person_name(value, mask, out),
        PiiType::Email => email(value, mask, out),
        PiiType::BankCard => bank_card(value, mask, out),
        PiiType::E164Phone => e164_phone(value, mask, out),
        PiiType::Ipv4 => ipv4(value, mask, out),
        PiiType::Ipv6 => ipv6(value, mask, out),
        PiiType::Date => date(value, mask, out),
        PiiType::FreeText | PiiType::Generic => false,
    }
}

/// Keeps the first ceil(n/4) and last floor(n/4) characters (at most four each); values of
/// one or two characters are masked whole.
fn generic(value: &str, mask: char, out: &mut String) {
    let n = value.chars().count();
    if n <= 2 {
        mask_all(value, mask, out);
        return;
    }
    let first = n.div_ceil(4).min(GENERIC_KEEP_MAX);
    let last = (n / 4).min(GENERIC_KEEP_MAX);
    keep_ends(value, first, last, mask, out);
}

/// Keeps `first` and `last` characters; when they would cover the whole value, masks it all.
fn keep_ends(value: &str, first: usize, last: usize, mask: char, out: &mut String) {
    // ASCII values (numbers, codes, e-mails) are counted in bytes, the common fast case.
    let ascii = value.is_ascii();
    let n = if ascii {
        value.len()
    } else {
        value.chars().count()
    };
    if first.saturating_add(last) >= n {
        mask_all(value, mask, out);
        return;
    }
    // Copy the kept ends as slices: pushing char by char costs several times more.
    let byte_at = |chars: usize| {
        if ascii {
            chars
        } else {
            value
                .char_indices()
                .nth(chars)
                .map_or(value.len(), |(i, _)| i)
        }
    };
    let head_end = byte_at(first);
    let tail_start = byte_at(n - last);
    out.push_str(value.get(..head_end).unwrap_or_default());
    push_mask(n - first - last, mask, out);
    out.push_str(value.get(tail_start..).unwrap_or_default());
}

/// Writes `count` mask characters.
fn push_mask(count: usize, mask: char, out: &mut String) {
    const STARS: &str = "********************************";
    if mask == '*' {
        let mut left = count;
        while left > 0 {
            let n = left.min(STARS.len());
            out.push_str(STARS.get(..n).unwrap_or_default());
            left -= n;
        }
        return;
    }
    out.reserve(count * mask.len_utf8());
    for _ in 0..count {
        out.push(mask);
    }
}

/// Applies [`keep_ends`] when the value fits its type and the kept ends leave something to
/// hide; returns false otherwise, so the generic shape applies.
fn fixed_ends(
    value: &str,
    fits: bool,
    first: usize,
    last: usize,
    mask: char,
    out: &mut String,
) -> bool {
    if !fits || value.chars().count() <= first.saturating_add(last) {
        return false;
    }
    keep_ends(value, first, last, mask, out);
    true
}

fn mask_all(value: &str, mask: char, out: &mut String) {
    push_mask(value.chars().count(), mask, out);
}

/// Masks the digits whose positions (counted over digits only) fall in `hide`, keeping
/// every other character.
fn mask_digits(value: &str, hide: std::ops::Range<usize>, mask: char, out: &mut String) {
    let mut digit = 0usize;
    for c in value.chars() {
        if c.is_ascii_digit() {
            out.push(if hide.contains(&digit) { mask } else { c });
            digit += 1;
        } else {
            out.push(c);
        }
    }
}

/// Counts the ASCII digits of `value` if every other character is one of `allowed`.
fn count_digits(value: &str, allowed: &[char]) -> Option<usize> {
    let mut digits = 0usize;
    for c in value.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        } else if !allowed.contains(&c) {
            return None;
        }
    }
    Some(digits)
}

/// `13812345678` → `138****5678`; a `+86`, `86` or `0086` prefix and separators are kept.
fn cn_mobile(value: &str, mask: char, out: &mut String) -> bool {
    // The common case, eleven bare digits, without walking the characters.
    if let [b'1', b'3'..=b'9', rest @ ..] = value.as_bytes() {
        if rest.len() == 9 && rest.iter().all(u8::is_ascii_digit) {
            out.push_str(value.get(..3).unwrap_or_default());
            push_mask(4, mask, out);
            out.push_str(value.get(7..).unwrap_or_default());
            return true;
        }
    }
    let Some(digits) = count_digits(value, MOBILE_SEPARATORS) else {
        return false;
    };
    let mut all = value.chars().filter(char::is_ascii_digit);
    let country = match digits {
        11 => 0,
        13 if all.by_ref().take(2).eq("86".chars()) => 2,
        15 if all.by_ref().take(4).eq("0086".chars()) => 4,
        _ => return false,
    };
    // `all` has consumed the country code (if any); the national number starts here.
    let mut national = all;
    let leading_one = national.next() == Some('1');
    let second_ok = national.next().is_some_and(|c| ('3'..='9').contains(&c));
    if !leading_one || !second_ok {
        return false;
    }
    mask_digits(value, country + 3..country + 7, mask, out);
    true
}

/// 17 digits and a digit or `X` check character.
fn is_cn_id_card(value: &str) -> bool {
    value.len() == 18
        && value
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || (i == 17 && matches!(c, 'X' | 'x')))
}

fn is_cn_uscc(value: &str) -> bool {
    value.len() == 18 && value.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_cn_passport(value: &str) -> bool {
    (5..=12).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Whether `c` is a CJK unified ideograph (the characters of Chinese names).
fn is_cjk(c: char) -> bool {
    matches!(
        u32::from(c),
        0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xF900..=0xFAFF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2EBEF
            | 0x30000..=0x3134F
    )
}

/// `张三` → `张*`; `John Smith` → `J*** Smith`; `Madonna` → `M******`.
fn person_name(value: &str, mask: char, out: &mut String) -> bool {
    if value.chars().all(|c| is_cjk(c) || c == '·') {
        if !value.chars().next().is_some_and(is_cjk) {
            return false;
        }
        let mut chars = value.chars();
        out.extend(chars.next());
        out.extend(chars.map(|_| mask));
        return true;
    }
    let latin = value.chars().any(char::is_alphabetic)
        && value.chars().all(|c| {
            (c.is_alphabetic() && !is_cjk(c)) || c.is_whitespace() || matches!(c, '-' | '\'' | '.')
        });
    if !latin {
        return false;
    }
    let words = value.split_whitespace().count();
    let mut word = 0usize;
    let mut in_word = false;
    let mut pos = 0usize;
    for c in value.chars() {
        if c.is_whitespace() {
            in_word = false;
            out.push(c);
            continue;
        }
        if !in_word {
            in_word = true;
            word += 1;
            pos = 0;
        }
        let keep = pos == 0 || (words > 1 && word == words);
        out.push(if keep { c } else { mask });
        pos += 1;
    }
    true
}

/// `zhangsan@example.com` → `z***@example.com`; a one-character local part becomes `***`.
fn email(value: &str, mask: char, out: &mut String) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let fits = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace);
    if !fits {
        return false;
    }
    let mut chars = local.chars();
    let first = chars.next();
    if chars.next().is_some() {
        out.extend(first);
    }
    out.extend([mask; 3]);
    out.push('@');
    out.push_str(domain);
    true
}

/// `6222 0202 0000 1234` → `**** **** **** 1234`.
fn bank_card(value: &str, mask: char, out: &mut String) -> bool {
    match count_digits(value, &[' ', '-']) {
        Some(digits @ 13..=19) => {
            mask_digits(value, 0..digits - 4, mask, out);
            true
        }
        _ => false,
    }
}

/// `+447700900123` → `+44******0123`.
fn e164_phone(value: &str, mask: char, out: &mut String) -> bool {
    let Some(rest) = value.strip_prefix('+') else {
        return false;
    };
    match count_digits(rest, NUMBER_SEPARATORS) {
        Some(digits @ 8..=15) => {
            out.push('+');
            mask_digits(rest, 2..digits - 4, mask, out);
            true
        }
        _ => false,
    }
}

/// `192.168.1.10` → `192.168.*.*`.
fn ipv4(value: &str, mask: char, out: &mut String) -> bool {
    let fits = value.split('.').count() == 4
        && value
            .split('.')
            .all(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()));
    if !fits {
        return false;
    }
    for (i, group) in value.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        if i < 2 {
            out.push_str(group);
        } else {
            out.push(mask);
        }
    }
    true
}

/// `2001:db8::1` → `2001:db8:*:*`: the first two groups kept, one mask per later group.
fn ipv6(value: &str, mask: char, out: &mut String) -> bool {
    if value.parse::<std::net::Ipv6Addr>().is_err() {
        return false;
    }
    for (i, group) in value.split(':').enumerate() {
        if i > 0 {
            out.push(':');
        }
        if i < 2 {
            out.push_str(group);
        } else {
            out.push(mask);
        }
    }
    true
}

/// `1990-05-17` → `1990-**-**`: every digit after the year is masked, separators kept.
fn date(value: &str, mask: char, out: &mut String) -> bool {
    let year_digits = value.chars().take(4).filter(char::is_ascii_digit).count();
    let Some(digits) = count_digits(value, &['-', '/', '.', ':', ' ', 'T', 'Z', '+']) else {
        return false;
    };
    if year_digits != 4 || digits <= 4 {
        return false;
    }
    mask_digits(value, 4..usize::MAX, mask, out);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn typed_mask(pii: PiiType, value: &str) -> String {
        let mut out = String::new();
        mask(&Partial::default(), pii, value, &mut out);
        out
    }

    fn keep(first: Option<usize>, last: Option<usize>, value: &str) -> String {
        let p = Partial {
            keep_first: first,
            keep_last: last,
            mask: '*',
        };
        let mut out = String::new();
        mask(&p, PiiType::CnMobile, value, &mut out);
        out
    }

    #[test]
    fn cn_mobile_shapes() {
        assert_eq!(typed_mask(PiiType::CnMobile, "13812345678"), "138****5678");
        assert_eq!(
            typed_mask(PiiType::CnMobile, "+86 138-1234-5678"),
            "+86 138-****-5678"
        );
        assert_eq!(
            typed_mask(PiiType::CnMobile, "+8613812345678"),
            "+86138****5678"
        );
        assert_eq!(
            typed_mask(PiiType::CnMobile, "0086 13812345678"),
            "0086 138****5678"
        );
        assert_eq!(
            typed_mask(PiiType::CnMobile, "138 1234 5678"),
            "138 **** 5678"
        );
        // Not a mobile number: generic.
        assert_eq!(typed_mask(PiiType::CnMobile, "abc"), "a**");
        assert_eq!(typed_mask(PiiType::CnMobile, "12812345678"), "128******78");
    }

    #[test]
    fn id_card_uscc_passport() {
        assert_eq!(
            typed_mask(PiiType::CnIdCard, "110101199003071234"),
            "110101********1234"
        );
        assert_eq!(
            typed_mask(PiiType::CnIdCard, "11010119900307123X"),
            "110101********123X"
        );
        assert_eq!(typed_mask(PiiType::CnIdCard, "1101011990"), "110*****90");
        assert_eq!(
            typed_mask(PiiType::CnUscc, "91350100M000100Y43"),
            "91************0Y43"
        );
        assert_eq!(typed_mask(PiiType::CnPassport, "E12345678"), "E*****678");
    }

    #[test]
    fn person_names() {
        assert_eq!(typed_mask(PiiType::PersonName, "张三"), "张*");
        assert_eq!(typed_mask(PiiType::PersonName, "张三丰"), "张**");
        assert_eq!(typed_mask(PiiType::PersonName, "欧阳娜娜"), "欧***");
        assert_eq!(typed_mask(PiiType::PersonName, "张"), "*");
        assert_eq!(typed_mask(PiiType::PersonName, "John Smith"), "J*** Smith");
        assert_eq!(
            typed_mask(PiiType::PersonName, "Mary Ann Lee"),
            "M*** A** Lee"
        );
        assert_eq!(typed_mask(PiiType::PersonName, "Madonna"), "M******");
        assert_eq!(
            typed_mask(PiiType::PersonName, "Zoë Ångström"),
            "Z** Ångström"
        );
        // Nothing to hide in the shape: masked whole rather than revealed.
        assert_eq!(typed_mask(PiiType::PersonName, "A B"), "***");
        // Mixed scripts: generic.
        assert_eq!(typed_mask(PiiType::PersonName, "张John"), "张J**n");
    }

    #[test]
    fn emails() {
        assert_eq!(
            typed_mask(PiiType::Email, "zhangsan@example.com"),
            "z***@example.com"
        );
        assert_eq!(
            typed_mask(PiiType::Email, "a@example.com"),
            "***@example.com"
        );
        assert_eq!(
            typed_mask(PiiType::Email, "张三@例子.中国"),
            "张***@例子.中国"
        );
        assert_eq!(typed_mask(PiiType::Email, "not-an-email"), "not******ail");
        assert_eq!(typed_mask(PiiType::Email, "a@b@c.com"), "a@b****om");
    }

    #[test]
    fn bank_cards_and_phones() {
        assert_eq!(
            typed_mask(PiiType::BankCard, "6222 0202 0000 1234"),
            "**** **** **** 1234"
        );
        assert_eq!(
            typed_mask(PiiType::BankCard, "6222020200001234"),
            "************1234"
        );
        assert_eq!(typed_mask(PiiType::BankCard, "1234"), "1**4");
        assert_eq!(
            typed_mask(PiiType::E164Phone, "+447700900123"),
            "+44******0123"
        );
        assert_eq!(
            typed_mask(PiiType::E164Phone, "+44 7700 900123"),
            "+44 **** **0123"
        );
        assert_eq!(
            typed_mask(PiiType::E164Phone, "447700900123"),
            "447******123"
        );
    }

    #[test]
    fn addresses_ips_dates() {
        assert_eq!(typed_mask(PiiType::Ipv4, "192.168.1.10"), "192.168.*.*");
        assert_eq!(typed_mask(PiiType::Ipv4, "1.2.3"), "1.**3");
        assert_eq!(typed_mask(PiiType::Ipv6, "2001:db8::1"), "2001:db8:*:*");
        assert_eq!(
            typed_mask(PiiType::Ipv6, "2001:db8:0:0:0:0:0:1"),
            "2001:db8:*:*:*:*:*:*"
        );
        assert_eq!(typed_mask(PiiType::Date, "1990-05-17"), "1990-**-**");
        assert_eq!(
            typed_mask(PiiType::Date, "1990-05-17T10:30:00Z"),
            "1990-**-**T**:**:**Z"
        );
        assert_eq!(typed_mask(PiiType::Date, "19900517"), "1990****");
        assert_eq!(typed_mask(PiiType::Date, "May 1990"), "Ma****90");
        assert_eq!(
            typed_mask(PiiType::Address, "北京市朝阳区建国路88号"),
            "北京市朝阳区******"
        );
        assert_eq!(typed_mask(PiiType::Address, "北京"), "**");
    }

    #[test]
    fn generic_shape() {
        assert_eq!(typed_mask(PiiType::Generic, ""), "");
        assert_eq!(typed_mask(PiiType::Generic, "a"), "*");
        assert_eq!(typed_mask(PiiType::Generic, "ab"), "**");
        assert_eq!(typed_mask(PiiType::Generic, "abc"), "a**");
        assert_eq!(typed_mask(PiiType::Generic, "abcd"), "a**d");
        assert_eq!(typed_mask(PiiType::Generic, "abcde"), "ab**e");
        let long = typed_mask(PiiType::FreeText, "abcdefghijklmnopqrstuvwxyz");
        assert_eq!(long, format!("abcd{}wxyz", "*".repeat(18)));
        assert_eq!(typed_mask(PiiType::Generic, "日本語テキスト"), "日本****ト");
        // The hidden positions already held the mask character: masked whole.
        assert_eq!(typed_mask(PiiType::Generic, "a***"), "****");
    }

    #[test]
    fn explicit_counts() {
        assert_eq!(keep(Some(3), Some(4), "13812345678"), "138****5678");
        assert_eq!(keep(Some(1), None, "secret"), "s*****");
        assert_eq!(keep(None, Some(2), "secret"), "****et");
        assert_eq!(keep(Some(0), Some(0), "secret"), "******");
        assert_eq!(keep(Some(3), Some(3), "secret"), "******");
        assert_eq!(keep(Some(usize::MAX), Some(usize::MAX), "secret"), "******");
        assert_eq!(keep(Some(1), Some(1), "张三丰"), "张*丰");
        assert_eq!(keep(Some(1), Some(1), ""), "");
        let p = Partial {
            keep_first: Some(1),
            keep_last: None,
            mask: '#',
        };
        let mut out = String::from("prefix:");
        mask(&p, PiiType::Generic, "abc", &mut out);
        assert_eq!(out, "prefix:a##");
    }

    fn value() -> impl Strategy<Value = String> {
        let ch = prop_oneof![
            any::<char>(),
            proptest::char::range('0', '9'),
            proptest::sample::select(vec![' ', '-', '+', '@', '.', ':', '张', 'a', 'Z', '*'])
        ];
        proptest::collection::vec(ch, 1..40).prop_map(|v| v.into_iter().collect())
    }

    fn pii() -> impl Strategy<Value = PiiType> {
        proptest::sample::select(PiiType::ALL.to_vec())
    }

    fn settings() -> impl Strategy<Value = Partial> {
        (
            proptest::option::of(0usize..30),
            proptest::option::of(0usize..30),
            proptest::sample::select(vec!['*', '#', 'x', '•']),
        )
            .prop_map(|(keep_first, keep_last, mask)| Partial {
                keep_first,
                keep_last,
                mask,
            })
    }

    proptest! {
        #[test]
        fn never_returns_the_input(p in settings(), pii in pii(), value in value()) {
            let mut out = String::new();
            mask(&p, pii, &value, &mut out);
            // A value made only of mask characters has nothing left to hide.
            if !value.chars().all(|c| c == p.mask) {
                prop_assert_ne!(&out, &value);
            }
            prop_assert!(out.contains(p.mask));
        }
    }
}
