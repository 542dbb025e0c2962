//! PII detectors: find mobile numbers, ID numbers, cards, e-mails, IPs and similar values
//! inside free text, and report their byte ranges and [`PiiType`]s.
//!
//! This module holds the public face ([`DetectorSet`], [`Detection`], [`Detectors`]) and
//! the rule that resolves overlapping findings. It is not a masker: it only says where
//! values are, and the operator layer decides what to do with them. It uses no regex: every
//! detector is a hand-written scanner that finds a cheap candidate and confirms it by
//! validation (check digits, dates, ranges).
//!
//! Neighbours: `prefilter.rs` (the byte-level check behind [`Detectors::may_contain`]),
//! `numeric.rs` (mobile, ID card, bank card and E.164 numbers, built from runs of
//! digits), `code.rs` (USCC and passport numbers, built from alphanumeric words),
//! `email.rs` (e-mail addresses, found from each `@`), `ip.rs` (IPv4 and IPv6 addresses).

mod code;
mod email;
mod ip;
mod numeric;
mod prefilter;

use std::cmp::Reverse;
use std::ops::Range;

use crate::pii::PiiType;
use prefilter::{Hints, Needs};

/// A set of detector kinds (a bitmask over [`PiiType::index`]).
///
/// Only detectable types (see [`PiiType::is_detectable`]) can be members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DetectorSet(u32);

impl DetectorSet {
    /// The set with no detector.
    pub const fn empty() -> Self {
        DetectorSet(0)
    }

    /// Every detectable type.
    pub fn all() -> Self {
        PiiType::ALL.into_iter().fold(Self::empty(), Self::with)
    }

    /// This set plus `t`; a type without a detector leaves the set unchanged.
    #[must_use]
    pub fn with(self, t: PiiType) -> Self {
        if t.is_detectable() {
            DetectorSet(self.0 | bit(t))
        } else {
            self
        }
    }

    /// Whether `t` is in the set.
    pub fn contains(self, t: PiiType) -> bool {
        self.0 & bit(t) != 0
    }

    /// Whether the set has no detector.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in [`PiiType::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = PiiType> {
        PiiType::ALL.into_iter().filter(move |t| self.contains(*t))
    }
}

impl FromIterator<PiiType> for DetectorSet {
    fn from_iter<I: IntoIterator<Item = PiiType>>(iter: I) -> Self {
        iter.into_iter().fold(Self::empty(), Self::with)
    }
}

const fn bit(t: PiiType) -> u32 {
    1 << t.index()
}

/// One finding: a byte range of the text and its type.
///
/// The range always starts and ends on `char` boundaries of the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// Byte range of the value in the scanned text.
    pub range: Range<usize>,
    /// What the value is.
    pub kind: PiiType,
}

/// Compiled detectors for one [`DetectorSet`].
///
/// Build once and share: the value is immutable, `Send` and `Sync`, and scanning allocates
/// nothing unless it finds something.
#[derive(Debug, Clone)]
pub struct Detectors {
    set: DetectorSet,
    needs: Needs,
}

impl Detectors {
    /// Compiles the detectors of `set`.
    pub fn new(set: DetectorSet) -> Self {
        Detectors {
            set,
            needs: Needs::new(set),
        }
    }

    /// The kinds these detectors report.
    pub fn set(&self) -> DetectorSet {
        self.set
    }

    /// Cheap pre-filter over raw bytes: `false` means [`Detectors::find`] would certainly
    /// find nothing.
    ///
    /// One pass, no allocation, stopping at the first byte that makes a finding possible:
    /// enough digits in a row (or after a `+`), an `@`, a second `:`, or a third `.`
    /// between digits, depending on the enabled set. Text without ASCII digits and `@` is
    /// skipped 16 bytes at a time.
    pub fn may_contain(&self, text: &[u8]) -> bool {
        Hints::scan(text, &self.needs, true).any(&self.needs)
    }

    /// Appends the findings in `text` to `out`, sorted by start and non-overlapping.
    ///
    /// Entries already in `out` are left alone. When candidates overlap, the one that
    /// starts first wins, then the longer one, then the first kind in this order: CnIdCard,
    /// CnUscc, CnMobile, BankCard, E164Phone, CnPassport, Email, Ipv6, Ipv4.
    pub fn find(&self, text: &str, out: &mut Vec<Detection>) {
        let needs = &self.needs;
        let hints = Hints::scan(text.as_bytes(), needs, false);
        let base = out.len();
        if hints.numbers(needs) {
            numeric::scan(text, self.set, out);
        }
        if hints.codes(needs) {
            code::scan(text, self.set, out);
        }
        if hints.emails(needs) {
            email::scan(text, out);
        }
        if hints.ipv4(needs) {
            ip::scan_v4(text, out);
        }
        if hints.ipv6(needs) {
            ip::scan_v6(text, out);
        }
        resolve(out, base);
    }
}

