//! The body phase: a streaming `Body` that decodes (gzip, deflate, br, zstd; see
//! `decode.rs`) and masks each upstream frame as it arrives, and never holds more than a
//! frame (or one bounded decoding step) and the engine's bounded state.
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
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use privgate_mask::{Masker, Output};
use tokio::time::Sleep;

use super::audit::{Outcome, RequestMeta};
use super::decode::{Coding, Decoder};
use super::State;
use crate::admin::metrics::Metrics;
use crate::store::{Reservation, Store};

/// The error a body ends with (its message names the stage, never data).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Unchanged stretches at least this long are sliced, not copied.
pub const SLICE_MIN: usize = 1024;

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

/// What a served response's end is counted, logged and audited with: the request's
/// facts and the gateway state (metrics, trail, store) they are recorded in.
#[derive(Debug)]
pub struct Completion {
    /// The gateway state.
    pub state: Arc<State>,
    /// The request's head facts (id, method, client, caller, policy hash).
    pub meta: RequestMeta,
    /// The route.
    pub route: String,
    /// The role served.
    pub role: String,
    /// The status sent.
    pub status: u16,
    /// When the request arrived.
    pub start: Instant,
    /// The approval used.
    pub approval: Option<String>,
    /// A control in shadow mode would have refused it.
    pub would_deny: bool,
    /// Export accounting, on export routes.
    pub export: Option<ExportTrack>,
}

/// What an export response settles when it ends: its quota reservation (the records it
/// did not serve go back), its outcome metric, a shadow cap to report.
#[derive(Debug)]
pub struct ExportTrack {
    /// The reservation, settled once.
    pub reservation: Option<Reservation>,
    /// A shadow-mode record cap (`would_deny` when the response went over it).
    pub shadow_cap: Option<u64>,
}

impl Completion {
    fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// Counts an export's outcome (`completed`, `cut`, `aborted`) and settles its quota
    /// reservation with the records served, in the background.
    fn export_done(&mut self, outcome: &str, served: u64) {
        let Some(track) = self.export.as_mut() else {
            return;
        };
        let reservation = track.reservation.take();
        let over_cap = track.shadow_cap.is_some_and(|cap| served > cap);
        let metrics = &self.state.metrics;
        metrics.export(&self.route, outcome);
        if over_cap {
            metrics.control(&self.route, "max_records", "would_deny");
        }
        if let Some(r) = reservation {
            settle(Arc::clone(&self.state.store), r, served);
        }
    }
}

/// Gives back the part of `r` not served, in the background (the response is not held
/// up by the store). Outside a runtime (never in the gateway) it is left to expire with
/// its window.
pub fn settle(store: Arc<Store>, r: Reservation, served: u64) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            if store.quota_settle(&r, served).await.is_err() {
                tracing::warn!("cannot settle a quota reservation; it expires with its window");
            }
        });
    }
}

