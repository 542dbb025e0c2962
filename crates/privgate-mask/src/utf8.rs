//! UTF-8 validation of a whole body, chunk by chunk, and the driver that feeds a lexer.
//!
//! Every byte of a JSON, NDJSON or CSV body must be valid UTF-8 (outside JSON strings
//! only ASCII is valid anyway). Checking each chunk once with a vectorised validator is
//! far cheaper than checking each string on its own, and lets the lexers treat string
//! content as opaque bytes.
//!
//! Chunking must never change the outcome, so a lexer only ever sees bytes already known
//! to be valid: a character split across chunks is carried over, unlexed, and lexed once
//! it is complete; at an invalid byte the lexer runs up to it and then the format decides
//! the error ([`Lexer::invalid_utf8`]), exactly as if the body had come in one piece.
//!
//! Neighbours: `json/mod.rs` and `csv.rs` implement [`Lexer`]; `cursor.rs` tracks output.

use crate::cursor::Cursor;
use crate::error::Fail;
use crate::output::Output;
use crate::plan::Plan;
use crate::stats::Stats;

/// A lexer the driver can feed.
pub(crate) trait Lexer {
    /// The lexer's output cursor.
    fn cursor(&mut self) -> &mut Cursor;
    /// The lexer's UTF-8 state.
    fn utf8(&mut self) -> &mut Utf8Stream;
    /// Lexes `chunk[start..]`, all of it valid UTF-8.
    fn lex<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        start: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Result<(), Fail>;
    /// The error for the invalid bytes `chunk[pos..]`, everything before them lexed.
    fn invalid_utf8<O: Output>(
        &mut self,
        plan: &Plan,
        chunk: &[u8],
        pos: usize,
        out: &mut O,
        stats: &mut Stats,
    ) -> Fail;
    /// The error for a held region over the limit.
    fn too_long(&self, plan: &Plan) -> Fail;
}

/// Feeds one chunk to a lexer.
pub(crate) fn feed<L: Lexer, O: Output>(
    lexer: &mut L,
    plan: &Plan,
    chunk: &[u8],
    out: &mut O,
    stats: &mut Stats,
) -> Result<(), Fail> {
    let base = lexer.cursor().total;
    lexer.cursor().total += chunk.len() as u64;
    let mut start = 0;
    let carried = lexer.utf8().carry_len;
    match lexer.utf8().resume(chunk) {
        Resume::Nothing => {}
        Resume::NeedMore => return Ok(()),
        Resume::Done {
            bytes,
            len,
            taken,
            valid,
        } => {
            // The character straddling the chunks is lexed on its own and copied out:
            // its bytes are not all in the caller's chunk.
            let bytes = bytes.get(..len).unwrap_or_default();
            let mut copying = Copying(&mut *out);
            let base = base - carried as u64;
            if !valid {
                lexer.cursor().start_chunk(0, base);
                return Err(lexer.invalid_utf8(plan, bytes, 0, &mut copying, stats));
            }
            lex_part(lexer, plan, bytes, 0, base, &mut copying, stats)?;
            start = taken;
        }
    }
    match lexer.utf8().check(chunk.get(start..).unwrap_or_default()) {
        // Valid, perhaps but for the start of a character carried to the next chunk.
        Ok(n) => lex_part(
            lexer,
            plan,
            chunk.get(..start + n).unwrap_or_default(),
            start,
            base,
            out,
            stats,
        ),
        Err(n) => {
            let bad = start + n;
            lex_part(
                lexer,
                plan,
                chunk.get(..bad).unwrap_or_default(),
                start,
                base,
                out,
                stats,
            )?;
            Err(lexer.invalid_utf8(plan, chunk, bad, out, stats))
        }
    }
}

/// Lexes `chunk[start..]`, with `chunk[0]` at absolute offset `base`, and ends it.
fn lex_part<L: Lexer, O: Output>(
    lexer: &mut L,
    plan: &Plan,
    chunk: &[u8],
    start: usize,
    base: u64,
    out: &mut O,
    stats: &mut Stats,
) -> Result<(), Fail> {
    lexer.cursor().start_chunk(start, base);
    lexer.lex(plan, chunk, start, out, stats)?;
    let limit = plan.limits.max_value_len;
    lexer
        .cursor()
        .end_chunk(chunk, out, limit)
        .map_err(|_| lexer.too_long(plan))
}

