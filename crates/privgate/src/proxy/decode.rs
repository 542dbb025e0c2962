//! Content decoding of upstream bodies (gzip, deflate, br, zstd) in bounded steps.
//!
//! The gateway asks the upstream for `identity`, but legacy servers compress anyway. A
//! compressed body must be decoded before it is masked, and decoding is where a small
//! input can become a huge output: deflate expands up to about 1032:1, brotli and zstd
//! far more (a zstd RLE block turns a few bytes into 128 KiB). So a [`Decoder`] never
//! decodes "everything it was given": each [`Decoder::step`] consumes some input and
//! produces at most about [`OUT_STEP`] bytes, and says whether it holds more output. The
//! body phase masks and sends each step's output before taking the next, which keeps a
//! response's memory bounded whatever the compression ratio.
//!
//! Windows are bounded too: zstd frames that need a window over 8 MiB
//! (`WindowLogMax` 23) and large-window brotli streams are refused as decode errors, so
//! one stream holds at most the codec's window plus a step. Truncated streams (a frame or
//! a brotli stream that did not end) are errors at [`Decoder::finish`]: a body cut short
//! after a whole NDJSON line or CSV row must not look complete.

use std::io::{self, Write};

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
use flate2::write::{GzDecoder, ZlibDecoder};
use zstd::stream::raw::{DParameter, Decoder as ZstdDecoder, Operation};

/// The most output one step produces (zstd and brotli), in bytes.
pub const OUT_STEP: usize = 64 * 1024;

/// Input a gzip/deflate step consumes: at deflate's ~1032:1 worst case this keeps one
/// step's output near [`OUT_STEP`] (flate2's push decoders cannot cap their output).
const FLATE_IN_STEP: usize = 64;

/// Largest zstd window accepted, as a power of two (8 MiB).
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// The codings the gateway decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// gzip (RFC 1952), several members allowed.
    Gzip,
    /// HTTP's `deflate`: zlib-wrapped deflate (RFC 1950).
    Deflate,
    /// Brotli (RFC 7932), standard window.
    Brotli,
    /// Zstandard (RFC 8878), window up to 8 MiB.
    Zstd,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Input bytes consumed.
    pub consumed: usize,
    /// Whether the decoder holds output it could not give in this step (call again,
    /// with or without new input).
    pub more: bool,
}

type Brotli = BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>;

enum Inner {
    Gzip(GzDecoder<Vec<u8>>),
    Deflate(ZlibDecoder<Vec<u8>>),
    Brotli {
        state: Box<Brotli>,
        buf: Vec<u8>,
        total_out: usize,
        finished: bool,
    },
    Zstd {
        dec: Box<ZstdDecoder<'static>>,
        buf: Vec<u8>,
        /// The last step ended exactly at a frame's end.
        at_frame_end: bool,
        /// The last step filled the output buffer (more may be pending).
        full: bool,
    },
}