/// A masked upstream body.
pub struct MaskedBody {
    inner: Incoming,
    /// The content decoder, when the upstream compressed the body.
    decoder: Option<Decoder>,
    /// Compressed input not yet decoded.
    pending: Bytes,
    /// The decoder holds output it has not given yet.
    decoder_more: bool,
    /// The upstream body has ended; the decoder is being drained.
    draining: bool,
    /// The body was cut at its record limit: the error to end with once the frames
    /// decided before the cut are sent.
    cut: Option<&'static str>,
    /// The body has yielded once since the cut (see [`MaskedBody::next_frame`]).
    cut_yielded: bool,
    /// Body bytes handed to the connection.
    sent: u64,
    /// The audit event was recorded.
    audited: bool,
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
    /// Masks `inner`, compressed with `coding` if any, with `masker`.
    pub fn new(
        inner: Incoming,
        coding: Option<Coding>,
        masker: Masker,
        read_timeout: Duration,
        completion: Completion,
    ) -> std::io::Result<MaskedBody> {
        let decoder = coding.map(Decoder::new).transpose()?;
        Ok(MaskedBody {
            inner,
            decoder,
            pending: Bytes::new(),
            decoder_more: false,
            draining: false,
            cut: None,
            cut_yielded: false,
            sent: 0,
            audited: false,
            masker,
            frames: VecDeque::new(),
            read_timeout,
            idle: Box::pin(tokio::time::sleep(read_timeout)),
            done: false,
            completion,
        })
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

    /// Whether decoding work is waiting (input to decode, or output held).
    fn decoding(&self) -> bool {
        self.decoder.is_some() && (!self.pending.is_empty() || self.decoder_more || self.draining)
    }

    /// One bounded decoding step (see `decode.rs`): its output is masked into frames,
    /// which are sent before the next step is taken. At the upstream's end, steps drain
    /// the decoder, then the engine finishes.
    fn decode_step(&mut self) -> Result<(), &'static str> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(());
        };
        let mut out = Vec::new();
        if self.draining {
            // The upstream has ended (with all its input decoded): drain, and check the
            // stream was not cut short.
            self.decoder_more = decoder.finish(&mut out).map_err(|_| "decode")?;
        } else {
            let step = decoder
                .step(&self.pending, &mut out)
                .map_err(|_| "decode")?;
            let _ = self.pending.split_to(step.consumed);
            self.decoder_more = step.more;
        }
        if !out.is_empty() {
            self.mask(&Bytes::from(out))?;
        }
        if self.draining && !self.decoder_more {
            self.draining = false;
            self.decoder = None;
            return self.end();
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), &'static str> {
        let mut copy = Vec::new();
        self.masker
            .finish(&mut copy)
            .map_err(|e| engine_failure(&e))?;
        if !copy.is_empty() {
            self.frames.push_back(Bytes::from(copy));
        }
        self.done = true;
        self.completed();
        Ok(())
    }

    /// Records the request's audit event (and a `stream_abort` event when it was cut
    /// short), once.
    fn audit(&mut self, cut: Option<&'static str>) {
        if self.audited {
            return;
        }
        self.audited = true;
        let c = &self.completion;
        let stats = self.masker.stats();
        if let Some(subject) = &c.meta.subject {
            super::watch::observe(
                &c.state,
                &super::watch::Seen {
                    subject,
                    route: &c.route,
                    is_export: c.export.is_some(),
                    records: stats.records,
                    personal_values: stats.values(),
                    denied: false,
                },
            );
        }
        let trail = &c.state.audit;
        if !trail.enabled() {
            return;
        }
        trail.request(
            &c.meta,
            &Outcome {
                route: Some(&c.route),
                role: Some(&c.role),
                status: c.status,
                allowed: true,
                reason: "allowed",
                stats: Some(stats),
                bytes: self.sent,
                duration_ms: c.start.elapsed().as_millis() as u64,
                approval: c.approval.as_deref(),
                cut,
                would_deny: c.would_deny,
            },
        );
        if let Some(reason) = cut {
            trail.record(privgate_audit::Event::StreamAbort(
                privgate_audit::StreamAbortEvent {
                    request_id: c.meta.id.clone(),
                    route: c.route.clone(),
                    reason: reason.to_owned(),
                    records: stats.records,
                },
            ));
        }
    }

    /// Merges the body's survey, if it was surveyed, into the inventory; a first sighting
    /// of uncovered personal data is logged, counted and audited.
    fn surveyed(&self) {
        let c = &self.completion;
        let (Some(survey), Some(inv)) = (self.masker.survey(), &c.state.inventory) else {
            return;
        };
        for found in inv.merge(&c.route, survey, jiff::Timestamp::now()) {
            let pii_type = found.pii.as_str();
            tracing::info!(
                route = %found.route,
                path = %found.path,
                pii_type,
                request_id = %c.meta.id,
                "personal data no policy field covers"
            );
            c.metrics().discovery(&found.route, pii_type);
            c.state.audit.record(privgate_audit::Event::Discovery(
                privgate_audit::DiscoveryEvent {
                    request_id: c.meta.id.clone(),
                    route: found.route,
                    path: found.path,
                    pii_type: pii_type.to_owned(),
                },
            ));
        }
    }

    /// Logs and counts a response served to its end.
    fn completed(&mut self) {
        self.surveyed();
        let records = self.masker.stats().records;
        self.completion.export_done("completed", records);
        self.audit(None);
        let c = &self.completion;
        c.metrics().masked(&c.route, &c.role, self.masker.stats());
        c.metrics()
            .duration(&c.route, c.start.elapsed().as_secs_f64());
        tracing::debug!(
            route = %c.route,
            role = %c.role,
            status = c.status,
            records = self.masker.stats().records,
            values_masked = self.masker.stats().values(),
            duration_ms = c.start.elapsed().as_millis() as u64,
            "response completed"
        );
    }

    fn fail(
        &mut self,
        reason: &'static str,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.done = true;
        if reason == "record-limit" {
            // The engine stopped at a record boundary: what it decided so far is masked
            // and whole records, so it goes out before the abort.
            self.cut = Some(reason);
            self.surveyed();
        } else {
            self.frames.clear();
        }
        let records = self.masker.stats().records;
        let outcome = if reason == "record-limit" {
            "cut"
        } else {
            "aborted"
        };
        self.completion.export_done(outcome, records);
        self.audit(Some(reason));
        let c = &self.completion;
        c.metrics().abort(reason);
        c.metrics()
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
        if self.cut.is_some() {
            return self.next_frame(cx);
        }
        Poll::Ready(Some(Err(format!("response aborted: {reason}").into())))
    }

    /// The next queued frame, then the pending cut's error, then the end. Before the
    /// cut's error the body yields once, so the connection flushes the records sent
    /// before it (an error drops the connection with whatever is still buffered).
    fn next_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(b) = self.frames.pop_front() {
            self.sent += b.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if self.cut.is_some() && !self.cut_yielded {
            self.cut_yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(reason) = self.cut.take() {
            return Poll::Ready(Some(Err(format!("response aborted: {reason}").into())));
        }
        Poll::Ready(None)
    }
}

