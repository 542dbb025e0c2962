//! Discovery: where personal data sits in a body, by normalised path.
//!
//! A masker given a survey ([`crate::Masker::survey`]) also records, while it masks:
//! - every value a field rule covers: its path, the field's type and name;
//! - every string or number no rule covers, run through every detector
//!   ([`DetectorSet::all`]): each finding's path and type, marked uncovered.
//!
//! The survey never changes the output: the plan's own detectors (if any) still decide
//! what is masked; the survey's only look. Paths are normalised so they aggregate and
//! carry no values:
//! - array indexes fold to `[]` (CSV rows are elements of a top-level array: `$[].phone`);
//! - a key that looks like data folds to `*`: longer than [`MAX_KEY`] bytes, holding three
//!   or more digits in a row, or holding anything but ASCII letters, digits, `_` and `-`
//!   (objects keyed by phone numbers, ids or e-mail addresses fold into one path). Keys
//!   with other letters (`手机`, `备注`) are kept only when the policy names them in a
//!   selector: an object keyed by people's names (`{"张三": …}`) must not put the names
//!   in a path.
//!
//! A survey is bounded: at most [`MAX_ENTRIES`] distinct (path, type, field) entries per
//! body, paths of at most [`MAX_PATH`] bytes; sightings beyond are counted in
//! [`Survey::overflow`].
//!
//! Neighbours: `json/` and `csv.rs` call it at values; `value.rs` at detections.

use std::collections::HashMap;

use crate::automaton::NO_RULE;
use crate::detect::{Detection, DetectorSet, Detectors};
use crate::pii::PiiType;
use crate::plan::Plan;

/// Longest key kept in a path, in bytes; longer keys fold to `*`.
pub const MAX_KEY: usize = 64;

/// Most distinct entries one survey keeps.
pub const MAX_ENTRIES: usize = 256;

/// Longest path kept, in bytes; sightings at longer paths count as overflow.
pub const MAX_PATH: usize = 1024;

/// What one body holds where. See the module docs.
#[derive(Debug)]
pub struct Survey {
    detectors: Detectors,
    /// The current value's normalised path, kept up to date as containers open and close
    /// and keys go by (JSON), so counting a value costs a lookup, not a rebuild.
    path: String,
    /// Per open container (JSON): the path's length before its members' step, and
    /// whether it is an object.
    starts: Vec<(usize, bool)>,
    /// Each CSV column's whole path (`$[].name`), in header order.
    columns: Vec<String>,
    tally: Tally,
    /// Field names by rule index.
    fields: Vec<Box<str>>,
    findings: Vec<Detection>,
}

/// The counts, apart from the path they are counted at.
#[derive(Debug, Default)]
struct Tally {
    /// path → (type, rule index or NO_RULE, count).
    entries: HashMap<Box<str>, Vec<(PiiType, u32, u64)>>,
    distinct: usize,
    overflow: u64,
}

/// One entry of a survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting<'a> {
    /// The normalised path.
    pub path: &'a str,
    /// The covering field's type, or what a detector found.
    pub pii: PiiType,
    /// The covering field; `None`: no field covers the path.
    pub field: Option<&'a str>,
    /// Values (covered) or findings (uncovered) at the path.
    pub count: u64,
}

impl Survey {
    pub(crate) fn new(plan: &Plan) -> Survey {
        Survey {
            detectors: Detectors::new(DetectorSet::all()),
            path: String::from("$"),
            starts: Vec::new(),
            columns: Vec::new(),
            tally: Tally::default(),
            fields: plan.rules.iter().map(|r| r.name.clone()).collect(),
            findings: Vec::new(),
        }
    }

    /// Every entry, in no particular order.
    pub fn sightings(&self) -> impl Iterator<Item = Sighting<'_>> + '_ {
        self.tally.entries.iter().flat_map(move |(path, v)| {
            v.iter().map(move |&(pii, rule, count)| Sighting {
                path,
                pii,
                field: self.fields.get(rule as usize).map(|f| &**f),
                count,
            })
        })
    }

    /// Sightings not kept because the survey was full.
    pub fn overflow(&self) -> u64 {
        self.tally.overflow
    }

    /// Cheap check: `false` means the survey's detectors would find nothing in `text`.
    pub(crate) fn may_contain(&self, text: &[u8]) -> bool {
        self.detectors.may_contain(text)
    }

    // ----- JSON: the path follows the masker's frames -----------------------------------

    /// A container opened.
    pub(crate) fn open(&mut self, array: bool) {
        self.starts.push((self.path.len(), !array));
        if array {
            self.path.push_str("[]");
        }
    }

