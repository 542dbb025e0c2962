//! The output cursor shared by the JSON and CSV rewriters.
//!
//! Within a chunk, bytes from `clean` on have not been written yet. Most of the time
//! they are simply passed on when something changes or the chunk ends. A *held region*
//! (a value being decided, a key being looked up, a separator before something that may
//! be dropped) is kept back: if it spans chunks its earlier part is copied into `held`.
//! Once decided, the region is released unchanged, replaced, or discarded. While
//! `suppress` is set, bytes are discarded (a dropped member, a nulled container).
//!
//! Neighbours: `json/mod.rs` and `csv.rs` drive it; `output.rs` receives what it writes.

use crate::output::Output;

#[derive(Debug, Default)]
pub(crate) struct Cursor {
    /// Start of the bytes of the current chunk not yet written or discarded.
    pub(crate) clean: usize,
    /// A region is held back.
    pub(crate) holding: bool,
    /// The part of the held region that came from earlier chunks.
    pub(crate) held: Vec<u8>,
    /// Where the held region starts in the current chunk. The region is
    /// `held ++ chunk[region_start..]`; bytes between `clean` and `region_start` are
    /// unchanged and written lazily, so a region released unchanged (a key, most
    /// values) costs no extra write.
    region_start: usize,
    /// The held region starts with a separator that goes if nothing precedes it.
    pub(crate) region_sep: bool,
    /// Absolute offset where the held region starts (for errors).
    pub(crate) region_at: u64,
    /// Offset of the current token inside the held region.
    pub(crate) token_off: usize,
    /// Output is being discarded.
    pub(crate) suppress: bool,
    /// Absolute offset of byte 0 of the slice being lexed.
    pub(crate) base: u64,
    /// Bytes fed so far.
    pub(crate) total: u64,
}

/// The held region grew past the limit.
#[derive(Debug)]
pub(crate) struct TooLong;

impl Cursor {
    /// Prepares for lexing `chunk[start..]`, whose byte 0 is at absolute offset `base`.
    #[inline]
    pub(crate) fn start_chunk(&mut self, start: usize, base: u64) {
        self.clean = start;
        self.region_start = start;
        self.base = base;
    }

    /// Writes the pending unchanged bytes up to `pos` (or discards them while
    /// suppressing). Does nothing while a region is held.
    #[inline]
    pub(crate) fn flush<O: Output>(&mut self, chunk: &[u8], pos: usize, out: &mut O) {
        if self.holding {
            return;
        }
        if !self.suppress {
            out.pass(chunk, self.clean..pos);
        }
        self.clean = pos;
    }

    /// Starts holding at `pos`; the token starts there too.
    #[inline]
    pub(crate) fn hold_begin(&mut self, pos: usize) {
        self.holding = true;
        self.region_start = pos;
        self.region_sep = false;
        self.token_off = 0;
        self.region_at = self.base + pos as u64;
    }

    /// Length of the held region if it ended at `pos`.
    #[inline]
    pub(crate) fn region_len(&self, pos: usize) -> usize {
        self.held.len() + pos.saturating_sub(self.region_start)
    }

    /// Writes the unchanged bytes before the held region.
    #[inline]
    fn flush_before_region<O: Output>(&mut self, chunk: &[u8], out: &mut O) {
        if self.held.is_empty() && !self.suppress {
            out.pass(chunk, self.clean..self.region_start);
        }
    }

    /// Lets the held region through unchanged, without its leading separator if
    /// `drop_sep`, and stops holding.
    #[inline]
    pub(crate) fn release<O: Output>(&mut self, chunk: &[u8], out: &mut O, drop_sep: bool) {
        let skip = self.region_sep && drop_sep;
        if !self.held.is_empty() {
            out.emit(self.held.get(usize::from(skip)..).unwrap_or_default());
            self.held.clear();
        } else if skip {
            self.flush_before_region(chunk, out);
            self.clean = self.region_start + 1;
        }
        self.holding = false;
        self.region_sep = false;
    }

    /// Drops the held region; unchanged output resumes at `pos`.
    #[inline]
    pub(crate) fn discard<O: Output>(&mut self, chunk: &[u8], pos: usize, out: &mut O) {
        self.flush_before_region(chunk, out);
        self.held.clear();
        self.holding = false;
        self.region_sep = false;
        self.clean = pos;
    }

    /// Locates the current token, ending at `end`: `(start, in_held)`, where the token
    /// is `held[start..]` or `chunk[start..end]`.
    #[inline]
    pub(crate) fn token(
        &mut self,
        chunk: &[u8],
        end: usize,
        limit: usize,
    ) -> Result<(usize, bool), TooLong> {
        if self.region_len(end) > limit {
            return Err(TooLong);
        }
        if self.held.is_empty() {
            Ok((self.region_start + self.token_off, false))
        } else {
            self.held
                .extend_from_slice(chunk.get(self.region_start..end).unwrap_or_default());
            self.region_start = end;
            self.clean = end;
            Ok((self.token_off, true))
        }
    }

    /// The bytes of the token located by [`Cursor::token`].
    #[inline]
    pub(crate) fn token_bytes<'a>(
        &'a self,
        chunk: &'a [u8],
        at: (usize, bool),
        end: usize,
    ) -> &'a [u8] {
        let bytes = if at.1 {
            self.held.get(at.0..)
        } else {
            chunk.get(at.0..end)
        };
        bytes.unwrap_or_default()
    }

    /// Ends the chunk: passes pending bytes, and keeps the held region for the next one.
    #[inline]
    pub(crate) fn end_chunk<O: Output>(
        &mut self,
        chunk: &[u8],
        out: &mut O,
        limit: usize,
    ) -> Result<(), TooLong> {
        if self.holding {
            if self.region_len(chunk.len()) > limit {
                return Err(TooLong);
            }
            self.flush_before_region(chunk, out);
            self.held
                .extend_from_slice(chunk.get(self.region_start..).unwrap_or_default());
            self.region_start = chunk.len();
            self.clean = chunk.len();
        } else {
            self.flush(chunk, chunk.len(), out);
        }
        Ok(())
    }
}