/// At the end of the body: the error for a character left unfinished, if any.
pub(crate) fn finish<L: Lexer, O: Output>(
    lexer: &mut L,
    plan: &Plan,
    out: &mut O,
    stats: &mut Stats,
) -> Result<(), Fail> {
    let carried = lexer.utf8().carry_len;
    if carried == 0 {
        return Ok(());
    }
    let bytes = lexer.utf8().carry;
    let base = lexer.cursor().total - carried as u64;
    lexer.cursor().start_chunk(0, base);
    let mut copying = Copying(out);
    Err(lexer.invalid_utf8(
        plan,
        bytes.get(..carried).unwrap_or_default(),
        0,
        &mut copying,
        stats,
    ))
}

/// Passes on bytes that are not in the caller's chunk as copies.
struct Copying<'a, O>(&'a mut O);

impl<O: Output> Output for Copying<'_, O> {
    fn pass(&mut self, chunk: &[u8], range: std::ops::Range<usize>) {
        self.0.emit(chunk.get(range).unwrap_or_default());
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.0.emit(bytes);
    }
}

/// What completing a carried character gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Nothing was carried.
    Nothing,
    /// The chunk ended before the character did.
    NeedMore,
    /// The character is complete: `bytes[..len]`, `taken` of them from this chunk;
    /// `valid` says whether it is valid UTF-8.
    Done {
        bytes: [u8; 4],
        len: usize,
        taken: usize,
        valid: bool,
    },
}

/// Validation state carried between chunks.
#[derive(Debug, Default)]
pub(crate) struct Utf8Stream {
    carry: [u8; 4],
    carry_len: usize,
}

impl Utf8Stream {
    /// Completes a carried character with the first bytes of `chunk`.
    pub(crate) fn resume(&mut self, chunk: &[u8]) -> Resume {
        if self.carry_len == 0 {
            return Resume::Nothing;
        }
        let width = width(self.carry[0]);
        let taken = (width - self.carry_len).min(chunk.len());
        for (slot, b) in self.carry.iter_mut().skip(self.carry_len).zip(chunk) {
            *slot = *b;
        }
        self.carry_len += taken;
        if self.carry_len < width {
            return Resume::NeedMore;
        }
        self.carry_len = 0;
        let valid = std::str::from_utf8(self.carry.get(..width).unwrap_or_default()).is_ok();
        Resume::Done {
            bytes: self.carry,
            len: width,
            taken,
            valid,
        }
    }

    /// Validates `part`: `Ok(end)` when `part[..end]` is valid and what follows is the
    /// start of a character carried to the next chunk; `Err(end)` when `part[end..]`
    /// starts with invalid bytes.
    pub(crate) fn check(&mut self, part: &[u8]) -> Result<usize, usize> {
        match simdutf8::compat::from_utf8(part) {
            Ok(_) => Ok(part.len()),
            Err(e) => {
                let end = e.valid_up_to();
                let tail = part.get(end..).unwrap_or_default();
                if e.error_len().is_none() && tail.len() < 4 {
                    self.carry_len = tail.len();
                    for (slot, b) in self.carry.iter_mut().zip(tail) {
                        *slot = *b;
                    }
                    Ok(end)
                } else {
                    Err(end)
                }
            }
        }
    }
}

/// The length of the sequence a lead byte starts (1 for anything that is not a lead).
fn width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where validation of `input`, fed in two chunks, first stops lexing for good.
    fn first_error(input: &[u8], cut: usize) -> Option<usize> {
        let mut s = Utf8Stream::default();
        let (a, b) = input.split_at(cut);
        if let Err(end) = s.check(a) {
            return Some(end);
        }
        let carried = s.carry_len;
        let mut start = 0;
        match s.resume(b) {
            Resume::Done { valid: false, .. } => return Some(cut - carried),
            Resume::Done { taken, .. } => start = taken,
            Resume::NeedMore => return Some(cut - carried),
            Resume::Nothing => {}
        }
        if let Err(end) = s.check(&b[start..]) {
            return Some(cut + start + end);
        }
        (s.carry_len > 0).then(|| input.len() - s.carry_len)
    }

    #[test]
    fn same_verdict_whatever_the_split() {
        let cases: &[(&[u8], Option<usize>)] = &[
            ("a张三😀b".as_bytes(), None),
            (b"ab\xe5\x41cd", Some(2)),
            (b"ab\xffcd", Some(2)),
            (b"abc\xe5\xbc", Some(3)),
            (b"\xed\xa0\x80", Some(0)),
        ];
        for (input, want) in cases {
            for cut in 0..=input.len() {
                assert_eq!(first_error(input, cut), *want, "{input:?} cut {cut}");
            }
        }
    }
}