    /// A container closed.
    pub(crate) fn close(&mut self) {
        if let Some((len, _)) = self.starts.pop() {
            self.path.truncate(len);
        }
    }

    /// The innermost object's current key is `raw` (its content, unescaped); `named`: the
    /// policy names it in some selector.
    pub(crate) fn key(&mut self, raw: &[u8], named: bool) {
        if let Some(&(len, true)) = self.starts.last() {
            self.path.truncate(len);
            self.path.push('.');
            normalise(raw, named, &mut self.path);
        }
    }

    /// A value covered by rule `rule` of type `pii` at the current JSON path.
    pub(crate) fn covered(&mut self, pii: PiiType, rule: u32) {
        self.tally.count(&self.path, pii, rule);
    }

    /// An uncovered value at the current JSON path: run the detectors over it.
    pub(crate) fn uncovered(&mut self, value: &str) {
        self.find(value);
        for d in &self.findings {
            self.tally.count(&self.path, d.kind, NO_RULE);
        }
    }

    /// The detectors' findings in `value`, into `self.findings` (`find` runs the
    /// prefilter itself).
    fn find(&mut self, value: &str) {
        self.findings.clear();
        self.detectors.find(value, &mut self.findings);
    }

    // ----- CSV: rows are elements, columns members ---------------------------------------

    /// The next header name; `named`: the policy names it in some selector.
    pub(crate) fn column(&mut self, raw: &[u8], named: bool) {
        let mut path = String::from("$[].");
        normalise(raw, named, &mut path);
        self.columns.push(path);
    }

    /// A field of column `col` covered by rule `rule` of type `pii`.
    pub(crate) fn covered_cell(&mut self, col: usize, pii: PiiType, rule: u32) {
        let path = self.columns.get(col).map_or("$[].*", String::as_str);
        self.tally.count(path, pii, rule);
    }

    /// An uncovered field of column `col`: run the detectors over it.
    pub(crate) fn uncovered_cell(&mut self, col: usize, value: &str) {
        self.find(value);
        let path = self.columns.get(col).map_or("$[].*", String::as_str);
        for d in &self.findings {
            self.tally.count(path, d.kind, NO_RULE);
        }
    }
}

impl Tally {
    /// Counts one sighting at `path`.
    fn count(&mut self, path: &str, pii: PiiType, rule: u32) {
        if path.len() > MAX_PATH {
            self.overflow += 1;
            return;
        }
        if let Some(v) = self.entries.get_mut(path) {
            if let Some(e) = v.iter_mut().find(|e| e.0 == pii && e.1 == rule) {
                e.2 += 1;
                return;
            }
            if self.distinct < MAX_ENTRIES {
                self.distinct += 1;
                v.push((pii, rule, 1));
                return;
            }
        } else if self.distinct < MAX_ENTRIES {
            self.distinct += 1;
            self.entries.insert(path.into(), vec![(pii, rule, 1)]);
            return;
        }
        self.overflow += 1;
    }
}

/// Appends the normalised form of key `raw` to `out`: the key itself if it looks like a
/// name, `*` if it looks like data (see the module docs); `named`: the policy names it.
fn normalise(raw: &[u8], named: bool, out: &mut String) {
    let name = std::str::from_utf8(raw).ok().filter(|k| {
        let mut digits = 0;
        !k.is_empty()
            && k.len() <= MAX_KEY
            && k.chars().all(|c| {
                digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
                let letter = c.is_ascii_alphanumeric() || (named && c.is_alphanumeric());
                digits < 3 && (letter || c == '_' || c == '-')
            })
    });
    out.push_str(name.unwrap_or("*"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(k: &str) -> String {
        let mut s = String::new();
        normalise(k.as_bytes(), false, &mut s);
        s
    }

    fn named(k: &str) -> String {
        let mut s = String::new();
        normalise(k.as_bytes(), true, &mut s);
        s
    }

    #[test]
    fn names_stay_and_data_folds() {
        assert_eq!(norm("phone"), "phone");
        assert_eq!(norm("address_line2"), "address_line2");
        assert_eq!(norm("x-ray"), "x-ray");
        // Other letters only when the policy names the key: names as keys fold.
        assert_eq!(norm("张三"), "*");
        assert_eq!(named("手机"), "手机");
        assert_eq!(named("13812345678"), "*");
        assert_eq!(norm("13812345678"), "*");
        assert_eq!(norm("u123"), "*");
        assert_eq!(norm("a@b.cn"), "*");
        assert_eq!(norm("two words"), "*");
        assert_eq!(norm(""), "*");
        assert_eq!(norm(&"k".repeat(MAX_KEY + 1)), "*");
        assert_eq!(norm(&"k".repeat(MAX_KEY)), "k".repeat(MAX_KEY));
    }
}
