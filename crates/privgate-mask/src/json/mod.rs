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
//! in the crate docs. Neighbours: `text.rs` (string and number lexing), `../automaton.rs`
//! (what a path means), `../masker.rs` (the public wrapper).

mod text;

use text::{encode, scan_string, StrCheck};

use crate::automaton::{StateId, DEAD, NO_RULE, OTHER_KEY, ROOT};
use crate::cursor::Cursor;
use crate::detect::Detection;
use crate::error::{Fail, Location, MaskError, SyntaxKind};
use crate::operator::Operator;
use crate::output::Output;
use crate::plan::{Plan, Rule};
use crate::stats::Stats;
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
}

impl JsonMasker {
    pub(crate) fn new(ndjson: bool) -> JsonMasker {
        JsonMasker {
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

    // ----- structure -------------------------------------------------------------------

    /// Handles structure and the tokens that complete at once, until a token spans
    /// further than its fast path goes (a string, number or literal) or the chunk ends.
    fn structural<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        mut i: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<usize, Fail> {
        loop {
            while let Some(&b) = chunk.get(i) {
                match b {
                    b' ' => i = skip_spaces(chunk, i + 1),
                    b'\t' | b'\r' => i += 1,
                    b'\n' => {
                        self.newline = true;
                        i += 1;
                    }
                    _ => break,
                }
            }
            let Some(&b) = chunk.get(i) else { return Ok(i) };
            i = match self.lex {
                Lex::Value => self.begin_value(plan, chunk, i, b, out, stats)?,
                Lex::ValueOrClose if b == b']' => self.close(i),
                Lex::ValueOrClose => self.begin_value(plan, chunk, i, b, out, stats)?,
                Lex::KeyOrClose if b == b'}' => self.close(i),
                Lex::KeyOrClose | Lex::Key if b == b'"' => self.begin_key(plan, chunk, i)?,
                Lex::KeyOrClose => return Err(self.expected("a key or `}`", i)),
                Lex::Key => return Err(self.expected("a key", i)),
                Lex::Colon if b == b':' => {
                    self.lex = Lex::Value;
                    i + 1
                }
                Lex::Colon => return Err(self.expected("`:` after the key", i)),
                Lex::AfterValue => self.after_value(i, b)?,
                Lex::Done if self.ndjson && self.newline => {
                    self.begin_value(plan, chunk, i, b, out, stats)?
                }
                Lex::Done if self.ndjson => {
                    return Err(self.expected("a newline between records", i))
                }
                Lex::Done | Lex::Str | Lex::Num | Lex::Lit => {
                    return Err(self.syntax(SyntaxKind::TrailingData, i))
                }
            };
            if matches!(self.lex, Lex::Str | Lex::Num | Lex::Lit) {
                return Ok(i);
            }
        }
    }

    fn after_value(&mut self, i: usize, b: u8) -> Result<usize, Fail> {
        let Some(top) = self.frames.last() else {
            return Err(self.syntax(SyntaxKind::TrailingData, i));
        };
        match (b, top.array) {
            (b',', array) => {
                if top.holds_sep && self.suppress_at.is_none() {
                    self.cur.hold_begin(i);
                    self.cur.region_sep = true;
                }
                self.lex = if array { Lex::Value } else { Lex::Key };
                Ok(i + 1)
            }
            (b']', true) | (b'}', false) => Ok(self.close(i)),
            (_, true) => Err(self.expected("`,` or `]`", i)),
            (_, false) => Err(self.expected("`,` or `}`", i)),
        }
    }

    fn close(&mut self, i: usize) -> usize {
        self.frames.pop();
        self.end_value(i + 1);
        i + 1
    }

    /// A value ended just before `pos`.
    #[inline]
    fn end_value(&mut self, pos: usize) {
        if self.suppress_at == Some(self.frames.len()) {
            self.suppress(None);
            self.cur.clean = pos;
        }
        if self.frames.is_empty() {
            self.lex = Lex::Done;
            self.newline = false;
        } else {
            self.lex = Lex::AfterValue;
        }
    }

    fn begin_key(&mut self, plan: &Plan, chunk: &[u8], i: usize) -> Result<usize, Fail> {
        let suppress = self.suppress_at.is_some();
        let Some(top) = self.frames.last_mut() else {
            return Err(self.expected("a value", i));
        };
        top.index += 1;
        top.symbol = OTHER_KEY;
        let lookup = !suppress && !plan.automaton.info(top.state).dead;
        // The common case: the key is whole in this chunk, unescaped, and no member of
        // this object can be dropped, so nothing needs holding.
        if !top.holds_sep {
            let rest = chunk.get(i + 1..).unwrap_or_default();
            let at = scan_string(rest);
            if rest.get(at) == Some(&b'"') {
                if lookup {
                    let symbol = plan.automaton.symbol(rest.get(..at).unwrap_or_default());
                    top.child = plan.automaton.member(top.state, symbol);
                    top.symbol = symbol;
                } else {
                    top.child = DEAD;
                }
                self.lex = Lex::Colon;
                return Ok(i + at + 2);
            }
        }
        if lookup {
            if !self.cur.holding {
                self.cur.hold_begin(i);
            }
            self.cur.token_off = self.cur.region_len(i);
        }
        self.token = Token::Key { lookup };
        self.check = StrCheck::default();
        self.lex = Lex::Str;
        Ok(i + 1)
    }

    fn begin_value<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        i: usize,
        b: u8,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<usize, Fail> {
        // The common case first: a member's string or number that no rule, record path
        // or detector looks at.
        if let Some(top) = self.frames.last() {
            let info = plan.automaton.info(top.child);
            let plain = !top.array
                && top.inherited == NO_RULE
                && info.rule == NO_RULE
                && !info.record
                && self.suppress_at.is_none()
                && plan.detectors.is_none();
            if plain {
                if b == b'"' {
                    let rest = chunk.get(i + 1..).unwrap_or_default();
                    let at = scan_string(rest);
                    if rest.get(at) == Some(&b'"') {
                        self.end_value(i + at + 2);
                        return Ok(i + at + 2);
                    }
                } else if let Some(num) = Num::start(b) {
                    self.token = Token::Value(None);
                    self.num = num;
                    self.lex = Lex::Num;
                    return Ok(i + 1);
                }
            }
        }
        let limit = self.limit;
        let depth = self.frames.len();
        let suppress = self.suppress_at.is_some();
        let automaton = &plan.automaton;
        let (state, inherited, in_array) = match self.frames.last_mut() {
            None => (ROOT, NO_RULE, false),
            Some(top) => {
                if top.array {
                    top.index += 1;
                    top.child = if suppress {
                        DEAD
                    } else {
                        automaton.element(top.state)
                    };
                }
                (top.child, top.inherited, top.array)
            }
        };
        let info = automaton.info(state);
        let own = plan.rule(info.rule);

        if !suppress {
            if in_array && own.is_some_and(|r| matches!(r.operator, Operator::Drop)) {
                if let Some(r) = own {
                    stats.count_masked(r.pii, r.operator.kind());
                }
                if self.cur.holding {
                    self.cur.discard(chunk, i, out);
                } else {
                    self.cur.flush(chunk, i, out);
                }
                self.suppress(Some(depth));
            } else if in_array {
                if self.cur.holding {
                    self.release(chunk, out);
                }
                if let Some(top) = self.frames.last_mut() {
                    top.emitted = true;
                }
            }
        }
        let suppress = self.suppress_at.is_some();

        if !suppress {
            let record = if self.ndjson {
                depth == 0
            } else if plan.records_given {
                info.record
            } else {
                // By default: the elements of a top-level array, or a top-level object.
                (depth == 0 && b == b'{') || (depth == 1 && in_array)
            };
            if record {
                if limit.is_some_and(|l| stats.records >= l) {
                    self.cur.flush(chunk, i, out);
                    return Err(Box::new(MaskError::RecordLimit {
                        limit: limit.unwrap_or(0),
                        at: self.location(i),
                    }));
                }
                stats.records += 1;
            }
        }

        let effective = if info.rule != NO_RULE {
            info.rule
        } else {
            inherited
        };
        // Inside a dropped or nulled value nothing is decided: it is discarded.
        let rule = if suppress { None } else { plan.rule(effective) };
        let detect = !suppress && plan.detectors.is_some();
        match b {
            b'{' | b'[' => {
                if depth >= plan.limits.max_depth {
                    return Err(Box::new(MaskError::TooDeep {
                        limit: plan.limits.max_depth,
                        at: self.location(i),
                    }));
                }
                let mut inherited = inherited;
                if let Some(r) = rule {
                    match r.operator {
                        Operator::Null | Operator::Drop => {
                            stats.count_masked(r.pii, r.operator.kind());
                            self.cur.flush(chunk, i, out);
                            out.emit(b"null");
                            self.suppress(Some(depth));
                        }
                        _ => inherited = effective,
                    }
                }
                let suppress = self.suppress_at.is_some();
                let array = b == b'[';
                self.frames.push(Frame {
                    array,
                    state: if suppress { DEAD } else { state },
                    inherited: if suppress { NO_RULE } else { inherited },
                    child: DEAD,
                    symbol: OTHER_KEY,
                    index: 0,
                    emitted: false,
                    holds_sep: !suppress && info.drops_child,
                });
                self.lex = if array {
                    Lex::ValueOrClose
                } else {
                    Lex::KeyOrClose
                };
                Ok(i + 1)
            }
            b'"' => {
                let held = held_for(rule, effective, detect, Scalar::Str, stats);
                // The common case: a string whole in this chunk and unescaped is decided
                // on the spot, without holding it.
                let rest = chunk.get(i + 1..).unwrap_or_default();
                let at = scan_string(rest);
                // A held value over the limit takes the slow path, which refuses it.
                let fits = held.is_none() || at + 2 <= plan.limits.max_value_len;
                if rest.get(at) == Some(&b'"') && fits {
                    let end = i + at + 2;
                    let content = rest.get(..at).unwrap_or_default();
                    let clear = match held {
                        None => true,
                        Some(Held::Detect) => plan
                            .detectors
                            .as_ref()
                            .is_some_and(|(d, _)| !d.may_contain(content)),
                        Some(Held::Mask(_)) => false,
                    };
                    if let (false, Some(held)) = (clear, held) {
                        let Ok(text) = simdutf8::basic::from_utf8(content) else {
                            return Err(self.syntax(SyntaxKind::InvalidUtf8, i + 1));
                        };
                        let scratch = Scratch {
                            text: &mut self.text,
                            rendered: &mut self.rendered,
                            detections: &mut self.detections,
                        };
                        if scratch.render(plan, held, Scalar::Str, text, stats) {
                            self.cur.flush(chunk, i, out);
                            self.cur.clean = end;
                            out.emit(&self.rendered);
                        }
                    }
                    self.end_value(end);
                    return Ok(end);
                }
                self.begin_token(i, held);
                self.check = StrCheck::default();
                self.lex = Lex::Str;
                Ok(i + 1)
            }
            b'-' | b'0'..=b'9' => {
                let held = held_for(rule, effective, detect, Scalar::Num, stats);
                self.begin_token(i, held);
                self.num = Num::start(b).unwrap_or(Num::Int);
                self.lex = Lex::Num;
                Ok(i + 1)
            }
            b't' | b'f' | b'n' => {
                let (lit, kind): (&'static [u8], _) = match b {
                    b't' => (b"true", Some(Scalar::Bool)),
                    b'f' => (b"false", Some(Scalar::Bool)),
                    _ => (b"null", None),
                };
                let held = kind.and_then(|k| held_for(rule, effective, detect, k, stats));
                self.begin_token(i, held);
                self.lit = lit;
                self.lit_pos = 1;
                self.lex = Lex::Lit;
                Ok(i + 1)
            }
            _ => Err(self.expected("a value", i)),
        }
    }

    /// Starts a scalar at `i`, holding it if it must be decided on.
    fn begin_token(&mut self, i: usize, held: Option<Held>) {
        if held.is_some() {
            self.cur.hold_begin(i);
        }
        self.token = Token::Value(held);
    }

    // ----- tokens ----------------------------------------------------------------------

    fn string<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        mut i: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<usize, Fail> {
        loop {
            if self.check.in_escape() {
                let Some(&b) = chunk.get(i) else { return Ok(i) };
                self.check.escape_byte(b).map_err(|k| self.syntax(k, i))?;
                i += 1;
                continue;
            }
            let rest = chunk.get(i..).unwrap_or_default();
            let at = i + scan_string(rest);
            self.check
                .run(rest.get(..at - i).unwrap_or_default())
                .map_err(|k| self.syntax(k, i))?;
            match chunk.get(at) {
                None => return Ok(at),
                Some(b'\\') => {
                    self.check
                        .escape_byte(b'\\')
                        .map_err(|kind| self.syntax(kind, at))?;
                    i = at + 1;
                }
                Some(b'"') => {
                    self.check.close().map_err(|kind| self.syntax(kind, at))?;
                    return self.end_string(plan, chunk, at + 1, out, stats);
                }
                Some(_) => return Err(self.syntax(SyntaxKind::ControlCharacter, at)),
            }
        }
    }

    fn end_string<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        end: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<usize, Fail> {
        match self.token {
            Token::Key { lookup: false } => {
                if let Some(top) = self.frames.last_mut() {
                    top.child = DEAD;
                }
                self.lex = Lex::Colon;
            }
            Token::Key { lookup: true } => self.end_key(plan, chunk, end, out, stats)?,
            Token::Value(None) => self.end_value(end),
            Token::Value(Some(_)) => self.end_token(plan, chunk, end, Scalar::Str, out, stats)?,
        }
        Ok(end)
    }

    fn end_key<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        end: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<(), Fail> {
        let at = self.token_start(plan, chunk, end)?;
        let raw = self.cur.token_bytes(chunk, at, end);
        let content = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
        let symbol = if self.check.escaped {
            self.decoded.clear();
            text::decode(content, &mut self.decoded).map_err(|k| self.syntax(k, end))?;
            plan.automaton.symbol(self.decoded.as_bytes())
        } else {
            plan.automaton.symbol(content)
        };
        let Some(top) = self.frames.last_mut() else {
            return Ok(());
        };
        let child = plan.automaton.member(top.state, symbol);
        top.child = child;
        top.symbol = symbol;
        self.lex = Lex::Colon;
        match plan.rule(plan.automaton.info(child).rule) {
            Some(r) if matches!(r.operator, Operator::Drop) => {
                stats.count_masked(r.pii, r.operator.kind());
                self.cur.discard(chunk, end, out);
                self.suppress(Some(self.frames.len()));
            }
            _ => {
                self.release(chunk, out);
                if let Some(top) = self.frames.last_mut() {
                    top.emitted = true;
                }
            }
        }
        Ok(())
    }

    fn number<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        mut i: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<usize, Fail> {
        while let Some(&b) = chunk.get(i) {
            match self.num.step(b) {
                Some(n) => {
                    self.num = n;
                    i += 1;
                }
                None if self.num.complete() => {
                    match self.token {
                        Token::Value(Some(_)) => {
                            self.end_token(plan, chunk, i, Scalar::Num, out, stats)?
                        }
                        _ => self.end_value(i),
                    }
                    return Ok(i);
                }
                None => return Err(self.syntax(SyntaxKind::InvalidNumber, i)),
            }
        }
        Ok(i)
    }

    fn literal<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        mut i: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<usize, Fail> {
        while let Some(&b) = chunk.get(i) {
            if self.lit.get(self.lit_pos) != Some(&b) {
                return Err(self.expected("`true`, `false` or `null`", i));
            }
            self.lit_pos += 1;
            i += 1;
            if self.lit_pos == self.lit.len() {
                match self.token {
                    Token::Value(Some(_)) => {
                        self.end_token(plan, chunk, i, Scalar::Bool, out, stats)?
                    }
                    _ => self.end_value(i),
                }
                return Ok(i);
            }
        }
        Ok(i)
    }

    /// A held scalar ends just before `end`: write it masked or as it was.
    fn end_token<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        end: usize,
        kind: Scalar,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<(), Fail> {
        let Token::Value(Some(held)) = self.token else {
            self.end_value(end);
            return Ok(());
        };
        let at = self.token_start(plan, chunk, end)?;
        let raw = self.cur.token_bytes(chunk, at, end);
        let text = match kind {
            Scalar::Str => {
                let content = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
                if self.check.escaped {
                    self.decoded.clear();
                    if let Err(k) = text::decode(content, &mut self.decoded) {
                        return Err(self.syntax(k, end));
                    }
                    self.decoded.as_str()
                } else {
                    match simdutf8::basic::from_utf8(content) {
                        Ok(t) => t,
                        Err(_) => return Err(self.syntax(SyntaxKind::InvalidUtf8, end)),
                    }
                }
            }
            // Numbers and literals are ASCII by construction.
            Scalar::Num | Scalar::Bool => std::str::from_utf8(raw).unwrap_or_default(),
        };
        let scratch = Scratch {
            text: &mut self.text,
            rendered: &mut self.rendered,
            detections: &mut self.detections,
        };
        if scratch.render(plan, held, kind, text, stats) {
            self.cur.discard(chunk, end, out);
            out.emit(&self.rendered);
        } else {
            self.release(chunk, out);
        }
        self.end_value(end);
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

/// The buffers a value is rendered in.
struct Scratch<'a> {
    text: &'a mut String,
    rendered: &'a mut Vec<u8>,
    detections: &'a mut Vec<Detection>,
}

impl Scratch<'_> {
    /// Renders a held scalar into `rendered`; returns false if it stays as it was.
    fn render(self, plan: &Plan, held: Held, kind: Scalar, text: &str, stats: &mut Stats) -> bool {
        self.rendered.clear();
        let rendered = match held {
            Held::Mask(r) => match plan.rule(r) {
                Some(rule) => {
                    stats.count_masked(rule.pii, rule.operator.kind());
                    value::mask(plan, rule, kind, text, self.text)
                }
                None => Rendered::Unchanged,
            },
            Held::Detect => value::detect(plan, text, stats, self.text, self.detections),
        };
        match rendered {
            Rendered::Unchanged => return false,
            Rendered::Null => self.rendered.extend_from_slice(b"null"),
            Rendered::Text => encode(self.text, self.rendered),
        }
        true
    }
}

/// The index of the first byte at or after `i` that is not a space. Indentation is
/// mostly long runs of spaces: they are skipped eight at a time.
#[inline]
fn skip_spaces(chunk: &[u8], mut i: usize) -> usize {
    const SPACES: u64 = 0x2020_2020_2020_2020;
    while let Some(word) = chunk.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let other = u64::from_le_bytes(*word) ^ SPACES;
        if other != 0 {
            return i + (other.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while chunk.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// Whether a scalar is held until complete, and why; counts `keep` as served unmasked.
fn held_for(
    rule: Option<&Rule>,
    effective: u32,
    detect: bool,
    kind: Scalar,
    stats: &mut Stats,
) -> Option<Held> {
    match rule {
        Some(r) if matches!(r.operator, Operator::Keep) => {
            stats.count_masked(r.pii, r.operator.kind());
            None
        }
        Some(_) => Some(Held::Mask(effective)),
        None if detect && kind != Scalar::Bool => Some(Held::Detect),
        None => None,
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
