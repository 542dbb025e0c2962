//! The streaming CSV rewriter (RFC 4180).
//!
//! The first row is the header; its names are the columns, and a row is treated as an
//! element of a top-level array whose members are the columns, so `$..phone` and
//! `$[*].phone` both select the column `phone`. Each column's rule is looked up once,
//! when the header is read; every later field costs an index. Fields may be quoted and
//! may then contain commas, doubled quotes and newlines. A quote inside an unquoted
//! field, text after a closing quote, an unterminated quote, or a row with more fields
//! than the header is an error (fail closed: the column a stray field belongs to is
//! unknown). Rows end with `\n` or `\r\n`; blank lines pass through and are not records.
//!
//! A masked field is rewritten and quoted only when its new text needs it; `null` gives
//! an empty field; `drop` removes the column, header included. Every other byte passes
//! through as it was. Neighbours: `cursor.rs` (held regions), `value.rs` (what a value
//! becomes), `json/` (the same for JSON).

use memchr::{memchr, memchr3};

use crate::automaton::{Automaton, OTHER_KEY, ROOT};
use crate::cursor::Cursor;
use crate::detect::Detection;
use crate::error::{Fail, Location, MaskError, SyntaxKind};
use crate::operator::{Operator, Secrets};
use crate::output::Output;
use crate::plan::Plan;
use crate::stats::Stats;
use crate::survey::Survey;
use crate::utf8::{self, Lexer, Utf8Stream};
use crate::value::{self, Rendered, Scalar};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// At the start of a row.
    RowStart,
    /// At the start of a field (after a comma).
    FieldStart,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: a doubled quote or the field's end.
    QuoteInQuoted,
    /// After a closing quote and `\r`: only `\n` may follow.
    CrAfterQuote,
}

/// What happens to the current field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// Passes through as it is.
    Pass,
    /// A header name: held to be read.
    Header,
    /// Held: the rule with this index applies.
    Mask(u32),
    /// Held: the detectors must see it.
    Detect,
    /// Removed with its column.
    Dropped,
}

#[derive(Debug, Clone, Copy)]
struct Column {
    rule: u32,
    symbol: u32,
}

/// Streaming state of one CSV body.
#[derive(Debug)]
pub(crate) struct CsvMasker {
    lex: Lex,
    header_done: bool,
    columns: Vec<Column>,
    has_drops: bool,
    /// Index of the current field in its row.
    col: usize,
    /// Data rows started.
    row: u64,
    /// A field of the current row has been written (for separators around drops).
    row_emitted: bool,
    field: Field,
    quoted: bool,
    escaped: bool,
    /// The previous chunk ended with `\r`.
    last_cr: bool,
    /// The caller's record limit for this chunk.
    limit: Option<u64>,
    cur: Cursor,
    utf8: Utf8Stream,
    decoded: String,
    text: String,
    rendered: Vec<u8>,
    detections: Vec<Detection>,
    /// The keys derived for the body's recipient (scope `identity`).
    recipient: Option<Secrets>,
    /// Where personal data sits, when the body is surveyed.
    pub(crate) survey: Option<Box<Survey>>,
}

