//! Where masked output goes: unchanged stretches of the input, or new bytes.
//!
//! A proxy forwards mostly unchanged bytes. [`Output::pass`] hands back a range of the
//! chunk being fed, so a caller holding the chunk as a reference-counted buffer can
//! forward a slice of it without copying; [`Output::emit`] carries bytes the engine
//! produced (rewritten values, or input held across a chunk boundary). `Vec<u8>`
//! implements both by copying.

use std::ops::Range;

/// A sink for masked output.
pub trait Output {
    /// `chunk[range]` goes to the output unchanged; `chunk` is the slice given to `feed`.
    fn pass(&mut self, chunk: &[u8], range: Range<usize>);
    /// `bytes` go to the output.
    fn emit(&mut self, bytes: &[u8]);
}

impl Output for Vec<u8> {
    #[inline]
    fn pass(&mut self, chunk: &[u8], range: Range<usize>) {
        self.extend_from_slice(chunk.get(range).unwrap_or_default());
    }

    #[inline]
    fn emit(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Wraps an output and counts the bytes that reach it.
#[derive(Debug)]
pub(crate) struct Counted<'a, O> {
    pub(crate) inner: &'a mut O,
    pub(crate) bytes: u64,
}

impl<O: Output> Output for Counted<'_, O> {
    #[inline]
    fn pass(&mut self, chunk: &[u8], range: Range<usize>) {
        if range.start < range.end {
            self.bytes += (range.end - range.start) as u64;
            self.inner.pass(chunk, range);
        }
    }

    #[inline]
    fn emit(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.bytes += bytes.len() as u64;
            self.inner.emit(bytes);
        }
    }
}
