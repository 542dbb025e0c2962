//! JSON string and number lexing: validation while streaming, decoding and encoding.
//!
//! The scanner in `mod.rs` finds where strings and numbers start and end; this module
//! checks what is inside them as it streams by (UTF-8 split across chunks, control
//! characters, escapes split across chunks, surrogate pairs) and turns a held raw string
//! into text and back. It does not decide anything about masking.

use crate::error::SyntaxKind;

/// Validates the bytes of one string as they stream by.
#[derive(Debug, Default, Clone)]
pub(crate) struct StrCheck {
    esc: Esc,
    /// A `\uD8xx` high surrogate waits for its low half.
    high: bool,
    /// The string contains at least one escape.
    pub(crate) escaped: bool,
    /// An incomplete UTF-8 sequence at the end of the previous chunk.
    carry: [u8; 4],
    carry_len: u8,
    carry_need: u8,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Esc {
    #[default]
    None,
    Backslash,
    Hex {
        left: u8,
        cp: u16,
    },
}

impl StrCheck {
    /// Whether the check is in the middle of an escape sequence.
    #[inline]
    pub(crate) fn in_escape(&self) -> bool {
        self.esc != Esc::None
    }

    /// Checks a run of raw string bytes containing no quote or backslash. `open`: the run
    /// ends at the end of the chunk, so its last character may continue in the next one.
    /// On error, returns the offset in `run` and the kind.
    #[inline]
    pub(crate) fn run(&mut self, mut run: &[u8], open: bool) -> Result<(), (usize, SyntaxKind)> {
        if run.is_empty() {
            return Ok(());
        }
        if self.high {
            return Err((0, SyntaxKind::InvalidEscape));
        }
        let mut base = 0;
        if self.carry_len > 0 {
            let need = usize::from(self.carry_need - self.carry_len);
            let take = need.min(run.len());
            for (slot, b) in self.carry.iter_mut().skip(usize::from(self.carry_len)).zip(run) {
                *slot = *b;
            }
            self.carry_len += take as u8;
            let (_, rest) = run.split_at(take);
            run = rest;
            base = take;
            if self.carry_len < self.carry_need {
                if !open {
                    return Err((0, SyntaxKind::InvalidUtf8));
                }
                return Ok(());
            }
            let seq = self.carry.get(..usize::from(self.carry_need)).unwrap_or_default();
            if std::str::from_utf8(seq).is_err() {
                return Err((0, SyntaxKind::InvalidUtf8));
            }
            self.carry_len = 0;
        }
        // One branch-free pass classifies the run; the slow checks run only when needed.
        let flags = run.iter().fold(0u8, |f, &b| f | u8::from(b < 0x20) | (u8::from(b >= 0x80) << 1));
        if flags & 1 != 0 {
            let at = run.iter().position(|&b| b < 0x20).unwrap_or(0);
            return Err((base + at, SyntaxKind::ControlCharacter));
        }
        if flags & 2 != 0 {
            if let Err(e) = std::str::from_utf8(run) {
                let valid = e.valid_up_to();
                let tail = run.get(valid..).unwrap_or_default();
                if e.error_len().is_none() && open && tail.len() < 4 {
                    let lead = tail.first().copied().unwrap_or(0);
                    self.carry_need = utf8_width(lead);
                    self.carry_len = tail.len() as u8;
                    for (slot, b) in self.carry.iter_mut().zip(tail) {
                        *slot = *b;
                    }
                    return Ok(());
                }
                return Err((base + valid, SyntaxKind::InvalidUtf8));
            }
        }
        Ok(())
    }

