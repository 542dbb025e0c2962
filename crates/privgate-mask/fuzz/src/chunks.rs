//! How a fuzz input is cut into chunks: its first two bytes pick a pattern, the rest is
//! the body.
//!
//! The patterns cover what a proxy sees (one byte at a time, fixed-size frames, a single
//! split anywhere, and irregular frames including empty ones), so the fuzzer can steer
//! chunk boundaries into UTF-8 sequences, escapes, numbers and held values by mutating
//! two bytes. This module decides nothing about masking; `lib.rs` runs the engine over
//! the chunks.

/// Bytes at the start of a fuzz input that choose the chunking.
pub const HEADER: usize = 2;

/// A chunk-size pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// One byte per chunk.
    Bytes,
    /// Chunks of this many bytes (1..=64).
    Fixed(usize),
    /// Two chunks, cut at this fraction (in 255ths) of the body.
    Split(u8),
    /// Irregular sizes from 0 to 16 bytes (empty chunks included), from this seed.
    Small(u8),
    /// Irregular sizes from 1 to 256 bytes, from this seed.
    Large(u8),
}

impl Chunking {
    /// Every pattern kind with parameter `p`, for the seed tests.
    pub fn all(p: u8) -> [Chunking; 5] {
        [
            Chunking::Bytes,
            Chunking::Fixed(1 + usize::from(p % 64)),
            Chunking::Split(p),
            Chunking::Small(p),
            Chunking::Large(p),
        ]
    }

    /// The header bytes that select this pattern (the inverse of [`Chunking::parse`]).
    pub fn header(self) -> [u8; HEADER] {
        match self {
            Chunking::Bytes => [0, 0],
            Chunking::Fixed(n) => [1, (n.clamp(1, 64) - 1) as u8],
            Chunking::Split(p) => [2, p],
            Chunking::Small(p) => [3, p],
            Chunking::Large(p) => [4, p],
        }
    }

    /// Splits a fuzz input into its chunking and its body. Inputs shorter than the header
    /// are all body, fed a byte at a time.
    pub fn parse(data: &[u8]) -> (Chunking, &[u8]) {
        let (Some(&kind), Some(&p)) = (data.first(), data.get(1)) else {
            return (Chunking::Bytes, data);
        };
        let body = data.get(HEADER..).unwrap_or_default();
        let chunking = match kind % 5 {
            0 => Chunking::Bytes,
            1 => Chunking::Fixed(1 + usize::from(p % 64)),
            2 => Chunking::Split(p),
            3 => Chunking::Small(p),
            _ => Chunking::Large(p),
        };
        (chunking, body)
    }

    /// Cuts `body` into chunks; their concatenation is `body`.
    pub fn chunks(self, body: &[u8]) -> Vec<&[u8]> {
        match self {
            Chunking::Bytes => body.chunks(1).collect(),
            Chunking::Fixed(n) => body.chunks(n.max(1)).collect(),
            Chunking::Split(p) => {
                let (a, b) = body.split_at(body.len() * usize::from(p) / 255);
                vec![a, b]
            }
            Chunking::Small(seed) => irregular(body, seed, 0, 16),
            Chunking::Large(seed) => irregular(body, seed, 1, 256),
        }
    }
}

/// Chunks of `min..=max` bytes from a xorshift generator; never two empty chunks in a row.
fn irregular(body: &[u8], seed: u8, min: u32, max: u32) -> Vec<&[u8]> {
    let mut state = 0x9E37_79B9u32 ^ (u32::from(seed) << 8 | 1);
    let mut rest = body;
    let mut out = Vec::new();
    let mut last_empty = false;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let mut n = (min + state % (max - min + 1)) as usize;
        if n == 0 && last_empty {
            n = 1;
        }
        last_empty = n == 0;
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_body_and_headers_round_trip() {
        let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for p in [0, 1, 7, 128, 255] {
            for c in Chunking::all(p) {
                assert_eq!(c.chunks(&body).concat(), body, "{c:?}");
                let mut data = c.header().to_vec();
                data.extend_from_slice(&body);
                assert_eq!(Chunking::parse(&data), (c, &body[..]));
            }
        }
        assert_eq!(Chunking::parse(b"x"), (Chunking::Bytes, &b"x"[..]));
        assert!(Chunking::Small(3)
            .chunks(&body)
            .iter()
            .any(|c| c.is_empty()));
    }
}