/// A streaming decoder for one body.
pub struct Decoder {
    inner: Inner,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.inner {
            Inner::Gzip(_) => "gzip",
            Inner::Deflate(_) => "deflate",
            Inner::Brotli { .. } => "br",
            Inner::Zstd { .. } => "zstd",
        };
        f.debug_tuple("Decoder").field(&name).finish()
    }
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Decoder {
    /// A decoder for `coding`.
    pub fn new(coding: Coding) -> io::Result<Decoder> {
        let inner = match coding {
            Coding::Gzip => Inner::Gzip(GzDecoder::new(Vec::new())),
            Coding::Deflate => Inner::Deflate(ZlibDecoder::new(Vec::new())),
            Coding::Brotli => Inner::Brotli {
                state: Box::new(BrotliState::new_strict(
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                )),
                buf: vec![0; OUT_STEP],
                total_out: 0,
                finished: false,
            },
            Coding::Zstd => {
                let mut dec = ZstdDecoder::new()?;
                dec.set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))?;
                Inner::Zstd {
                    dec: Box::new(dec),
                    buf: vec![0; OUT_STEP],
                    at_frame_end: true,
                    full: false,
                }
            }
        };
        Ok(Decoder { inner })
    }

    /// Decodes some of `input`, appending the output to `out`.
    pub fn step(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<Step> {
        match &mut self.inner {
            Inner::Gzip(d) => flate_step(d, input, out),
            Inner::Deflate(d) => flate_step(d, input, out),
            Inner::Brotli {
                state,
                buf,
                total_out,
                finished,
            } => {
                if *finished {
                    return if input.is_empty() {
                        Ok(Step {
                            consumed: 0,
                            more: false,
                        })
                    } else {
                        Err(invalid("data after the end of the brotli stream"))
                    };
                }
                let mut avail_in = input.len();
                let mut in_off = 0;
                let mut avail_out = buf.len();
                let mut out_off = 0;
                let r = BrotliDecompressStream(
                    &mut avail_in,
                    &mut in_off,
                    input,
                    &mut avail_out,
                    &mut out_off,
                    buf,
                    total_out,
                    state,
                );
                out.extend_from_slice(&buf[..out_off]);
                match r {
                    BrotliResult::ResultFailure => Err(invalid("corrupt brotli stream")),
                    BrotliResult::ResultSuccess => {
                        *finished = true;
                        if in_off < input.len() {
                            return Err(invalid("data after the end of the brotli stream"));
                        }
                        Ok(Step {
                            consumed: in_off,
                            more: false,
                        })
                    }
                    BrotliResult::NeedsMoreInput => Ok(Step {
                        consumed: in_off,
                        more: false,
                    }),
                    BrotliResult::NeedsMoreOutput => Ok(Step {
                        consumed: in_off,
                        more: true,
                    }),
                }
            }
            Inner::Zstd {
                dec,
                buf,
                at_frame_end,
                full,
            } => {
                let status = dec.run_on_buffers(input, buf)?;
                out.extend_from_slice(&buf[..status.bytes_written]);
                // zstd answers 0 once a frame is decoded and flushed whole; a call that
                // neither read nor wrote says nothing new (it hints at a next header).
                if status.bytes_read > 0 || status.bytes_written > 0 {
                    *at_frame_end = status.remaining == 0;
                }
                *full = status.bytes_written == buf.len() && status.remaining != 0;
                Ok(Step {
                    consumed: status.bytes_read,
                    more: *full,
                })
            }
        }
    }

    /// The input has ended: appends what the decoder still holds and checks the stream
    /// ended where it may (a truncated body is an error). Returns whether more output is
    /// pending (call again).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        match &mut self.inner {
            Inner::Gzip(d) => {
                d.try_finish()?;
                out.append(d.get_mut());
                Ok(false)
            }
            Inner::Deflate(d) => {
                d.try_finish()?;
                out.append(d.get_mut());
                Ok(false)
            }
            Inner::Brotli { finished: true, .. } => Ok(false),
            Inner::Brotli { .. } => {
                let s = self.step(&[], out)?;
                if s.more {
                    return Ok(true);
                }
                match &self.inner {
                    Inner::Brotli { finished: true, .. } => Ok(false),
                    _ => Err(invalid("truncated brotli stream")),
                }
            }
            Inner::Zstd { full: true, .. } => {
                let s = self.step(&[], out)?;
                Ok(s.more)
            }
            Inner::Zstd { at_frame_end, .. } => {
                if *at_frame_end {
                    Ok(false)
                } else {
                    Err(invalid("truncated zstd frame"))
                }
            }
        }
    }
}

