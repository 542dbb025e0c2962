//! UTF-8 validation of a whole body, chunk by chunk.
//!
//! Every byte of a JSON, NDJSON or CSV body must be valid UTF-8 (outside JSON strings
//! only ASCII is valid anyway). Checking each chunk once with a vectorised validator is
//! far cheaper than checking each string on its own, and lets the lexers treat string
//! content as opaque bytes. A character split across chunks is carried over. The lexers
//! run up to the first invalid byte and report it there, so the error is the same
//! whatever the chunking.

/// The first invalid byte of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Index in the chunk up to which the bytes are valid.
    pub(crate) valid_end: usize,
    /// Absolute offset of the invalid sequence (before the chunk if it began in the
    /// previous one).
    pub(crate) offset: u64,
}

/// Validation state carried between chunks.
#[derive(Debug, Default)]
pub(crate) struct Utf8Stream {
    carry: [u8; 4],
    carry_len: usize,
}

impl Utf8Stream {
    /// Checks the chunk that starts at absolute offset `consumed`.
    pub(crate) fn check(&mut self, chunk: &[u8], consumed: u64) -> Result<(), Invalid> {
        let mut start = 0;
        if self.carry_len > 0 {
            let carried = self.carry_len;
            let width = width(self.carry[0]);
            let take = (width - carried).min(chunk.len());
            for (slot, b) in self.carry.iter_mut().skip(carried).zip(chunk) {
                *slot = *b;
            }
            self.carry_len += take;
            if self.carry_len < width {
                return Ok(());
            }
            self.carry_len = 0;
            if std::str::from_utf8(self.carry.get(..width).unwrap_or_default()).is_err() {
                return Err(Invalid {
                    valid_end: 0,
                    offset: consumed - carried as u64,
                });
            }
            start = take;
        }
        let rest = chunk.get(start..).unwrap_or_default();
        match simdutf8::compat::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) => {
                let valid_end = start + e.valid_up_to();
                let tail = chunk.get(valid_end..).unwrap_or_default();
                if e.error_len().is_none() && tail.len() < 4 {
                    self.carry_len = tail.len();
                    for (slot, b) in self.carry.iter_mut().zip(tail) {
                        *slot = *b;
                    }
                    Ok(())
                } else {
                    Err(Invalid {
                        valid_end,
                        offset: consumed + valid_end as u64,
                    })
                }
            }
        }
    }

    /// If the body ended inside a character, how many of its bytes were seen.
    pub(crate) fn pending(&self) -> Option<usize> {
        (self.carry_len > 0).then_some(self.carry_len)
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

    /// The offset of the first invalid sequence when `input` is fed in two chunks.
    fn first_error(input: &[u8], cut: usize) -> Option<u64> {
        let mut s = Utf8Stream::default();
        let (a, b) = input.split_at(cut);
        if let Err(e) = s.check(a, 0) {
            return Some(e.offset);
        }
        if let Err(e) = s.check(b, a.len() as u64) {
            return Some(e.offset);
        }
        s.pending()
            .map(|carried| input.len() as u64 - carried as u64)
    }

    #[test]
    fn same_verdict_whatever_the_split() {
        let cases: &[(&[u8], Option<u64>)] = &[
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
