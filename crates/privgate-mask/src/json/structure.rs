//! The structure of a JSON document: whitespace, brackets, keys, and where each value
//! starts — what path it is at, whether it is a record, dropped, nulled, held or passed.
//!
//! Part of the JSON rewriter (`mod.rs` has its state and the driver); `scalar.rs` finishes
//! the strings, numbers and literals that cannot be decided where they start.

use super::scalar::Scratch;
use super::*;

impl JsonMasker {
    /// Handles structure and the tokens that complete at once, until a token spans
    /// further than its fast path goes (a string, number or literal) or the chunk ends.
    pub(super) fn structural<O: Output>(
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

    pub(super) fn after_value(&mut self, i: usize, b: u8) -> Result<usize, Fail> {
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

    pub(super) fn close(&mut self, i: usize) -> usize {
        self.frames.pop();
        if let Some(s) = &mut self.survey {
            s.close();
        }
        self.end_value(i + 1);
        i + 1
    }

    /// A value ended just before `pos`.
    #[inline]
    pub(super) fn end_value(&mut self, pos: usize) {
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

    pub(super) fn begin_key(&mut self, plan: &Plan, chunk: &[u8], i: usize) -> Result<usize, Fail> {
        let suppress = self.suppress_at.is_some();
        let Some(top) = self.frames.last_mut() else {
            return Err(self.expected("a value", i));
        };
        top.index += 1;
        top.symbol = OTHER_KEY;
        // A survey needs every key's name, so it looks keys up in dead states too
        // (which find nothing there: the output is the same).
        let lookup = !suppress && (self.survey.is_some() || !plan.automaton.info(top.state).dead);
        // The common case: the key is whole in this chunk, unescaped, and no member of
        // this object can be dropped, so nothing needs holding.
        if !top.holds_sep {
            let rest = chunk.get(i + 1..).unwrap_or_default();
            let at = scan_string(rest);
            if rest.get(at) == Some(&b'"') {
                if lookup {
                    let key = rest.get(..at).unwrap_or_default();
                    let symbol = plan.automaton.symbol(key);
                    top.child = plan.automaton.member(top.state, symbol);
                    top.symbol = symbol;
                    if let Some(s) = &mut self.survey {
                        s.key(key, symbol != OTHER_KEY);
                    }
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

    pub(super) fn begin_value<O: Output>(
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
                && plan.detectors.is_none()
                && self.survey.is_none();
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
                    if let Some(s) = &mut self.survey {
                        s.covered(r.pii, info.rule);
                    }
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
        let detect = !suppress && (plan.detectors.is_some() || self.survey.is_some());
        if let (Some(s), Some(r)) = (&mut self.survey, rule) {
            // Scalars are counted where they start (a null holds nothing); a nulled or
            // dropped container below, and a masked one through its scalars.
            if !matches!(b, b'{' | b'[' | b'n') {
                s.covered(r.pii, effective);
            }
        }
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
                            if let Some(s) = &mut self.survey {
                                s.covered(r.pii, effective);
                            }
                            self.cur.flush(chunk, i, out);
                            out.emit(b"null");
                            self.suppress(Some(depth));
                        }
                        _ => inherited = effective,
                    }
                }
                let suppress = self.suppress_at.is_some();
                let array = b == b'[';
                if let Some(s) = &mut self.survey {
                    s.open(array);
                }
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
                        Some(Held::Detect) => {
                            plan.detectors
                                .as_ref()
                                .is_none_or(|(d, _)| !d.may_contain(content))
                                && self.survey.as_ref().is_none_or(|s| !s.may_contain(content))
                        }
                        Some(Held::Mask(_)) => false,
                    };
                    if let (false, Some(held)) = (clear, held) {
                        let Ok(text) = simdutf8::basic::from_utf8(content) else {
                            return Err(self.syntax(SyntaxKind::InvalidUtf8, i + 1));
                        };
                        let scratch = Scratch {
                            recipient: self.recipient.as_ref(),
                            text: &mut self.text,
                            rendered: &mut self.rendered,
                            detections: &mut self.detections,
                            survey: self.survey.as_deref_mut(),
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
    pub(super) fn begin_token(&mut self, i: usize, held: Option<Held>) {
        if held.is_some() {
            self.cur.hold_begin(i);
        }
        self.token = Token::Value(held);
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
