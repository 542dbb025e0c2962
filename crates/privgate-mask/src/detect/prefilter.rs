//! The byte-level pre-filter behind [`Detectors::may_contain`](super::Detectors::may_contain)
//! and the first step of `find`: one pass that notes the few things some detector needs
//! (enough digits, enough digits after a `+`, an `@`, enough colons or a `::`, dots
//! between digits).
//!
//! It never confirms anything and must never miss: every field of [`Hints`] is a necessary
//! condition of a detector, proved by the shapes in the scanners (`numeric.rs`, `code.rs`,
//! `email.rs`, `ip.rs`). The public face and overlap rules live in `mod.rs`.

use super::{next_where, DetectorSet};
use crate::pii::PiiType;

/// What the enabled detectors need to see before they can match, derived once from the set.
#[derive(Debug, Clone)]
pub(super) struct Needs {
    /// Fewest digits in one chain (digit runs joined by single spaces or hyphens) for the
    /// enabled mobile (11), ID card (17) and bank card (13) detectors; `usize::MAX` if none.
    chain: usize,
    /// Fewest digits in one chain after a `+` for E.164 numbers (8), if enabled.
    e164_chain: usize,
    /// Fewest digits in one unbroken run for USCC (6: the division code at positions 3–8)
    /// and passport (7) numbers, if enabled.
    run: usize,
    at: bool,
    dots: bool,
    colons: bool,
}

impl Needs {
    pub(super) fn new(set: DetectorSet) -> Self {
        let fewest = |table: &[(PiiType, usize)]| {
            table
                .iter()
                .filter(|(t, _)| set.contains(*t))
                .map(|(_, n)| *n)
                .min()
                .unwrap_or(usize::MAX)
        };
        Needs {
            chain: fewest(&[
                (PiiType::CnMobile, 11),
                (PiiType::CnIdCard, 17),
                (PiiType::BankCard, 13),
            ]),
            e164_chain: fewest(&[(PiiType::E164Phone, 8)]),
            run: fewest(&[(PiiType::CnUscc, 6), (PiiType::CnPassport, 7)]),
            at: set.contains(PiiType::Email),
            dots: set.contains(PiiType::Ipv4),
            colons: set.contains(PiiType::Ipv6),
        }
    }
}

/// What one pass over the bytes saw.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Hints {
    /// Longest chain of digits, counting runs joined by one space or hyphen.
    chain: usize,
    /// Longest unbroken run of digits.
    run: usize,
    /// Longest chain that starts right after a `+`.
    plus_chain: usize,
    /// Whether there is an `@`.
    at: bool,
    /// Number of `:`.
    colons: usize,
    /// Whether some `:` follows another (`::`).
    double_colon: bool,
    /// Number of `.` with a digit on both sides.
    dotted: usize,
}

impl Hints {
    /// Scans `bytes`; with `early`, stops as soon as some detector becomes possible.
    ///
    /// Bytes below `0x41` (digits, punctuation, spaces) are looked at one by one; stretches
    /// of letters and non-ASCII text are skipped 16 bytes at a time (see
    /// [`next_where`]) up to the next digit, `@` or `:`.
    pub(super) fn scan(bytes: &[u8], needs: &Needs, early: bool) -> Self {
        let mut h = Hints::default();
        let mut cursor = Cursor::default();
        let mut pos = 0;
        while let Some(next) = next_where(bytes, pos, is_interesting) {
            cursor.skip(bytes, pos, next);
            pos = next;
            while let Some(&b) = bytes.get(pos).filter(|&&b| b <= b'@') {
                if cursor.feed(&mut h, b) && early && h.any(needs) {
                    return h;
                }
                pos += 1;
            }
        }
        h
    }

    /// Whether some detector of `needs` may match.
    pub(super) fn any(&self, needs: &Needs) -> bool {
        self.numbers(needs)
            || self.codes(needs)
            || self.emails(needs)
            || self.ipv4(needs)
            || self.ipv6(needs)
    }

    /// Whether the number detectors (`numeric.rs`) may match.
    pub(super) fn numbers(&self, needs: &Needs) -> bool {
        self.chain >= needs.chain || self.plus_chain >= needs.e164_chain
    }

    /// Whether the code detectors (`code.rs`) may match.
    pub(super) fn codes(&self, needs: &Needs) -> bool {
        self.run >= needs.run
    }

    /// Whether the e-mail detector may match.
    pub(super) fn emails(&self, needs: &Needs) -> bool {
        needs.at && self.at
    }

    /// Whether the IPv4 detector may match.
    pub(super) fn ipv4(&self, needs: &Needs) -> bool {
        needs.dots && self.dotted >= 3
    }

    /// Whether the IPv6 detector may match: an address has eight groups (seven colons,
    /// six when it ends in an IPv4 address) or a `::`. Times (`09:30:00+08:00`) have fewer.
    pub(super) fn ipv6(&self, needs: &Needs) -> bool {
        needs.colons && (self.double_colon || self.colons >= 6)
    }
}

/// The state carried from byte to byte: the current chain and run, and the two bytes before.
#[derive(Debug, Default)]
struct Cursor {
    chain: usize,
    /// The current chain started right after a `+`.
    plus: bool,
    run: usize,
    prev2: u8,
    prev: u8,
}