impl Default for Detectors {
    /// Every detector.
    fn default() -> Self {
        Detectors::new(DetectorSet::all())
    }
}

/// Tie-break rank of a kind: lower wins when two candidates cover the same range.
fn rank(kind: PiiType) -> u8 {
    match kind {
        PiiType::CnIdCard => 0,
        PiiType::CnUscc => 1,
        PiiType::CnMobile => 2,
        PiiType::BankCard => 3,
        PiiType::E164Phone => 4,
        PiiType::CnPassport => 5,
        PiiType::Email => 6,
        PiiType::Ipv6 => 7,
        PiiType::Ipv4 => 8,
        _ => 9,
    }
}

/// Sorts the candidates in `out[base..]` and keeps a non-overlapping subset: earliest start,
/// then longest, then best rank. Entries before `base` are not touched.
fn resolve(out: &mut Vec<Detection>, base: usize) {
    let Some(tail) = out.get_mut(base..) else {
        return;
    };
    if tail.len() < 2 {
        return;
    }
    tail.sort_unstable_by_key(|d| (d.range.start, Reverse(d.range.end), rank(d.kind)));
    let mut kept = 0usize;
    let mut end = 0usize;
    for i in 0..tail.len() {
        let Some(range) = tail.get(i).map(|d| d.range.clone()) else {
            break;
        };
        if kept == 0 || range.start >= end {
            tail.swap(kept, i);
            end = range.end;
            kept += 1;
        }
    }
    out.truncate(base + kept);
}

/// Pushes a finding.
fn push(out: &mut Vec<Detection>, range: Range<usize>, kind: PiiType) {
    out.push(Detection { range, kind });
}

/// Whether the byte at `i` exists and satisfies `f`.
fn byte_is(bytes: &[u8], i: usize, f: impl Fn(u8) -> bool) -> bool {
    bytes.get(i).is_some_and(|&b| f(b))
}

/// Whether the byte before `i` exists and satisfies `f`.
fn byte_before_is(bytes: &[u8], i: usize, f: impl Fn(u8) -> bool) -> bool {
    i.checked_sub(1).is_some_and(|j| byte_is(bytes, j, f))
}

/// Position of the first byte at or after `from` that satisfies `f`.
///
/// Checks 16 bytes at a time with a fold that has no early exit, so that a simple `f`
/// (a range or equality test) vectorises; most text has long stretches to skip.
fn next_where(bytes: &[u8], from: usize, f: impl Fn(u8) -> bool) -> Option<usize> {
    const CHUNK: usize = 16;
    let rest = bytes.get(from..)?;
    if rest.first().is_some_and(|&b| f(b)) {
        return Some(from);
    }
    let mut chunks = rest.chunks_exact(CHUNK);
    let hit = chunks.position(|c| c.iter().fold(false, |any, &b| any | f(b)));
    let (offset, window) = match hit {
        Some(i) => (i * CHUNK, rest.get(i * CHUNK..(i + 1) * CHUNK)?),
        None => (rest.len() - chunks.remainder().len(), chunks.remainder()),
    };
    let p = window.iter().position(|&b| f(b))?;
    Some(from + offset + p)
}

