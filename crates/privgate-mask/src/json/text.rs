//! JSON string and number lexing: validation while streaming, decoding and encoding.
//!
//! The scanner in `mod.rs` finds where strings and numbers start and end; this module
//! checks what is inside them as it streams by (UTF-8 split across chunks, control
//! characters, escapes split across chunks, surrogate pairs) and turns a held raw string
//! into text and back. It does not decide anything about masking.

use crate::error::SyntaxKind;

/// Validates the escapes of one string as they stream by (UTF-8 is checked for the
/// whole body by `utf8.rs`; quotes and control characters by [`scan_string`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct StrCheck {
    esc: Esc,
    /// A `\uD8xx` high surrogate waits for its low half.
    high: bool,
    /// The string contains at least one escape.
    pub(crate) escaped: bool,
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

    /// Checks that plain content may follow here: not between the halves of a
    /// surrogate pair.
    #[inline]
    pub(crate) fn run(&self, run: &[u8]) -> Result<(), SyntaxKind> {
        if self.high && !run.is_empty() {
            return Err(SyntaxKind::InvalidEscape);
        }
        Ok(())
    }

    /// Checks the byte after an unescaped backslash, or inside `\uXXXX`; the backslash
    /// itself starts the escape.
    #[inline]
    pub(crate) fn escape_byte(&mut self, b: u8) -> Result<(), SyntaxKind> {
        match self.esc {
            Esc::None => {
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
        } else {
            Ok(())
        }
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Finds the first byte that ends a run of plain string content: `"`, `\\` or a control
/// character (or returns the length).
///
/// Eight bytes at a time with word arithmetic (safe code only): strings in booking data
/// are short, where this beats a vectorised search plus a second pass for control
/// characters.
#[inline]
pub(crate) fn scan_string(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let quote = w ^ (LO * u64::from(b'"'));
        let backslash = w ^ (LO * u64::from(b'\\'));
        // A byte is flagged when it is zero (quote, backslash) or below 0x20; borrows
        // only flag bytes above a true hit, so the lowest flag is exact.
        let hits = (quote.wrapping_sub(LO) & !quote
            | backslash.wrapping_sub(LO) & !backslash
            | w.wrapping_sub(LO * 0x20) & !w)
            & HI;
        if hits != 0 {
            return base + (hits.trailing_zeros() / 8) as usize;
        }
        base += 8;
    }
    let tail = words.remainder();
    base + tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(tail.len())
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
        out.push_str(simdutf8::basic::from_utf8(run).map_err(|_| SyntaxKind::InvalidUtf8)?);
        let (&kind, tail) = tail
            .get(1..)
            .and_then(|t| t.split_first())
            .ok_or(SyntaxKind::InvalidEscape)?;
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
    out.push_str(simdutf8::basic::from_utf8(rest).map_err(|_| SyntaxKind::InvalidUtf8)?);
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
    if scan_string(bytes) == bytes.len() {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
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

    /// Runs the escape checks over a string's content split into chunks.
    fn check_chunks(chunks: &[&[u8]]) -> Result<(), SyntaxKind> {
        let mut c = StrCheck::default();
        for chunk in chunks {
            let mut rest: &[u8] = chunk;
            while !rest.is_empty() {
                if c.in_escape() {
                    c.escape_byte(rest[0])?;
                    rest = &rest[1..];
                    continue;
                }
                let at = scan_string(rest);
                c.run(&rest[..at])?;
                match rest.get(at) {
                    Some(b'\\') => {
                        c.escape_byte(b'\\')?;
                        rest = &rest[at + 1..];
                    }
                    Some(_) => return Err(SyntaxKind::ControlCharacter),
                    None => rest = &[],
                }
            }
        }
        c.close()
    }

    #[test]
    fn escapes_and_control_characters_are_checked_across_chunks() {
        assert_eq!(check_chunks(&[b"a\nb"]), Err(SyntaxKind::ControlCharacter));
        assert_eq!(check_chunks(&[b"\\x"]), Err(SyntaxKind::InvalidEscape));
        assert_eq!(check_chunks(&[b"\\ud800"]), Err(SyntaxKind::InvalidEscape));
        assert_eq!(check_chunks(&[b"\\udc00"]), Err(SyntaxKind::InvalidEscape));
        assert_eq!(check_chunks(&[b"\\ud800x"]), Err(SyntaxKind::InvalidEscape));
        assert_eq!(check_chunks(&[b"\\ud83d\\ude00"]), Ok(()));
        assert_eq!(check_chunks(&[b"\\ud83d", b"\\ude00"]), Ok(()));
        assert_eq!(check_chunks(&[b"\\u00", b"41\\", b"n"]), Ok(()));
    }

    #[test]
    fn scan_finds_the_first_stop_byte() {
        let text = "a\"b\\c\u{1}张😀 xyz plain ascii text\"".as_bytes();
        for start in 0..text.len() {
            for end in start..=text.len() {
                let s = &text[start..end];
                let want = s
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                    .unwrap_or(s.len());
                assert_eq!(scan_string(s), want, "{s:?}");
            }
        }
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
            let Some(mut n) = b.next().and_then(Num::start) else {
                return false;
            };
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