impl CsvMasker {
    pub(crate) fn new(recipient: Option<Secrets>) -> CsvMasker {
        CsvMasker {
            recipient,
            lex: Lex::RowStart,
            header_done: false,
            columns: Vec::new(),
            has_drops: false,
            col: 0,
            row: 0,
            row_emitted: false,
            field: Field::Pass,
            quoted: false,
            escaped: false,
            last_cr: false,
            limit: None,
            cur: Cursor::default(),
            utf8: Utf8Stream::default(),
            decoded: String::new(),
            text: String::new(),
            rendered: Vec::new(),
            detections: Vec::new(),
            survey: None,
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.cur.held.capacity()
    }

    pub(crate) fn path(&self, automaton: &Automaton) -> String {
        let column = self.columns.get(self.col).map_or(OTHER_KEY, |c| c.symbol);
        if self.header_done {
            format!(
                "$[{}].{}",
                self.row.saturating_sub(1),
                automaton.name(column)
            )
        } else {
            format!("header, column {}", self.col + 1)
        }
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
        let limit = self.limit;
        while let Some(&b) = chunk.get(i) {
            match self.lex {
                Lex::RowStart => {
                    if b == b'\n' || b == b'\r' {
                        i += 1;
                        continue;
                    }
                    if self.header_done {
                        if limit.is_some_and(|l| stats.records >= l) {
                            self.cur.flush(chunk, i, out);
                            return Err(Box::new(MaskError::RecordLimit {
                                limit: limit.unwrap_or(0),
                                at: self.location(i),
                            }));
                        }
                        stats.records += 1;
                        self.row += 1;
                    }
                    self.col = 0;
                    self.row_emitted = false;
                    self.lex = Lex::FieldStart;
                }
                Lex::FieldStart => {
                    self.begin_field(plan, chunk, i, out, stats)?;
                    if b == b'"' {
                        self.quoted = true;
                        self.lex = Lex::Quoted;
                        i += 1;
                    } else {
                        self.lex = Lex::Unquoted;
                    }
                }
                Lex::Unquoted => {
                    let rest = chunk.get(i..).unwrap_or_default();
                    let Some(k) = memchr3(b',', b'\n', b'"', rest) else {
                        i = chunk.len();
                        continue;
                    };
                    let at = i + k;
                    i = at + 1;
                    match chunk.get(at) {
                        Some(b',') => self.end_field(plan, chunk, at, false, out, stats)?,
                        Some(b'\n') => self.end_field(plan, chunk, at, true, out, stats)?,
                        _ => return Err(self.syntax(SyntaxKind::CsvQuote, at)),
                    }
                }
                Lex::Quoted => {
                    let rest = chunk.get(i..).unwrap_or_default();
                    match memchr(b'"', rest) {
                        Some(k) => {
                            i += k + 1;
                            self.lex = Lex::QuoteInQuoted;
                        }
                        None => i = chunk.len(),
                    }
                }
                Lex::QuoteInQuoted => {
                    i += 1;
                    match b {
                        b'"' => {
                            self.escaped = true;
                            self.lex = Lex::Quoted;
                        }
                        b',' => self.end_field(plan, chunk, i - 1, false, out, stats)?,
                        b'\n' => self.end_field(plan, chunk, i - 1, true, out, stats)?,
                        b'\r' => {
                            self.end_field(plan, chunk, i - 1, true, out, stats)?;
                            self.lex = Lex::CrAfterQuote;
                        }
                        _ => return Err(self.syntax(SyntaxKind::CsvQuote, i - 1)),
                    }
                }
                Lex::CrAfterQuote => {
                    if b != b'\n' {
                        return Err(self.syntax(SyntaxKind::CsvQuote, i));
                    }
                    self.lex = Lex::RowStart;
                    i += 1;
                }
            }
        }
        if let Some(&last) = chunk.last() {
            self.last_cr = last == b'\r';
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
        match self.lex {
            Lex::RowStart | Lex::CrAfterQuote => Ok(()),
            Lex::Quoted => Err(self.syntax(SyntaxKind::Truncated, 0)),
            Lex::FieldStart => {
                // A trailing comma: the row's last field is empty.
                self.begin_field(plan, &[], 0, out, stats)?;
                self.end_field(plan, &[], 0, true, out, stats)
            }
            Lex::Unquoted | Lex::QuoteInQuoted => self.end_field(plan, &[], 0, true, out, stats),
        }
    }

    fn begin_field<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        i: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<(), Fail> {
        self.quoted = false;
        self.escaped = false;
        self.field = if !self.header_done {
            Field::Header
        } else {
            let Some(column) = self.columns.get(self.col).copied() else {
                return Err(self.syntax(SyntaxKind::CsvExtraField, i));
            };
            let rule = plan.rule(column.rule);
            if let (Some(s), Some(r)) = (&mut self.survey, rule) {
                s.covered_cell(self.col, r.pii, column.rule);
            }
            match rule {
                Some(r) if matches!(r.operator, Operator::Drop) => {
                    stats.count_masked(r.pii, r.operator.kind());
                    Field::Dropped
                }
                Some(r) if matches!(r.operator, Operator::Keep) => {
                    stats.count_masked(r.pii, r.operator.kind());
                    Field::Pass
                }
                Some(_) => Field::Mask(column.rule),
                None if plan.detectors.is_some() || self.survey.is_some() => Field::Detect,
                None => Field::Pass,
            }
        };
        match self.field {
            Field::Dropped => {
                if self.cur.holding {
                    self.cur.discard(chunk, i, out);
                } else {
                    self.cur.flush(chunk, i, out);
                }
                self.cur.suppress = true;
            }
            // A header field may be dropped: the separator before it stays held.
            Field::Header if self.cur.holding => self.cur.token_off = self.cur.region_len(i),
            Field::Header | Field::Mask(_) | Field::Detect => {
                self.release_sep(chunk, out);
                self.cur.hold_begin(i);
            }
            Field::Pass => self.release_sep(chunk, out),
        }
        Ok(())
    }

    /// Writes a held separator before a field that stays.
    fn release_sep<O: Output>(&mut self, chunk: &[u8], out: &mut O) {
        if self.cur.holding {
            self.cur.release(chunk, out, !self.row_emitted);
        }
    }

    /// The field ends at `end` (where its delimiter is); `row_end`: the delimiter is `\n`
    /// (or the end of the body).
    fn end_field<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        end: usize,
        row_end: bool,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<(), Fail> {
        match self.field {
            Field::Pass => self.row_emitted = true,
            Field::Dropped => {
                self.cur.suppress = false;
                self.cur.clean = end;
                // A `\r` before the row's `\n` belongs to the line ending: keep it.
                let cr = match end.checked_sub(1) {
                    Some(p) => chunk.get(p) == Some(&b'\r'),
                    None => self.last_cr,
                };
                if row_end && !self.quoted && cr {
                    out.emit(b"\r");
                }
            }
            Field::Header | Field::Mask(_) | Field::Detect => {
                self.decide(plan, chunk, end, row_end, out, stats)?
            }
        }
        self.col += 1;
        if row_end {
            self.header_done = true;
            self.lex = Lex::RowStart;
        } else {
            self.lex = Lex::FieldStart;
            // Any header field may be dropped, and later ones only where columns are.
            if self.has_drops || !self.header_done {
                self.cur.hold_begin(end);
                self.cur.region_sep = true;
            }
        }
        Ok(())
    }

    /// Decides a held field.
    fn decide<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        end: usize,
        row_end: bool,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<(), Fail> {
        let at = self
            .cur
            .token(chunk, end, plan.limits.max_value_len)
            .map_err(|_| self.too_long(plan))?;
        let raw = self.cur.token_bytes(chunk, at, end);
        // A `\r` before the row's `\n` belongs to the line ending: it stays.
        let keep_cr = !self.quoted && row_end && raw.ends_with(b"\r");
        let mut content = raw;
        if self.quoted {
            content = content
                .get(1..content.len().saturating_sub(1))
                .unwrap_or_default();
        } else if row_end {
            content = content.strip_suffix(b"\r").unwrap_or(content);
        }
        let text = if self.escaped {
            self.decoded.clear();
            let s = simdutf8::basic::from_utf8(content)
                .map_err(|_| self.syntax(SyntaxKind::InvalidUtf8, end))?;
            self.decoded.push_str(&s.replace("\"\"", "\""));
            self.decoded.as_str()
        } else {
            simdutf8::basic::from_utf8(content)
                .map_err(|_| self.syntax(SyntaxKind::InvalidUtf8, end))?
        };
        let rendered = match self.field {
            Field::Header => {
                let symbol = plan.automaton.symbol(text.as_bytes());
                let state = plan.automaton.member(plan.automaton.element(ROOT), symbol);
                let rule = plan.automaton.info(state).rule;
                let drop = plan
                    .rule(rule)
                    .is_some_and(|r| matches!(r.operator, Operator::Drop));
                self.has_drops |= drop;
                self.columns.push(Column { rule, symbol });
                if let Some(s) = &mut self.survey {
                    s.column(text.as_bytes(), symbol != OTHER_KEY);
                }
                if drop {
                    self.cur.discard(chunk, end, out);
                    if keep_cr {
                        out.emit(b"\r");
                    }
                    return Ok(());
                }
                Rendered::Unchanged
            }
            Field::Mask(r) => match plan.rule(r) {
                Some(rule) => {
                    stats.count_masked(rule.pii, rule.operator.kind());
                    let recipient = self.recipient.as_ref();
                    value::mask(plan, recipient, rule, Scalar::Str, text, &mut self.text)
                }
                None => Rendered::Unchanged,
            },
            Field::Detect => {
                if let Some(s) = &mut self.survey {
                    s.uncovered_cell(self.col, text);
                }
                value::detect(
                    plan,
                    self.recipient.as_ref(),
                    text,
                    stats,
                    &mut self.text,
                    &mut self.detections,
                )
            }
            Field::Pass | Field::Dropped => Rendered::Unchanged,
        };
        let first = !self.row_emitted;
        self.row_emitted = true;
        match rendered {
            Rendered::Unchanged => self.cur.release(chunk, out, first),
            Rendered::Null | Rendered::Text => {
                self.rendered.clear();
                if rendered == Rendered::Text {
                    encode(&self.text, &mut self.rendered);
                }
                if keep_cr {
                    self.rendered.push(b'\r');
                }
                self.cur.discard(chunk, end, out);
                out.emit(&self.rendered);
            }
        }
        Ok(())
    }

    fn location(&self, pos: usize) -> Location {
        Location {
            offset: self.cur.base + pos as u64,
            path: String::new(),
        }
    }

    fn syntax(&self, kind: SyntaxKind, pos: usize) -> Fail {
        Box::new(MaskError::Syntax {
            kind,
            at: self.location(pos),
        })
    }

    fn too_long(&self, plan: &Plan) -> Fail {
        Box::new(MaskError::ValueTooLong {
            limit: plan.limits.max_value_len,
            at: Location {
                offset: self.cur.region_at,
                path: String::new(),
            },
        })
    }
}

impl Lexer for CsvMasker {
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
        _plan: &Plan,
        _chunk: &[u8],
        pos: usize,
        _out: &mut O,
        _stats: &mut Stats,
    ) -> Fail {
        self.syntax(SyntaxKind::InvalidUtf8, pos)
    }

    fn too_long(&self, plan: &Plan) -> Fail {
        CsvMasker::too_long(self, plan)
    }
}

/// Writes `s` as a CSV field, quoted only when it must be.
fn encode(s: &str, out: &mut Vec<u8>) {
    if !needs_quotes(s.as_bytes()) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    for part in s.split('"').enumerate() {
        if part.0 > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.1.as_bytes());
    }
    out.push(b'"');
}