/// End of the run of bytes satisfying `f` that starts at `start`.
fn run_end(bytes: &[u8], start: usize, f: impl Fn(u8) -> bool) -> usize {
    let len = bytes
        .get(start..)
        .map_or(0, |rest| rest.iter().take_while(|&&b| f(b)).count());
    start + len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn found(d: &Detectors, text: &str) -> Vec<(PiiType, String)> {
        let mut out = Vec::new();
        d.find(text, &mut out);
        out.iter()
            .map(|x| (x.kind, text[x.range.clone()].to_owned()))
            .collect()
    }

    #[test]
    fn detector_sets_hold_only_detectable_types() {
        let all = DetectorSet::all();
        assert_eq!(all.iter().count(), 9);
        for t in PiiType::ALL {
            assert_eq!(all.contains(t), t.is_detectable(), "{t}");
        }
        assert!(DetectorSet::empty().is_empty());
        assert_eq!(DetectorSet::default(), DetectorSet::empty());
        assert!(DetectorSet::empty().with(PiiType::PersonName).is_empty());
        let two = DetectorSet::empty()
            .with(PiiType::Ipv4)
            .with(PiiType::Email);
        assert_eq!(
            two.iter().collect::<Vec<_>>(),
            [PiiType::Email, PiiType::Ipv4]
        );
        assert_eq!(two.iter().collect::<DetectorSet>(), two);
        assert_eq!(Detectors::new(two).set(), two);
    }

    #[test]
    fn detectors_are_shareable() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Detectors>();
    }

    #[test]
    fn findings_in_mixed_text_are_sorted_and_typed() {
        let text = "张三 13812345678, zhang.san@example.com, 身份证11010519491231002X; \
                    ip 10.0.0.1 / 2001:db8::1; card 4111 1111 1111 1111; E12345678; \
                    +447700900123; 91350100M000100Y43";
        let kinds: Vec<PiiType> = found(&Detectors::default(), text)
            .iter()
            .map(|f| f.0)
            .collect();
        use PiiType::*;
        assert_eq!(
            kinds,
            [CnMobile, Email, CnIdCard, Ipv4, Ipv6, BankCard, CnPassport, E164Phone, CnUscc]
        );
    }

    #[test]
    fn only_enabled_kinds_are_reported() {
        let text = "13812345678 a@b.co 10.0.0.1";
        let mail = Detectors::new(DetectorSet::empty().with(PiiType::Email));
        assert_eq!(found(&mail, text), [(PiiType::Email, "a@b.co".to_owned())]);
        assert_eq!(found(&Detectors::new(DetectorSet::empty()), text), []);
        assert!(!Detectors::new(DetectorSet::empty()).may_contain(text.as_bytes()));
    }

    #[test]
    fn find_appends_after_existing_entries() {
        let earlier = Detection {
            range: 50..60,
            kind: PiiType::Email,
        };
        let mut out = vec![earlier.clone()];
        Detectors::default().find("13812345678", &mut out);
        assert_eq!(
            out,
            [
                earlier,
                Detection {
                    range: 0..11,
                    kind: PiiType::CnMobile
                }
            ]
        );
    }

    #[test]
    fn overlaps_keep_the_earliest_then_longest_then_best_ranked() {
        let d = |s: usize, e: usize, kind| Detection { range: s..e, kind };
        let mut out = vec![
            d(0, 3, PiiType::Generic),
            d(20, 26, PiiType::BankCard),
            d(10, 18, PiiType::Ipv4),
            d(10, 18, PiiType::CnIdCard),
            d(5, 12, PiiType::Email),
            d(18, 22, PiiType::Ipv6),
            d(12, 30, PiiType::CnMobile),
        ];
        resolve(&mut out, 1);
        assert_eq!(
            out,
            [
                d(0, 3, PiiType::Generic),
                d(5, 12, PiiType::Email),
                d(12, 30, PiiType::CnMobile),
            ]
        );
        let mut tie = vec![d(0, 18, PiiType::BankCard), d(0, 18, PiiType::CnUscc)];
        resolve(&mut tie, 0);
        assert_eq!(tie, [d(0, 18, PiiType::CnUscc)]);
    }

    /// Strings built from pieces that exercise every scanner, glued without spaces so that
    /// matches sit next to digits, letters and multi-byte characters.
    fn tricky_text() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "0",
            "1",
            "13812345678",
            "86",
            "+",
            "+86 ",
            "-",
            " ",
            ".",
            ":",
            "::",
            "@",
            "X",
            "x",
            "E",
            "G",
            "P",
            "a",
            "f",
            "z",
            "com",
            "中",
            "é",
            "🦀",
            "11010519491231002X",
            "91350100M000100Y43",
            "4111111111111111",
            "4111 ",
            "192.168.",
            "2001:db8",
            "ab.cd@ef.gh",
            "255",
            "0.0",
            "\u{0}",
        ]);
        prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    fn check_invariants(text: &str) -> Result<(), TestCaseError> {
        let d = Detectors::default();
        let mut out = Vec::new();
        d.find(text, &mut out);
        let mut end = 0;
        for f in &out {
            prop_assert!(f.range.start >= end, "overlap or unsorted: {out:?}");
            prop_assert!(f.range.start < f.range.end && f.range.end <= text.len());
            prop_assert!(text.is_char_boundary(f.range.start));
            prop_assert!(text.is_char_boundary(f.range.end));
            prop_assert!(f.kind.is_detectable());
            end = f.range.end;
        }
        prop_assert!(out.is_empty() || d.may_contain(text.as_bytes()));
        for t in DetectorSet::all().iter() {
            let one = Detectors::new(DetectorSet::empty().with(t));
            let mut alone = Vec::new();
            one.find(text, &mut alone);
            prop_assert!(alone.iter().all(|f| f.kind == t));
            prop_assert!(alone.is_empty() || one.may_contain(text.as_bytes()));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn find_never_panics_and_returns_clean_ranges(text in any::<String>()) {
            check_invariants(&text)?;
        }

        #[test]
        fn find_keeps_invariants_on_tricky_text(text in tricky_text()) {
            check_invariants(&text)?;
        }
    }
}
