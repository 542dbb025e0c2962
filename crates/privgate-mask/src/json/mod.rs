//! The streaming JSON (and NDJSON) rewriter.
//!
//! A hand-written, resumable lexer: no crate streams JSON while keeping every untouched
//! byte as it was (serde_json and simd-json parse into values and re-serialise, which
//! changes spelling and costs a full round trip). It walks the document once, keeps one
//! small frame per open object or array (so state is O(depth)), asks the selector
//! automaton what each member is, and:
//!
//! - passes unchanged stretches through as ranges of the input chunk ([`Output::pass`]);
//! - holds a value it must decide about (a masked path, or a string the detectors must
//!   see) until the value is complete, then emits either the original bytes or the masked
//!   replacement; a value split across chunks is copied into one buffer, bounded by
//!   [`Limits::max_value_len`](crate::Limits);
//! - holds the separator before a member that a `drop` rule may remove, so the output
//!   stays valid JSON.
//!
//! What the operators do to each kind of value is documented on [`crate::Operator`] and
//! in the crate docs. This file holds the state and the driver; `structure.rs` the
//! brackets, keys and value starts; `scalar.rs` the values that span further; `text.rs`
//! string and number lexing. Neighbours: `../automaton.rs` (what a path means),
//! `../utf8.rs` (feeding chunks), `../masker.rs` (the public wrapper).

mod scalar;
mod structure;
mod text;

use text::{encode, scan_string, StrCheck};

use crate::automaton::{StateId, DEAD, NO_RULE, OTHER_KEY, ROOT};
use crate::cursor::Cursor;
use crate::detect::Detection;
use crate::error::{Fail, Location, MaskError, SyntaxKind};
use crate::operator::{Operator, Secrets};
use crate::output::Output;
use crate::plan::{Plan, Rule};
use crate::stats::Stats;
use crate::survey::Survey;
use crate::utf8::{self, Lexer, Utf8Stream};
use crate::value::{self, Rendered, Scalar};
use text::Num;

/// What the lexer expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// A value (after `:` or `,` in an array, or at the root).
    Value,
    /// A value or `]` (just after `[`).
    ValueOrClose,
    /// A key or `}` (just after `{`).
    KeyOrClose,
    /// A key (after `,` in an object).
    Key,
    /// The `:` after a key.
    Colon,
    /// `,` or the container's closing bracket.
    AfterValue,
    /// Inside a string.
    Str,
    /// Inside a number.
    Num,
    /// Inside `true`, `false` or `null`.
    Lit,
    /// After the root value: only whitespace (JSON), or a newline and the next
    /// document (NDJSON).
    Done,
}

/// Why a value is held until it is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The rule with this index applies to it.
    Mask(u32),
    /// No rule applies; the detectors must see it.
    Detect,
}

/// The token being lexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A key; `lookup`: the automaton needs it (it is held).
    Key { lookup: bool },
    /// A value, held or not.
    Value(Option<Held>),
}

/// One open object or array.
#[derive(Debug, Clone)]
struct Frame {
    array: bool,
    /// Automaton state of the container itself.
    state: StateId,
    /// The rule a masked ancestor applies to scalars with no rule of their own.
    inherited: u32,
    /// Automaton state of the current member or element.
    child: StateId,
    /// Symbol of the current key (for error paths).
    symbol: u32,
    /// Members or elements started so far.
    index: u64,
    /// A member or element has been written (for separators around dropped ones).
    emitted: bool,
    /// Some child may be dropped: separators are held until the next child is decided.
    holds_sep: bool,
}

/// Streaming state of one JSON or NDJSON body.
#[derive(Debug)]
pub(crate) struct JsonMasker {
    ndjson: bool,
    lex: Lex,
    frames: Vec<Frame>,
    token: Token,
    check: StrCheck,
    num: Num,
    lit: &'static [u8],
    lit_pos: usize,
    /// A newline was seen since the last root value ended (NDJSON).
    newline: bool,
    /// While `Some(d)`, output is discarded until the value at depth `d` ends.
    suppress_at: Option<usize>,
    cur: Cursor,
    utf8: Utf8Stream,
    /// The caller's record limit for this chunk.
    limit: Option<u64>,
    decoded: String,
    text: String,
    rendered: Vec<u8>,
    detections: Vec<Detection>,
    /// The keys derived for the body's recipient (scope `identity`).
    recipient: Option<Secrets>,
    /// Where personal data sits, when the body is surveyed.
    pub(crate) survey: Option<Box<Survey>>,
}