impl Cursor {
    /// Takes in `b`, the next byte, and says whether `h` changed.
    fn feed(&mut self, h: &mut Hints, b: u8) -> bool {
        let (prev2, prev) = (self.prev2, self.prev);
        (self.prev2, self.prev) = (prev, b);
        if b.is_ascii_digit() {
            self.chain += 1;
            self.run += 1;
            h.chain = h.chain.max(self.chain);
            h.run = h.run.max(self.run);
            if prev == b'+' {
                self.plus = true;
            } else if prev == b'.' && prev2.is_ascii_digit() {
                h.dotted += 1;
            }
            if self.plus {
                h.plus_chain = h.plus_chain.max(self.chain);
            }
            return true;
        }
        self.run = 0;
        if !(matches!(b, b' ' | b'-') && prev.is_ascii_digit()) {
            self.chain = 0;
            self.plus = false;
        }
        match b {
            b'@' => h.at = true,
            b':' => {
                h.colons += 1;
                h.double_colon |= prev == b':';
            }
            _ => return false,
        }
        true
    }

    /// Takes in `bytes[from..to]`, known to hold no digit, `@` or `:`: only the run, the
    /// chain and the last two bytes can change.
    fn skip(&mut self, bytes: &[u8], from: usize, to: usize) {
        let byte = |i: usize| bytes.get(i).copied().unwrap_or(0);
        match to.saturating_sub(from) {
            0 => {}
            1 => {
                let b = byte(from);
                self.run = 0;
                if !(matches!(b, b' ' | b'-') && self.prev.is_ascii_digit()) {
                    self.chain = 0;
                    self.plus = false;
                }
                (self.prev2, self.prev) = (self.prev, b);
            }
            _ => {
                (self.chain, self.run, self.plus) = (0, 0, false);
                (self.prev2, self.prev) = (byte(to - 2), byte(to - 1));
            }
        }
    }
}

/// Whether `b` is in `0x30..=0x40`: an ASCII digit, `@`, `:` or one of `;<=>?`.
///
/// Every detector needs an ASCII digit or an `@`, and most short strings (names, Chinese
/// text) have neither.
fn is_interesting(b: u8) -> bool {
    b.wrapping_sub(b'0') <= b'@' - b'0'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detectors;
    use proptest::prelude::*;

    /// The same hints, computed one byte at a time with no skipping.
    fn reference(bytes: &[u8]) -> Hints {
        let mut h = Hints::default();
        let (mut chain, mut run, mut plus) = (0usize, 0usize, false);
        let (mut prev2, mut prev) = (0u8, 0u8);
        for &b in bytes {
            if b.is_ascii_digit() {
                chain += 1;
                run += 1;
                h.chain = h.chain.max(chain);
                h.run = h.run.max(run);
                plus |= prev == b'+';
                if plus {
                    h.plus_chain = h.plus_chain.max(chain);
                }
                h.dotted += usize::from(prev == b'.' && prev2.is_ascii_digit());
            } else {
                run = 0;
                if !(matches!(b, b' ' | b'-') && prev.is_ascii_digit()) {
                    chain = 0;
                    plus = false;
                }
                h.at |= b == b'@';
                h.colons += usize::from(b == b':');
                h.double_colon |= b == b':' && prev == b':';
            }
            (prev2, prev) = (prev, b);
        }
        h
    }

    #[test]
    fn plain_text_is_rejected_and_candidates_accepted() {
        let all = Detectors::default();
        for text in [
            "张三",
            "John Smith",
            "room 12345",
            "10:30",
            "1.2.3",
            "v2 - 3 - 4",
            "Booking 2024-05-01 10:30, room 302",
            "2024-05-06T09:30:00+08:00",
            "12 34 56 78 90",
        ] {
            assert!(!all.may_contain(text.as_bytes()), "{text}");
        }
        for text in [
            "a@b",
            "138 1234 5678",
            "123456",
            "1.2.3.4",
            "a::b",
            "+44 7700 9001",
        ] {
            assert!(all.may_contain(text.as_bytes()), "{text}");
        }
        let cards = Detectors::new(DetectorSet::empty().with(PiiType::BankCard));
        assert!(!cards.may_contain(b"123456789012"));
        assert!(cards.may_contain(b"1234 5678 9012 3"));
        assert!(!cards.may_contain(b"a@b.com 1.2.3.4 ::1 +1234567890"));
        let phones = Detectors::new(DetectorSet::empty().with(PiiType::E164Phone));
        assert!(!phones.may_contain(b"12345678901234"));
        assert!(phones.may_contain(b"tel +1 234 567 89"));
    }

    proptest! {
        #[test]
        fn skipping_scan_equals_byte_by_byte_scan(
            bytes in prop::collection::vec(
                prop::sample::select(b"0189 -.:@+a\xe4\xb8\xad".to_vec()),
                0..80,
            ),
        ) {
            let needs = Needs::new(DetectorSet::all());
            prop_assert_eq!(Hints::scan(&bytes, &needs, false), reference(&bytes));
        }
    }
}
