//! The body phase: a streaming `Body` that decodes (gzip, deflate) and masks each
//! upstream frame as it arrives, and never holds more than a frame and the engine's
//! bounded state.
//!
//! Unchanged stretches of the upstream's `Bytes` longer than [`SLICE_MIN`] go on as
//! slices of it (no copy); rewritten values and short stretches are copied into one
//! `BytesMut`. Decoded bodies are copied once by the decoder anyway. If the engine, the
//! decoder or the upstream fails, or the upstream stalls past the read timeout, the body
//! ends with an error: hyper then closes the connection without the final chunk
//! (HTTP/1.1) or resets the stream (HTTP/2), so the client sees an incomplete response,
//! and nothing after the error point, where the engine had not decided, was sent.
//! Completion (records, outcome, duration) is logged and counted in the metrics here,
//! without body data; a body dropped before its end (the client went away) counts as
//! an abort too.

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use flate2::write::{GzDecoder, ZlibDecoder};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use privgate_mask::{Masker, Output};
use tokio::time::Sleep;

use super::response::Encoding;
use crate::admin::metrics::Metrics;

/// The error a body ends with (its message names the stage, never data).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Unchanged stretches at least this long are sliced, not copied.
pub const SLICE_MIN: usize = 1024;

/// Compressed input is decoded in pieces of this size, bounding each decoded piece.
const DECODE_STEP: usize = 4096;

/// Collects the engine's output for one fed chunk as a queue of frames.
struct FrameOut<'a> {
    src: &'a Bytes,
    copy: BytesMut,
    frames: &'a mut VecDeque<Bytes>,
}

impl FrameOut<'_> {
    fn flush(&mut self) {
        if !self.copy.is_empty() {
            self.frames.push_back(self.copy.split().freeze());
        }
    }
}

impl Output for FrameOut<'_> {
    fn pass(&mut self, chunk: &[u8], range: Range<usize>) {
        let same = chunk.as_ptr() == self.src.as_ptr() && chunk.len() == self.src.len();
        if same && range.len() >= SLICE_MIN && range.end <= self.src.len() {
            self.flush();
            self.frames.push_back(self.src.slice(range));
        } else {
            self.copy
                .extend_from_slice(chunk.get(range).unwrap_or_default());
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.copy.extend_from_slice(bytes);
    }
}

enum Decoder {
    Identity,
    Gzip(GzDecoder<Vec<u8>>),
    Deflate(ZlibDecoder<Vec<u8>>),
}

impl Decoder {
    fn write(&mut self, input: &[u8]) -> std::io::Result<()> {
        match self {
            Decoder::Identity => Ok(()),
            Decoder::Gzip(d) => d.write_all(input),
            Decoder::Deflate(d) => d.write_all(input),
        }
    }

    fn take(&mut self) -> Bytes {
        match self {
            Decoder::Identity => Bytes::new(),
            Decoder::Gzip(d) => Bytes::from(std::mem::take(d.get_mut())),
            Decoder::Deflate(d) => Bytes::from(std::mem::take(d.get_mut())),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Decoder::Identity => Ok(()),
            Decoder::Gzip(d) => d.try_finish(),
            Decoder::Deflate(d) => d.try_finish(),
        }
    }
}

/// What the completion log line says about a response.
#[derive(Debug)]
pub struct Completion {
    /// The route.
    pub route: String,
    /// The role served.
    pub role: String,
    /// The status sent.
    pub status: u16,
    /// When the request arrived.
    pub start: Instant,
    /// Where the outcome is counted.
    pub metrics: Arc<Metrics>,
}

/// A masked upstream body.
pub struct MaskedBody {
    inner: Incoming,
    decoder: Decoder,
    masker: Masker,
    frames: VecDeque<Bytes>,
    read_timeout: Duration,
    idle: Pin<Box<Sleep>>,
    done: bool,
    completion: Completion,
}

impl std::fmt::Debug for MaskedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskedBody")
            .field("route", &self.completion.route)
            .finish_non_exhaustive()
    }
}

