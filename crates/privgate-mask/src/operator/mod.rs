//! Masking operators: what happens to a value found at a masked path or by a detector.
//!
//! This module defines the operators and applies the text-producing ones
//! (`redact`, `partial`, `hash`, `tokenize`, `generalize`) to one decoded value. How an
//! operator treats numbers, booleans, nulls and whole objects or arrays is decided by the
//! format layers (`json`, `csv`), which call `mask_text` with the value's text. Keys
//! live in [`Secrets`]; nothing here does I/O.
//!
//! Neighbours: `partial.rs` (type-aware partial masking), `pseudonym.rs` (keyed hash,
//! reversible tokens), `generalize.rs` (dates and numbers to ranges).

mod generalize;
mod partial;
mod pseudonym;

pub use pseudonym::{detokenize, Secrets, TokenKeyError};

use crate::pii::PiiType;

/// Whose pseudonyms `hash` and `tokenize` write.
///
/// `Global`: one pseudonym per value, the same for every caller. `Identity`: one per value
/// and receiving account: the key is derived from the operator's key and the recipient
/// (see [`Secrets::for_recipient`]), so the same value gives the same pseudonym to the
/// same account and unrelated pseudonyms to different accounts, and a leaked file names
/// the account it was served to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The same pseudonym for everyone (the default).
    #[default]
    Global,
    /// A pseudonym unique to the receiving account.
    Identity,
}

impl Scope {
    /// The name used in policies.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Identity => "identity",
        }
    }
}

/// An operator, as configured for a field, a level or a detector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// Leave the value as it is.
    Keep,
    /// Replace the value by a fixed string.
    Redact(Redact),
    /// Hide part of the value, keeping a recognisable shape (`138****5678`).
    Partial(Partial),
    /// Replace the value by a stable keyed pseudonym (HMAC-SHA256), not reversible.
    Hash(Hash),
    /// Replace the value by a reversible token (AES-256-GCM with a synthetic nonce).
    Tokenize(Tokenize),
    /// Coarsen the value: dates to a year or month, numbers to a range.
    Generalize(Generalize),
    /// Replace the value by JSON `null` (an empty cell in CSV).
    Null,
    /// Remove the value: the member or element leaves the JSON; the column leaves the CSV.
    Drop,
}

/// Settings of `redact`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redact {
    /// The replacement text.
    pub replacement: String,
}

impl Default for Redact {
    fn default() -> Self {
        Redact {
            replacement: "***".to_owned(),
        }
    }
}

/// Settings of `partial`. With both counts `None` the value's [`PiiType`] picks the shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// Characters kept at the start.
    pub keep_first: Option<usize>,
    /// Characters kept at the end.
    pub keep_last: Option<usize>,
    /// The character that replaces hidden characters.
    pub mask: char,
}

impl Default for Partial {
    fn default() -> Self {
        Partial {
            keep_first: None,
            keep_last: None,
            mask: '*',
        }
    }
}

/// Settings of `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hash {
    /// Text put before the digest, so pseudonyms are recognisable (`h_`).
    pub prefix: String,
    /// Number of lowercase hex digits of the digest kept (8..=64).
    pub length: usize,
    /// Whose pseudonyms: the same for everyone, or unique to the recipient.
    pub scope: Scope,
}

impl Default for Hash {
    fn default() -> Self {
        Hash {
            prefix: "h_".to_owned(),
            length: 16,
            scope: Scope::Global,
        }
    }
}

/// Settings of `tokenize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenize {
    /// Text put before the token (`tok_`).
    pub prefix: String,
    /// Whose tokens: the same for everyone, or unique to (and only opened with) the
    /// recipient.
    pub scope: Scope,
}

impl Default for Tokenize {
    fn default() -> Self {
        Tokenize {
            prefix: "tok_".to_owned(),
            scope: Scope::Global,
        }
    }
}

/// Settings of `generalize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generalize {
    /// What a date becomes.
    pub date: DateGranularity,
    /// Width of the ranges numbers fall into (`10`: 34 → `30-39`).
    pub bucket: u64,
}

impl Default for Generalize {
    fn default() -> Self {
        Generalize {
            date: DateGranularity::Year,
            bucket: 10,
        }
    }
}

