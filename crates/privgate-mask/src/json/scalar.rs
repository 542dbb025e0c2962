//! Strings, numbers and literals that span beyond where they start: lexed to their end,
//! then written as they were or replaced by their masked rendering.
//!
//! Part of the JSON rewriter (`mod.rs` has its state and the driver); `structure.rs`
//! decides at a value's start whether it is held; `text.rs` checks and decodes strings.

use super::*;

impl JsonMasker {
    pub(super) fn string<O: Output>(
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

    pub(super) fn end_string<O: Output>(
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

    pub(super) fn end_key<O: Output>(
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
        let key = if self.check.escaped {
            self.decoded.clear();
            text::decode(content, &mut self.decoded).map_err(|k| self.syntax(k, end))?;
            self.decoded.as_bytes()
        } else {
            content
        };
        let symbol = plan.automaton.symbol(key);
        if let Some(s) = &mut self.survey {
            s.key(key, symbol != OTHER_KEY);
        }
        let Some(top) = self.frames.last_mut() else {
            return Ok(());
        };
        let child = plan.automaton.member(top.state, symbol);
        top.child = child;
        top.symbol = symbol;
        self.lex = Lex::Colon;
        let rule = plan.automaton.info(child).rule;
        match plan.rule(rule) {
            Some(r) if matches!(r.operator, Operator::Drop) => {
                stats.count_masked(r.pii, r.operator.kind());
                if let Some(s) = &mut self.survey {
                    s.covered(r.pii, rule);
                }
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

    pub(super) fn number<O: Output>(
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

    pub(super) fn literal<O: Output>(
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
    pub(super) fn end_token<O: Output>(
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
            recipient: self.recipient.as_ref(),
            text: &mut self.text,
            rendered: &mut self.rendered,
            detections: &mut self.detections,
            survey: self.survey.as_deref_mut(),
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
}

/// The buffers a value is rendered in.
pub(super) struct Scratch<'a> {
    pub(super) recipient: Option<&'a Secrets>,
    pub(super) text: &'a mut String,
    pub(super) rendered: &'a mut Vec<u8>,
    pub(super) detections: &'a mut Vec<Detection>,
    pub(super) survey: Option<&'a mut Survey>,
}

impl Scratch<'_> {
    /// Renders a held scalar into `rendered`; returns false if it stays as it was.
    pub(super) fn render(
        self,
        plan: &Plan,
        held: Held,
        kind: Scalar,
        text: &str,
        stats: &mut Stats,
    ) -> bool {
        self.rendered.clear();
        let rendered = match held {
            Held::Mask(r) => match plan.rule(r) {
                Some(rule) => {
                    stats.count_masked(rule.pii, rule.operator.kind());
                    value::mask(plan, self.recipient, rule, kind, text, self.text)
                }
                None => Rendered::Unchanged,
            },
            Held::Detect => {
                if let Some(s) = self.survey {
                    s.uncovered(text);
                }
                value::detect(
                    plan,
                    self.recipient,
                    text,
                    stats,
                    self.text,
                    self.detections,
                )
            }
        };
        match rendered {
            Rendered::Unchanged => return false,
            Rendered::Null => self.rendered.extend_from_slice(b"null"),
            Rendered::Text => encode(self.text, self.rendered),
        }
        true
    }
}