impl MaskedBody {
    /// Masks `inner`, encoded as `encoding`, with `masker`.
    pub fn new(
        inner: Incoming,
        encoding: Encoding,
        masker: Masker,
        read_timeout: Duration,
        completion: Completion,
    ) -> MaskedBody {
        let decoder = match encoding {
            Encoding::Identity => Decoder::Identity,
            Encoding::Gzip => Decoder::Gzip(GzDecoder::new(Vec::new())),
            Encoding::Deflate => Decoder::Deflate(ZlibDecoder::new(Vec::new())),
        };
        MaskedBody {
            inner,
            decoder,
            masker,
            frames: VecDeque::new(),
            read_timeout,
            idle: Box::pin(tokio::time::sleep(read_timeout)),
            done: false,
            completion,
        }
    }

    fn mask(&mut self, src: &Bytes) -> Result<(), &'static str> {
        let mut out = FrameOut {
            src,
            copy: BytesMut::new(),
            frames: &mut self.frames,
        };
        let r = self.masker.feed(src, &mut out);
        out.flush();
        r.map_err(|e| engine_failure(&e))
    }

    fn chunk(&mut self, data: Bytes) -> Result<(), &'static str> {
        if matches!(self.decoder, Decoder::Identity) {
            return self.mask(&data);
        }
        for piece in data.chunks(DECODE_STEP) {
            self.decoder.write(piece).map_err(|_| "decode")?;
            let decoded = self.decoder.take();
            if !decoded.is_empty() {
                self.mask(&decoded)?;
            }
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), &'static str> {
        self.decoder.finish().map_err(|_| "decode")?;
        let decoded = self.decoder.take();
        if !decoded.is_empty() {
            self.mask(&decoded)?;
        }
        let mut copy = Vec::new();
        self.masker
            .finish(&mut copy)
            .map_err(|e| engine_failure(&e))?;
        if !copy.is_empty() {
            self.frames.push_back(Bytes::from(copy));
        }
        Ok(())
    }

    fn fail(&mut self, reason: &'static str) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.done = true;
        self.frames.clear();
        let c = &self.completion;
        c.metrics.abort(reason);
        c.metrics
            .duration(&c.route, c.start.elapsed().as_secs_f64());
        tracing::warn!(
            route = %c.route,
            role = %c.role,
            status = c.status,
            reason,
            records = self.masker.stats().records,
            duration_ms = c.start.elapsed().as_millis() as u64,
            "response aborted"
        );
        Poll::Ready(Some(Err(format!("response aborted: {reason}").into())))
    }
}

impl Drop for MaskedBody {
    fn drop(&mut self) {
        if !self.done {
            let c = &self.completion;
            c.metrics.abort("client-gone");
            c.metrics
                .duration(&c.route, c.start.elapsed().as_secs_f64());
            tracing::info!(route = %c.route, role = %c.role, "response dropped before its end");
        }
    }
}

/// The reason a masking error gives in logs (kinds only: never a value).
fn engine_failure(e: &privgate_mask::MaskError) -> &'static str {
    use privgate_mask::MaskError as E;
    match e {
        E::Syntax { .. } => "malformed-body",
        E::ValueTooLong { .. } => "value-too-long",
        E::TooDeep { .. } => "too-deep",
        E::RecordLimit { .. } => "record-limit",
        _ => "engine",
    }
}

impl Body for MaskedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(b) = this.frames.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let polled = Pin::new(&mut this.inner).poll_frame(cx);
            let frame = match polled {
                Poll::Pending => {
                    ready!(this.idle.as_mut().poll(cx));
                    return this.fail("upstream-read-timeout");
                }
                Poll::Ready(f) => f,
            };
            let deadline = tokio::time::Instant::now() + this.read_timeout;
            this.idle.as_mut().reset(deadline);
            let step = match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.chunk(data),
                    Err(_trailers) => Ok(()), // trailers are not forwarded
                },
                Some(Err(_)) => Err("upstream-body"),
                None => {
                    this.done = true;
                    let r = this.end();
                    if r.is_ok() {
                        let c = &this.completion;
                        c.metrics.masked(&c.route, &c.role, this.masker.stats());
                        c.metrics
                            .duration(&c.route, c.start.elapsed().as_secs_f64());
                        tracing::info!(
                            route = %c.route,
                            role = %c.role,
                            status = c.status,
                            records = this.masker.stats().records,
                            values_masked = this.masker.stats().values(),
                            duration_ms = c.start.elapsed().as_millis() as u64,
                            "response completed"
                        );
                    }
                    r
                }
            };
            if let Err(reason) = step {
                return this.fail(reason);
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
