//! Running the streaming engine over a whole body, fed in fixed-size chunks.
//!
//! This is what the gateway does with body frames, minus the network: one [`Masker`] per
//! body, `feed` per chunk, `finish` at the end, output appended to a `Vec<u8>`. It is not
//! a benchmark itself (`benches/engine.rs` times it) and does no checking (the `ratios`
//! binary compares it with the baseline in `baseline.rs`).

use std::sync::Arc;

use privgate_mask::{Format, MaskError, Masker, Plan};

use crate::shape::Shape;

/// The chunk size of the engine cases unless a bench says otherwise: a typical body frame.
pub const CHUNK: usize = 64 * 1024;

impl Shape {
    /// The engine's format for this shape.
    pub const fn format(self) -> Format {
        match self {
            Shape::Json => Format::Json,
            Shape::Ndjson => Format::Ndjson,
            Shape::Csv => Format::Csv,
        }
    }
}

/// Masks `input` of `shape` with `plan`, feeding the engine `chunk` bytes at a time, and
/// appends the masked body to `out`.
pub fn mask_chunked(
    plan: &Arc<Plan>,
    shape: Shape,
    input: &[u8],
    chunk: usize,
    out: &mut Vec<u8>,
) -> Result<(), MaskError> {
    let mut masker = Masker::new(Arc::clone(plan), shape.format());
    feed(&mut masker, input, chunk, out)
}

/// [`mask_chunked`] with a survey of the body (the gateway's discovery on a sampled
/// response): the same output, plus where personal data sits; returns the number of
/// sightings.
pub fn survey_chunked(
    plan: &Arc<Plan>,
    shape: Shape,
    input: &[u8],
    chunk: usize,
    out: &mut Vec<u8>,
) -> Result<usize, MaskError> {
    let mut masker = Masker::new(Arc::clone(plan), shape.format());
    masker.start_survey();
    feed(&mut masker, input, chunk, out)?;
    Ok(masker.survey().map_or(0, |s| s.sightings().count()))
}

fn feed(
    masker: &mut Masker,
    input: &[u8],
    chunk: usize,
    out: &mut Vec<u8>,
) -> Result<(), MaskError> {
    for piece in input.chunks(chunk.max(1)) {
        masker.feed(piece, out)?;
    }
    masker.finish(out)
}