/// One gzip/deflate step: at most [`FLATE_IN_STEP`] bytes in, everything they decode to
/// out (bounded by the format's expansion ratio).
fn flate_step<D: Write + FlateSink>(
    d: &mut D,
    input: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<Step> {
    let piece = &input[..input.len().min(FLATE_IN_STEP)];
    d.write_all(piece)?;
    out.append(d.sink());
    Ok(Step {
        consumed: piece.len(),
        more: false,
    })
}

/// The decoded-output buffer of flate2's push decoders.
trait FlateSink {
    fn sink(&mut self) -> &mut Vec<u8>;
}

impl FlateSink for GzDecoder<Vec<u8>> {
    fn sink(&mut self) -> &mut Vec<u8> {
        self.get_mut()
    }
}

impl FlateSink for ZlibDecoder<Vec<u8>> {
    fn sink(&mut self) -> &mut Vec<u8> {
        self.get_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `chunk` bytes, checking every step's bound.
    fn decode(coding: Coding, input: &[u8], chunk: usize) -> io::Result<Vec<u8>> {
        let mut d = Decoder::new(coding)?;
        let mut all = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            loop {
                let mut out = Vec::new();
                let s = d.step(rest, &mut out)?;
                assert!(out.len() <= 2 * OUT_STEP, "step produced {}", out.len());
                all.extend_from_slice(&out);
                rest = &rest[s.consumed..];
                if rest.is_empty() && !s.more {
                    break;
                }
            }
        }
        loop {
            let mut out = Vec::new();
            let more = d.finish(&mut out)?;
            assert!(out.len() <= 2 * OUT_STEP);
            all.extend_from_slice(&out);
            if !more {
                break;
            }
        }
        Ok(all)
    }

    fn sample() -> Vec<u8> {
        let mut s = Vec::new();
        for i in 0..20_000 {
            s.extend_from_slice(format!("{{\"id\":{i},\"phone\":\"1381234{i:04}\"}}\n").as_bytes());
        }
        s
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 3).unwrap()
    }

    #[test]
    fn every_coding_round_trips_whatever_the_chunking() {
        let data = sample();
        for (coding, encoded) in [
            (Coding::Gzip, gzip(&data)),
            (Coding::Deflate, zlib(&data)),
            (Coding::Brotli, brotli(&data)),
            (Coding::Zstd, zstd(&data)),
        ] {
            for chunk in [1, 7, 4096, encoded.len()] {
                assert_eq!(
                    decode(coding, &encoded, chunk).unwrap(),
                    data,
                    "{coding:?} in chunks of {chunk}"
                );
            }
        }
    }

    #[test]
    fn bombs_decode_in_bounded_steps() {
        // 64 MiB of one byte: a few KiB compressed, decoded OUT_STEP at a time.
        let data = vec![b'a'; 64 << 20];
        for (coding, encoded) in [
            (Coding::Gzip, gzip(&data)),
            (Coding::Brotli, brotli(&data)),
            (Coding::Zstd, zstd(&data)),
        ] {
            assert!(encoded.len() < 200_000, "{coding:?}: {}", encoded.len());
            let out = decode(coding, &encoded, encoded.len()).unwrap();
            assert_eq!(out.len(), data.len(), "{coding:?}");
        }
    }

    #[test]
    fn truncated_streams_are_errors() {
        let data = sample();
        for (coding, encoded) in [
            (Coding::Gzip, gzip(&data)),
            (Coding::Deflate, zlib(&data)),
            (Coding::Brotli, brotli(&data)),
            (Coding::Zstd, zstd(&data)),
        ] {
            let cut = &encoded[..encoded.len() - 3];
            assert!(decode(coding, cut, 4096).is_err(), "{coding:?}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let junk = b"this is not compressed at all, just text pretending";
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
            assert!(decode(coding, junk, 16).is_err(), "{coding:?}");
        }
    }

    #[test]
    fn zstd_windows_over_eight_mib_are_refused() {
        let data = sample();
        let mut enc = zstd::stream::raw::Encoder::new(3).unwrap();
        enc.set_parameter(zstd::stream::raw::CParameter::WindowLog(26))
            .unwrap();
        let mut w = zstd::stream::write::Encoder::with_encoder(Vec::new(), enc);
        w.include_contentsize(false).unwrap();
        w.write_all(&data).unwrap();
        let encoded = w.finish().unwrap();
        assert!(decode(Coding::Zstd, &encoded, 4096).is_err());
    }
}