impl JsonMasker {
    pub(crate) fn new(ndjson: bool, recipient: Option<Secrets>) -> JsonMasker {
        JsonMasker {
            recipient,
            ndjson,
            lex: if ndjson { Lex::Done } else { Lex::Value },
            frames: Vec::new(),
            token: Token::Value(None),
            check: StrCheck::default(),
            num: Num::Zero,
            lit: b"",
            lit_pos: 0,
            newline: true,
            suppress_at: None,
            cur: Cursor::default(),
            utf8: Utf8Stream::default(),
            limit: None,
            decoded: String::new(),
            text: String::new(),
            rendered: Vec::new(),
            detections: Vec::new(),
            survey: None,
        }
    }

    /// Bytes held back from the output right now (for the bounded-memory tests).
    pub(crate) fn buffered(&self) -> usize {
        self.cur.held.capacity() + self.frames.capacity() * std::mem::size_of::<Frame>()
    }

    pub(crate) fn feed<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        out: &mut O,
        stats: &mut Stats,
        limit: Option<u64>,
    ) -> Result<(), Fail> {
        self.limit = limit;
        utf8::feed(self, plan, chunk, out, stats)
    }

    fn lex_from<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        mut i: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<(), Fail> {
        while i < chunk.len() {
            i = match self.lex {
                Lex::Str => self.string(plan, chunk, i, out, stats)?,
                Lex::Num => self.number(plan, chunk, i, out, stats)?,
                Lex::Lit => self.literal(plan, chunk, i, out, stats)?,
                _ => self.structural(plan, chunk, i, out, stats)?,
            };
        }
        Ok(())
    }

    pub(crate) fn finish<O: Output>(
        &mut self,
        plan: &Plan,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<(), Fail> {
        utf8::finish(self, plan, out, stats)?;
        self.cur.start_chunk(0, self.cur.total);
        if self.lex == Lex::Num && self.frames.is_empty() && self.num.complete() {
            self.end_token(plan, &[], 0, Scalar::Num, out, stats)?;
        }
        if self.lex != Lex::Done {
            return Err(self.syntax(SyntaxKind::Truncated, 0));
        }
        Ok(())
    }

    // ----- the held region -------------------------------------------------------------

    /// Starts or stops discarding output until the value at depth `d` ends.
    #[inline]
    fn suppress(&mut self, d: Option<usize>) {
        self.suppress_at = d;
        self.cur.suppress = d.is_some();
    }

    /// Releases the held region; a leading `,` goes if the container wrote nothing yet.
    #[inline]
    fn release<O: Output>(&mut self, chunk: &[u8], out: &mut O) {
        let first = self.frames.last().is_some_and(|f| !f.emitted);
        self.cur.release(chunk, out, first);
    }

    fn token_start(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        end: usize,
    ) -> Result<(usize, bool), Fail> {
        self.cur
            .token(chunk, end, plan.limits.max_value_len)
            .map_err(|_| self.too_long(plan))
    }

    // ----- errors ----------------------------------------------------------------------

    fn location(&self, pos: usize) -> Location {
        self.location_at(self.cur.base + pos as u64)
    }

    /// The path is filled in by [`JsonMasker::path`] once the error leaves the lexer,
    /// where the plan's key names are at hand.
    fn location_at(&self, offset: u64) -> Location {
        Location {
            offset,
            path: String::new(),
        }
    }

    /// The path of the value being read, naming only keys the plan mentions.
    pub(crate) fn path(&self, automaton: &crate::automaton::Automaton) -> String {
        let mut path = String::from("$");
        for f in &self.frames {
            if f.index == 0 {
                break;
            }
            if f.array {
                path.push_str(&format!("[{}]", f.index - 1));
            } else {
                path.push('.');
                path.push_str(automaton.name(f.symbol));
            }
        }
        path
    }

    fn syntax(&self, kind: SyntaxKind, pos: usize) -> Fail {
        Box::new(MaskError::Syntax {
            kind,
            at: self.location(pos),
        })
    }

    fn expected(&self, what: &'static str, pos: usize) -> Fail {
        self.syntax(SyntaxKind::UnexpectedByte(what), pos)
    }

    fn too_long(&self, plan: &Plan) -> Fail {
        Box::new(MaskError::ValueTooLong {
            limit: plan.limits.max_value_len,
            at: self.location_at(self.cur.region_at),
        })
    }
}

impl Lexer for JsonMasker {
    fn cursor(&mut self) -> &mut Cursor {
        &mut self.cur
    }

    fn utf8(&mut self) -> &mut Utf8Stream {
        &mut self.utf8
    }

    fn lex<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        start: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<(), Fail> {
        self.lex_from(plan, chunk, start, out, stats)
    }

    fn invalid_utf8<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        pos: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Fail {
        // Outside a string a non-ASCII byte is a syntax error of its own, reported
        // where it stands.
        if self.lex != Lex::Str {
            if let Err(e) = self.lex_from(plan, chunk, pos, out, stats) {
                return e;
            }
        }
        self.syntax(SyntaxKind::InvalidUtf8, pos)
    }

    fn too_long(&self, plan: &Plan) -> Fail {
        JsonMasker::too_long(self, plan)
    }
}