impl Drop for MaskedBody {
    fn drop(&mut self) {
        if !self.done {
            let records = self.masker.stats().records;
            self.completion.export_done("aborted", records);
            self.audit(Some("client-gone"));
            let c = &self.completion;
            c.metrics().abort("client-gone");
            c.metrics()
                .duration(&c.route, c.start.elapsed().as_secs_f64());
            tracing::debug!(route = %c.route, role = %c.role, "response dropped before its end");
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
                this.sent += b.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if this.done {
                return this.next_frame(cx);
            }
            if this.decoding() {
                if let Err(reason) = this.decode_step() {
                    return this.fail(reason, cx);
                }
                continue;
            }
            let polled = Pin::new(&mut this.inner).poll_frame(cx);
            let frame = match polled {
                Poll::Pending => {
                    ready!(this.idle.as_mut().poll(cx));
                    return this.fail("upstream-read-timeout", cx);
                }
                Poll::Ready(f) => f,
            };
            let deadline = tokio::time::Instant::now() + this.read_timeout;
            this.idle.as_mut().reset(deadline);
            let step = match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if this.decoder.is_some() => {
                        this.pending = data;
                        Ok(())
                    }
                    Ok(data) => this.mask(&data),
                    Err(_trailers) => Ok(()), // trailers are not forwarded
                },
                Some(Err(_)) => Err("upstream-body"),
                None if this.decoder.is_some() => {
                    this.draining = true;
                    Ok(())
                }
                None => this.end(),
            };
            if let Err(reason) = step {
                return this.fail(reason, cx);
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.frames.is_empty() && self.cut.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