    /// Checks the byte after an unescaped backslash, or inside `\uXXXX`.
    #[inline]
    pub(crate) fn escape_byte(&mut self, b: u8) -> Result<(), SyntaxKind> {
        match self.esc {
            Esc::None => {
                // The backslash itself.
                if self.carry_len > 0 {
                    return Err(SyntaxKind::InvalidUtf8);
                }
                self.escaped = true;
                self.esc = Esc::Backslash;
            }
            Esc::Backslash => match b {
                b'u' => self.esc = Esc::Hex { left: 4, cp: 0 },
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' if !self.high => {
                    self.esc = Esc::None;
                }
                _ => return Err(SyntaxKind::InvalidEscape),
            },
            Esc::Hex { left, cp } => {
                let d = hex(b).ok_or(SyntaxKind::InvalidEscape)?;
                let cp = (cp << 4) | u16::from(d);
                if left > 1 {
                    self.esc = Esc::Hex { left: left - 1, cp };
                } else {
                    self.esc = Esc::None;
                    match (cp, self.high) {
                        (0xD800..=0xDBFF, false) => self.high = true,
                        (0xDC00..=0xDFFF, true) => self.high = false,
                        (0xD800..=0xDFFF, _) | (_, true) => return Err(SyntaxKind::InvalidEscape),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks that the string may end here (at its closing quote).
    #[inline]
    pub(crate) fn close(&self) -> Result<(), SyntaxKind> {
        if self.high {
            Err(SyntaxKind::InvalidEscape)
        } else if self.carry_len > 0 {
            Err(SyntaxKind::InvalidUtf8)
        } else {
            Ok(())
        }
    }
}

fn utf8_width(lead: u8) -> u8 {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes the raw content of a string (between the quotes, already checked) into `out`.
pub(crate) fn decode(raw: &[u8], out: &mut String) -> Result<(), SyntaxKind> {
    let mut rest = raw;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        let (run, tail) = rest.split_at(at);
        out.push_str(std::str::from_utf8(run).map_err(|_| SyntaxKind::InvalidUtf8)?);
        let (&kind, tail) = tail.get(1..).and_then(|t| t.split_first()).ok_or(SyntaxKind::InvalidEscape)?;
        rest = tail;
        let c = match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let (hi, tail) = hex4(rest)?;
                rest = tail;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let tail = rest.strip_prefix(b"\\u").ok_or(SyntaxKind::InvalidEscape)?;
                    let (lo, tail) = hex4(tail)?;
                    rest = tail;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(SyntaxKind::InvalidEscape);
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                char::from_u32(cp).ok_or(SyntaxKind::InvalidEscape)?
            }
            _ => return Err(SyntaxKind::InvalidEscape),
        };
        out.push(c);
    }
    out.push_str(std::str::from_utf8(rest).map_err(|_| SyntaxKind::InvalidUtf8)?);
    Ok(())
}

fn hex4(s: &[u8]) -> Result<(u32, &[u8]), SyntaxKind> {
    let (digits, rest) = s.split_at_checked(4).ok_or(SyntaxKind::InvalidEscape)?;
    let mut v = 0u32;
    for &d in digits {
        v = (v << 4) | u32::from(hex(d).ok_or(SyntaxKind::InvalidEscape)?);
    }
    Ok((v, rest))
}

/// Writes `s` as a JSON string, quotes included.
pub(crate) fn encode(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'));
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Where a number's lexer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpInt,
}

impl Num {
    /// The state after the first byte of a number, if `b` can start one.
    #[inline]
    pub(crate) fn start(b: u8) -> Option<Num> {
        match b {
            b'-' => Some(Num::Minus),
            b'0' => Some(Num::Zero),
            b'1'..=b'9' => Some(Num::Int),
            _ => None,
        }
    }

    /// The state after `b`, or `None` if `b` does not continue the number.
    #[inline]
    pub(crate) fn step(self, b: u8) -> Option<Num> {
        use Num::*;
        match (self, b) {
            (Minus, b'0') => Some(Zero),
            (Minus, b'1'..=b'9') | (Int, b'0'..=b'9') => Some(Int),
            (Zero | Int, b'.') => Some(Dot),
            (Dot | Frac, b'0'..=b'9') => Some(Frac),
            (Zero | Int | Frac, b'e' | b'E') => Some(Exp),
            (Exp, b'+' | b'-') => Some(ExpSign),
            (Exp | ExpSign | ExpInt, b'0'..=b'9') => Some(ExpInt),
            _ => None,
        }
    }

    /// Whether a number may end in this state.
    #[inline]
    pub(crate) fn complete(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpInt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_chunks(chunks: &[&[u8]]) -> Result<(), SyntaxKind> {
        let mut c = StrCheck::default();
        let n = chunks.len();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut rest: &[u8] = chunk;
            while !rest.is_empty() {
                if c.in_escape() {
                    c.escape_byte(rest[0])?;
                    rest = &rest[1..];
                    continue;
                }
                match memchr::memchr(b'\\', rest) {
                    Some(at) => {
                        c.run(&rest[..at], false).map_err(|e| e.1)?;
                        c.escape_byte(b'\\')?;
                        rest = &rest[at + 1..];
                    }
                    None => {
                        c.run(rest, i + 1 < n).map_err(|e| e.1)?;
                        rest = &[];
                    }
                }
            }
        }
        c.close()
    }

    #[test]
    fn utf8_split_across_chunks_is_accepted() {
        let s = "张三".as_bytes();
        for cut in 0..=s.len() {
            assert_eq!(check_chunks(&[&s[..cut], &s[cut..]]), Ok(()), "cut {cut}");
        }
        let one: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(check_chunks(&one), Ok(()));
    }

    #[test]
    fn bad_utf8_control_chars_and_escapes_are_rejected() {
        assert_eq!(check_chunks(&[b"\xff"]), Err(SyntaxKind::InvalidUtf8));
        assert_eq!(check_chunks(&[b"\xe5\xbc"]), Err(SyntaxKind::InvalidUtf8));
        assert_eq!(check_chunks(&[b"\xe5"]), Err(SyntaxKind::InvalidUtf8));
        assert_eq!(check_chunks(&[b"a\nb"]), Err(SyntaxKind::ControlCharacter));
        assert_eq!(check_chunks(&[b"\\x"]), Err(SyntaxKind::InvalidEscape));
        assert_eq!(check_chunks(&[b"\\ud800"]), Err(SyntaxKind::InvalidEscape));
        assert_eq!(check_chunks(&[b"\\udc00"]), Err(SyntaxKind::InvalidEscape));
        assert_eq!(check_chunks(&[b"\\ud800x"]), Err(SyntaxKind::InvalidEscape));
        assert_eq!(check_chunks(&[b"\\ud83d\\ude00"]), Ok(()));
        assert_eq!(check_chunks(&[b"\\ud83d", b"\\ude00"]), Ok(()));
    }

    #[test]
    fn decode_and_encode_round_trip() {
        let mut s = String::new();
        decode(br#"a\"b\\c\/\n\t\u0041\u5f20\ud83d\ude00"#, &mut s).unwrap();
        assert_eq!(s, "a\"b\\c/\n\tA张😀");
        let mut out = Vec::new();
        encode("a\"b\\\n\u{1}张😀", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\\\n\\u0001张😀\"".as_bytes());
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, "a\"b\\\n\u{1}张😀");
    }

    #[test]
    fn numbers_follow_the_grammar() {
        fn lex(s: &str) -> bool {
            let mut b = s.bytes();
            let Some(mut n) = b.next().and_then(Num::start) else { return false };
            for c in b {
                match n.step(c) {
                    Some(next) => n = next,
                    None => return false,
                }
            }
            n.complete()
        }
        for ok in ["0", "-0", "12", "1.5", "-0.25e-3", "6E+2", "13812345678"] {
            assert!(lex(ok), "{ok}");
        }
        for bad in ["-", "01", "1.", ".5", "1e", "1e+", "+1", "--1"] {
            assert!(!lex(bad), "{bad}");
        }
    }
}
