//! Code detectors: unified social credit codes (GB 32100) and mainland passport numbers,
//! found as whole ASCII words of letters and digits.
//!
//! A *word* is a maximal run of ASCII letters and digits, so a match never has an ASCII
//! letter or digit on either side, while CJK text and punctuation next to it are fine. This
//! file does not look at plain digit runs (`numeric.rs`), e-mails (`email.rs`) or IPs
//! (`ip.rs`), and does not resolve overlaps (`mod.rs`). It holds the GB 32100 and GB 11714
//! checks.

use super::{next_where, push, run_end, Detection, DetectorSet};
use crate::pii::PiiType;

/// Appends the code findings of `text` to `out` (unsorted; `mod.rs` resolves them).
pub(super) fn scan(text: &str, set: DetectorSet, out: &mut Vec<Detection>) {
    let uscc = set.contains(PiiType::CnUscc);
    let passport = set.contains(PiiType::CnPassport);
    if !uscc && !passport {
        return;
    }
    let bytes = text.as_bytes();
    let mut pos = 0;
    // Both codes hold six or more digits in a row, so look for digits first and then
    // widen to the word around them: most text has few digits and many letters.
    while let Some(digit) = next_where(bytes, pos, |b| b.is_ascii_digit()) {
        let head = bytes.get(..digit).map_or(0, |before| {
            before
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count()
        });
        let start = digit - head;
        let end = run_end(bytes, digit, |b| b.is_ascii_alphanumeric());
        let word = bytes.get(start..end).unwrap_or_default();
        match word.len() {
            8 | 9 if passport && is_passport(word) => {
                push(out, start..end, PiiType::CnPassport);
            }
            18 if uscc && is_uscc(word) => push(out, start..end, PiiType::CnUscc),
            _ => {}
        }
        pos = end;
    }
}

fn all_digits(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
}

/// A mainland passport number: `E`/`G` and 8 digits, `E`/`G`, a letter other than `I` and
/// `O`, and 7 digits, or `D`/`S`/`P`, an optional `E`, and 7 digits. Uppercase only.
fn is_passport(word: &[u8]) -> bool {
    match word {
        [b'E' | b'G', rest @ ..] if rest.len() == 8 && all_digits(rest) => true,
        [b'E' | b'G', b'A'..=b'H' | b'J'..=b'N' | b'P'..=b'Z', rest @ ..] => {
            rest.len() == 7 && all_digits(rest)
        }
        [b'D' | b'S' | b'P', b'E', rest @ ..] if rest.len() == 7 && all_digits(rest) => true,
        [b'D' | b'S' | b'P', rest @ ..] => rest.len() == 7 && all_digits(rest),
        _ => false,
    }
}

/// The GB 32100 alphabet: digits and uppercase letters without I, O, S, V and Z.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// GB 32100 weights of the first 17 characters (3^i mod 31).
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Whether `word` is a unified social credit code: 18 characters of the GB 32100
/// alphabet, an administrative division code (six digits) at positions 3–8, and a valid
/// check character.
///
/// A code made only of digits must also carry a valid GB 11714 check digit in its
/// organisation code (positions 9–17): an 18-digit string is far more often an order or
/// transaction number, and one check character in 31 would let too many through.
fn is_uscc(word: &[u8]) -> bool {
    let Some((&check, body)) = word.split_last() else {
        return false;
    };
    if body.len() != 17 || !body.get(2..8).is_some_and(all_digits) {
        return false;
    }
    let mut sum = 0u32;
    for (&b, w) in body.iter().zip(USCC_WEIGHTS) {
        let Some(value) = uscc_value(b) else {
            return false;
        };
        sum += value * w;
    }
    let expected = USCC_ALPHABET.get(((31 - sum % 31) % 31) as usize);
    expected == Some(&check) && (!all_digits(word) || word.get(8..17).is_some_and(is_org_code))
}

/// Position of `b` in the GB 32100 alphabet.
fn uscc_value(b: u8) -> Option<u32> {
    let index = USCC_ALPHABET.iter().position(|&a| a == b)?;
    u32::try_from(index).ok()
}

/// GB 11714 weights of the first 8 characters of an organisation code.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Whether `code` (9 characters) is an organisation code with a valid GB 11714 check.
fn is_org_code(code: &[u8]) -> bool {
    let Some((&check, body)) = code.split_last() else {
        return false;
    };
    let mut sum = 0u32;
    for (&b, w) in body.iter().zip(ORG_WEIGHTS) {
        let Some(value) = char::from(b).to_digit(36) else {
            return false;
        };
        sum += value * w;
    }
    let expected = match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        c => b'0' + c as u8,
    };
    body.len() == 8 && check == expected
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

    #[test]
    fn uscc_checks_match_known_values() {
        assert!(is_uscc(b"91350100M000100Y43"));
        assert!(!is_uscc(b"91350100M000100Y44"));
        assert!(!is_uscc(b"911100000000000061"));
        assert!(is_org_code(b"M000100Y4"));
        assert!(!is_org_code(b"M000100Y5"));
        // A weighted sum that is already a multiple of 11 gives check `0`, and 1 gives `X`.
        assert!(is_org_code(b"000000000"));
        assert!(is_org_code(b"40000000X"));
    }

    #[test]
    fn uscc_in_free_text() {
        use PiiType::CnUscc as U;
        assert_eq!(
            all("统一社会信用代码：91350100M000100Y43。"),
            [(U, "91350100M000100Y43")]
        );
        assert_eq!(
            all("USCC 91350100M000100Y43, ok"),
            [(U, "91350100M000100Y43")]
        );
        // All digits, with valid GB 32100 and GB 11714 checks.
        assert_eq!(all("代码911100000000000276"), [(U, "911100000000000276")]);
    }

    #[test]
    fn uscc_near_misses_are_not_found() {
        let uscc = DetectorSet::empty().with(PiiType::CnUscc);
        for text in [
            "91350100M000100Y44",
            "91350100m000100y43",
            "A91350100M000100Y43",
            "91350100M000100Y43B",
            "91350100M000100Y4",
            "91350100M0001O0Y43",
            // Right check character, but no division code at positions 3–8.
            "91ABCDEFM000100Y4Y",
            // All digits with a valid GB 32100 check but a bad GB 11714 one.
            "911100000000000061",
        ] {
            assert_eq!(found(uscc, text), [], "{text}");
        }
    }

    #[test]
    fn passports_in_free_text() {
        use PiiType::CnPassport as P;
        assert_eq!(all("护照号E12345678，"), [(P, "E12345678")]);
        assert_eq!(all("passport: G12345678."), [(P, "G12345678")]);
        assert_eq!(all("EA1234567"), [(P, "EA1234567")]);
        assert_eq!(all("新护照 EZ7654321 已签发"), [(P, "EZ7654321")]);
        assert_eq!(all("P1234567"), [(P, "P1234567")]);
        assert_eq!(all("DE1234567"), [(P, "DE1234567")]);
        assert_eq!(all("(S1234567)"), [(P, "S1234567")]);
    }

    #[test]
    fn passport_near_misses_are_not_found() {
        let passport = DetectorSet::empty().with(PiiType::CnPassport);
        for text in [
            "G1234567",
            "E123456789",
            "e12345678",
            "XE12345678",
            "E12345678a",
            "1E12345678",
            "EI1234567",
            "EO1234567",
            "P12345678",
            "DE12345678",
            "A12345678",
        ] {
            assert_eq!(found(passport, text), [], "{text}");
        }
    }
}