/// Whether a field holds `,`, `"`, `\r` or `\n`: eight bytes at a time with word
/// arithmetic, as masked values are short and rarely need quoting.
fn needs_quotes(bytes: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let hits = zero(w ^ (LO * u64::from(b',')))
            | zero(w ^ (LO * u64::from(b'"')))
            | zero(w ^ (LO * u64::from(b'\r')))
            | zero(w ^ (LO * u64::from(b'\n')));
        if hits != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

/// The rule of a column, for tests.
#[cfg(test)]
fn column_rule(plan: &Plan, name: &str) -> u32 {
    let symbol = plan.automaton.symbol(name.as_bytes());
    plan.automaton
        .info(plan.automaton.member(plan.automaton.element(ROOT), symbol))
        .rule
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automaton::NO_RULE;
    use crate::{FieldRule, PiiType, PlanSpec, Secrets};

    #[test]
    fn columns_are_matched_by_descendant_and_row_selectors() {
        let spec = PlanSpec {
            fields: vec![FieldRule {
                name: "phone".into(),
                selectors: vec!["$..phone".into(), "$[*].mobile".into()],
                pii: PiiType::CnMobile,
                operator: Operator::Keep,
            }],
            ..Default::default()
        };
        let plan = Plan::compile(&spec, Secrets::new()).unwrap();
        assert_eq!(column_rule(&plan, "phone"), 0);
        assert_eq!(column_rule(&plan, "mobile"), 0);
        assert_eq!(column_rule(&plan, "name"), NO_RULE);
    }

    #[test]
    fn needs_quotes_finds_every_special_byte_anywhere() {
        let text = "abcdefgh张三ijklmnop".as_bytes();
        assert!(!needs_quotes(text));
        for special in [b',', b'"', b'\r', b'\n'] {
            for at in 0..=text.len() {
                let mut t = text.to_vec();
                t.insert(at, special);
                assert!(needs_quotes(&t), "{t:?}");
            }
        }
    }

    #[test]
    fn encode_quotes_only_when_needed() {
        let mut out = Vec::new();
        encode("a b", &mut out);
        encode("a,\"b\"", &mut out);
        assert_eq!(out, b"a b\"a,\"\"b\"\"\"");
    }
}
