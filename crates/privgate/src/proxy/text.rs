//! `other_content: detect`: a `text/*` body the masking engine has no format for, streamed
//! line by line through every detector (`privgate_mask::detect`: phone numbers, resident
//! ID numbers, bank cards with their checksums, e-mail and IP addresses, passports), each
//! finding replaced with `***`.
//!
//! Fail closed, like the masked bodies: a line longer than the engine's value limit, or
//! bytes that are not UTF-8, end the response visibly incomplete (no final chunk), and
//! what was not yet decided is never sent. Memory is one line at most.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use privgate_mask::detect::{Detection, DetectorSet, Detectors};

use super::body::BoxError;

/// What a finding becomes.
const REPLACEMENT: &str = "***";

fn detectors() -> &'static Arc<Detectors> {
    static ALL: OnceLock<Arc<Detectors>> = OnceLock::new();
    ALL.get_or_init(|| Arc::new(Detectors::new(DetectorSet::all())))
}

/// A text body with its detected values redacted.
#[derive(Debug)]
pub struct TextBody {
    inner: Incoming,
    /// Bytes after the last complete line.
    pending: BytesMut,
    max_line: usize,
    done: bool,
}

impl TextBody {
    /// Redacts `inner`, refusing lines over `max_line` bytes.
    pub fn new(inner: Incoming, max_line: usize) -> TextBody {
        TextBody {
            inner,
            pending: BytesMut::new(),
            max_line,
            done: false,
        }
    }
}

/// `text` with every detection replaced; `Err` when it is not UTF-8.
pub fn redact(text: &[u8], out: &mut BytesMut) -> Result<(), &'static str> {
    let text = std::str::from_utf8(text).map_err(|_| "not-utf8")?;
    let d = detectors();
    if !d.may_contain(text.as_bytes()) {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    let mut found: Vec<Detection> = Vec::new();
    d.find(text, &mut found);
    let mut at = 0;
    for f in &found {
        out.extend_from_slice(text.get(at..f.range.start).unwrap_or_default().as_bytes());
        out.extend_from_slice(REPLACEMENT.as_bytes());
        at = f.range.end;
    }
    out.extend_from_slice(text.get(at..).unwrap_or_default().as_bytes());
    Ok(())
}

impl Body for TextBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(f) => f,
            };
            let mut out = BytesMut::new();
            let step = match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        this.pending.extend_from_slice(&data);
                        match this.pending.iter().rposition(|b| *b == b'\n') {
                            Some(end) => {
                                let lines = this.pending.split_to(end + 1);
                                redact(&lines, &mut out)
                            }
                            None if this.pending.len() > this.max_line => Err("value-too-long"),
                            None => Ok(()),
                        }
                    }
                    Err(_trailers) => Ok(()),
                },
                Some(Err(_)) => Err("upstream-body"),
                None => {
                    this.done = true;
                    let rest = std::mem::take(&mut this.pending);
                    redact(&rest, &mut out)
                }
            };
            if let Err(reason) = step {
                this.done = true;
                tracing::warn!(reason, "text response aborted");
                return Poll::Ready(Some(Err(format!("response aborted: {reason}").into())));
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_redacted_and_the_rest_kept() {
        let mut out = BytesMut::new();
        redact(
            "电话 13812345678，邮箱 zhang@example.com；其余照旧 <3\n".as_bytes(),
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[..], "电话 ***，邮箱 ***；其余照旧 <3\n".as_bytes());
        let mut out = BytesMut::new();
        assert!(redact(&[0xff, 0xfe], &mut out).is_err());
    }
}
