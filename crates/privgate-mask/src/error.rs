//! The engine's errors.
//!
//! An error names *where* and *what kind*, never *what*: a byte offset, a path built only
//! from key names the plan itself mentions (other keys show as `*`), and the kind of
//! failure. No byte of a body ever reaches an error message, so errors can be logged and
//! audited freely. There is no variant that lets a value through: the caller ends the
//! stream.

use std::fmt;

/// The lexers' error: boxed so the hot paths return a word-sized `Result`.
pub(crate) type Fail = Box<MaskError>;

/// Why a selector did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector: expected {expected} at character {offset}")]
pub struct SelectorError {
    /// Byte offset in the selector text.
    pub offset: usize,
    /// What the parser expected there.
    pub expected: &'static str,
}

/// Where in a body an error happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Byte offset from the start of the body.
    pub offset: u64,
    /// The path of the value being read, e.g. `$.data.items[3].*`. Keys the plan does
    /// not mention are shown as `*`, so no key from the body is repeated.
    pub path: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {} ({})", self.offset, self.path)
    }
}

/// What went wrong in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxKind {
    /// A byte that cannot start or continue the expected token.
    UnexpectedByte(&'static str),
    /// Invalid UTF-8 inside a string.
    InvalidUtf8,
    /// A raw control character (below U+0020) inside a string.
    ControlCharacter,
    /// A backslash escape that JSON does not define, or a lone surrogate.
    InvalidEscape,
    /// A malformed number.
    InvalidNumber,
    /// Bytes after the end of the document.
    TrailingData,
    /// The body ended inside a value or before any value.
    Truncated,
    /// A quote inside an unquoted CSV field, or text after a closing quote.
    CsvQuote,
    /// A CSV row with more fields than the header.
    CsvExtraField,
}

impl SyntaxKind {
    fn describe(&self) -> &'static str {
        match self {
            SyntaxKind::UnexpectedByte(expected) => expected,
            SyntaxKind::InvalidUtf8 => "valid UTF-8 in a string",
            SyntaxKind::ControlCharacter => "no raw control character in a string",
            SyntaxKind::InvalidEscape => {
                "a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"
            }
            SyntaxKind::InvalidNumber => "a valid number",
            SyntaxKind::TrailingData => "the end of the document",
            SyntaxKind::Truncated => "more input (the document is incomplete)",
            SyntaxKind::CsvQuote => "a quote only around a whole field",
            SyntaxKind::CsvExtraField => "no more fields than the header has",
        }
    }
}

impl fmt::Display for SyntaxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}", self.describe())
    }
}

/// The engine's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// The body is not valid JSON, NDJSON or CSV.
    #[error("malformed body {at}: {kind}")]
    Syntax {
        /// What was wrong.
        kind: SyntaxKind,
        /// Where.
        at: Location,
    },
    /// A value (or a key, or the separator run before a member that may be dropped) is
    /// longer than the plan's `max_value_len`.
    #[error("value longer than the limit of {limit} bytes {at}")]
    ValueTooLong {
        /// The limit in bytes.
        limit: usize,
        /// Where the value started.
        at: Location,
    },
    /// Objects and arrays nest deeper than the plan's `max_depth`.
    #[error("nesting deeper than the limit of {limit} {at}")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Where.
        at: Location,
    },
    /// The caller's record limit was reached; the output ends before the next record.
    #[error("record limit of {limit} reached {at}")]
    RecordLimit {
        /// The limit.
        limit: u64,
        /// Where the record that would exceed it starts.
        at: Location,
    },
    /// The plan has `hash` or `tokenize` with scope `identity` and the masker was made
    /// without a recipient (or with an empty one): nothing is written.
    #[error("the plan masks with scope `identity` but no recipient was given for this body")]
    NoRecipient,
    /// `feed` or `finish` was called after an error or after `finish`.
    #[error("the masker was used after it failed or finished")]
    Finished,
    /// A selector of the plan did not parse.
    #[error("field `{field}`: {source}")]
    Selector {
        /// The field (or `records`) whose selector failed.
        field: String,
        /// The parse error.
        source: SelectorError,
    },
    /// The plan uses `hash` or `tokenize` but no key was given for it.
    #[error("field `{field}` uses `{operator}` but no {operator} key is configured")]
    MissingKey {
        /// The field, or `unknown_fields`.
        field: String,
        /// The operator that needs the key.
        operator: &'static str,
    },
    /// Detectors were given `null` or `drop`, which cannot apply to part of a string.
    #[error("unknown_fields cannot use `{operator}`: a finding is part of a string; use redact, partial, hash, tokenize or keep")]
    DetectOperator {
        /// The operator given.
        operator: &'static str,
    },
    /// The plan's selectors need more automaton states than the engine allows.
    #[error(
        "the plan's selectors are too complex ({states} automaton states; the limit is {limit})"
    )]
    TooComplex {
        /// States needed so far.
        states: usize,
        /// The limit.
        limit: usize,
    },
}