/// How far `generalize` coarsens a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateGranularity {
    /// `1990-05-17` → `1990`.
    Year,
    /// `1990-05-17` → `1990-05`.
    YearMonth,
}

/// The operator's kind without its settings: the key of stats and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// `keep`
    Keep,
    /// `redact`
    Redact,
    /// `partial`
    Partial,
    /// `hash`
    Hash,
    /// `tokenize`
    Tokenize,
    /// `generalize`
    Generalize,
    /// `null`
    Null,
    /// `drop`
    Drop,
}

impl OpKind {
    /// Every kind, in the order of the stats arrays.
    pub const ALL: [OpKind; 8] = [
        OpKind::Keep,
        OpKind::Redact,
        OpKind::Partial,
        OpKind::Hash,
        OpKind::Tokenize,
        OpKind::Generalize,
        OpKind::Null,
        OpKind::Drop,
    ];
    /// Number of kinds.
    pub const COUNT: usize = Self::ALL.len();

    /// The name used in policies and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            OpKind::Keep => "keep",
            OpKind::Redact => "redact",
            OpKind::Partial => "partial",
            OpKind::Hash => "hash",
            OpKind::Tokenize => "tokenize",
            OpKind::Generalize => "generalize",
            OpKind::Null => "null",
            OpKind::Drop => "drop",
        }
    }

    /// Position in [`OpKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl Operator {
    /// The scope of `hash` and `tokenize`; `Global` for every other operator.
    pub const fn scope(&self) -> Scope {
        match self {
            Operator::Hash(h) => h.scope,
            Operator::Tokenize(t) => t.scope,
            _ => Scope::Global,
        }
    }

    /// The operator's kind.
    pub const fn kind(&self) -> OpKind {
        match self {
            Operator::Keep => OpKind::Keep,
            Operator::Redact(_) => OpKind::Redact,
            Operator::Partial(_) => OpKind::Partial,
            Operator::Hash(_) => OpKind::Hash,
            Operator::Tokenize(_) => OpKind::Tokenize,
            Operator::Generalize(_) => OpKind::Generalize,
            Operator::Null => OpKind::Null,
            Operator::Drop => OpKind::Drop,
        }
    }
}

/// The keys one masker uses: the plan's, and those derived for its recipient.
#[derive(Clone, Copy)]
pub(crate) struct Keys<'a> {
    /// The plan's keys (scope `global`).
    pub(crate) global: &'a Secrets,
    /// The keys derived for the recipient (scope `identity`); `None` without a recipient.
    pub(crate) recipient: Option<&'a Secrets>,
}

impl<'a> Keys<'a> {
    /// The keys for an operator of `scope`. Without a recipient an identity-scoped
    /// operator gets no keys at all, so it writes `***` (the masker refuses such bodies
    /// before this is reached).
    fn for_scope(self, scope: Scope, none: &'a Secrets) -> &'a Secrets {
        match scope {
            Scope::Global => self.global,
            Scope::Identity => self.recipient.unwrap_or(none),
        }
    }
}

/// Writes the masked text of `value` (a decoded string, or the spelling of a number or
/// boolean) to `out`.
///
/// `Keep` writes the value unchanged. `Null` and `Drop` have no text form; the format
/// layers handle them before calling, and here they write the default redaction so that a
/// mistake can never let the value through. Every other operator never writes the input
/// unchanged unless it is empty.
pub(crate) fn mask_text(
    op: &Operator,
    pii: PiiType,
    value: &str,
    keys: Keys<'_>,
    out: &mut String,
) {
    let none = Secrets::new();
    let secrets = keys.for_scope(op.scope(), &none);
    match op {
        Operator::Keep => out.push_str(value),
        Operator::Redact(r) => out.push_str(&r.replacement),
        Operator::Partial(p) => partial::mask(p, pii, value, out),
        Operator::Hash(h) => secrets.hash(h, value, out),
        Operator::Tokenize(t) => secrets.tokenize(t, value, out),
        Operator::Generalize(g) => {
            if !generalize::generalize(g, value, out) {
                out.push_str(&Redact::default().replacement);
            }
        }
        Operator::Null | Operator::Drop => out.push_str(&Redact::default().replacement),
    }
}
