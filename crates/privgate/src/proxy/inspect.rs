//! The inspection phase, between the control phase and the upstream call: request
//! inspection ("virtual patching", `waf/`) and collection minimisation of JSON request
//! bodies (a route's `accept:`).
//!
//! [`request`] takes the upstream request as built by the request phase and gives back
//! either the request to send (its body passed through, or replaced by the bytes read and
//! the rest of the stream, or by a rewritten body) or a [`Denial`]:
//!
//! - inspection: the path, query names and values, `User-Agent`, `Referer` and `Cookie`
//!   values, and the first [`BODY_LIMIT`] bytes of the body are scored; at the route's
//!   threshold a `block` route answers 403 `request-blocked` (with the matched rule ids
//!   and classes, never the input), a `detect` route logs and counts and goes on. A body
//!   larger than the limit is refused with 413 in `block` mode unless the route says
//!   `oversize: pass` (then the rest is forwarded unread).
//! - minimisation: a route with `accept:` reads the whole JSON body (at most
//!   [`BODY_LIMIT`], larger is 413; not JSON is 415 / 400); members it does not accept
//!   are stripped (the body re-serialised, `Content-Length` set) or refused with 422
//!   naming their paths only.
//! - a body with a `Content-Encoding` cannot be read: it is refused with 415 where
//!   inspection would block or minimisation applies, forwarded uninspected otherwise.
//!
//! Log lines name the route, the request id, rule ids and classes: never the request's
//! path, query, headers or body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, REFERER,
    TRANSFER_ENCODING, USER_AGENT,
};
use hyper::Request;
use privgate_policy::{AcceptNode, Extra, InspectMode, Oversize};

use super::problem::Denial;
use super::request::Forward;
use super::{State, REQUEST_ID};
use crate::waf::{Scan, BODY_LIMIT};

/// The body sent upstream: bytes already read (possibly rewritten), then the rest of the
/// client's stream, if any.
#[derive(Debug)]
pub struct UpstreamBody {
    prefix: Option<Bytes>,
    rest: Option<Incoming>,
}

impl UpstreamBody {
    /// The client's body, untouched.
    pub fn stream(body: Incoming) -> UpstreamBody {
        UpstreamBody {
            prefix: None,
            rest: Some(body),
        }
    }

    fn bytes(b: Bytes) -> UpstreamBody {
        UpstreamBody {
            prefix: (!b.is_empty()).then_some(b),
            rest: None,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(b) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        match this.rest.as_mut() {
            Some(r) => Pin::new(r).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let pre = self.prefix.as_ref().map_or(0, |b| b.len() as u64);
        match &self.rest {
            None => SizeHint::with_exact(pre),
            Some(r) => {
                let h = r.size_hint();
                let mut out = SizeHint::new();
                out.set_lower(h.lower() + pre);
                if let Some(u) = h.upper() {
                    out.set_upper(u + pre);
                }
                out
            }
        }
    }
}

/// The first bytes of a body: all of it (`rest` `None`), or more than the limit and the
/// unread remainder.
struct Read {
    bytes: Bytes,
    rest: Option<Incoming>,
}

/// Reads `body` until its end or past `limit` bytes.
async fn read_prefix(mut body: Incoming, limit: usize) -> Result<Read, hyper::Error> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
            if buf.len() > limit {
                return Ok(Read {
                    bytes: Bytes::from(buf),
                    rest: Some(body),
                });
            }
        }
    }
    Ok(Read {
        bytes: Bytes::from(buf),
        rest: None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Form,
    Other,
}

fn kind(req: &Request<Incoming>) -> Kind {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime.ends_with("+json") {
        Kind::Json
    } else if mime == "application/x-www-form-urlencoded" {
        Kind::Form
    } else {
        Kind::Other
    }
}

/// The inspection phase for one request (see the module docs).
pub async fn request(
    state: &State,
    forward: &Forward,
    req: Request<Incoming>,
) -> Result<Request<UpstreamBody>, Denial> {
    let inspect = forward.inspect;
    let accept = forward.accept.as_deref();
    let inspecting = inspect.mode != InspectMode::Off;
    if !inspecting && accept.is_none() {
        return Ok(req.map(UpstreamBody::stream));
    }
    let mut scan = Scan::new();
    if inspecting {
        scan.path(req.uri().path());
        if let Some(q) = req.uri().query() {
            scan.query(q);
        }
        let h = req.headers();
        for name in [USER_AGENT, REFERER] {
            for v in h.get_all(&name) {
                scan.value(&String::from_utf8_lossy(v.as_bytes()), false);
            }
        }
        for v in h.get_all(COOKIE) {
            scan.cookie(&String::from_utf8_lossy(v.as_bytes()));
        }
    }
    let kind = kind(&req);
    let (mut parts, body) = req.into_parts();
    let empty = body.is_end_stream() || body.size_hint().upper() == Some(0);
    let mut out = UpstreamBody::stream(body);
    // A compressed body cannot be inspected or minimised: where either would refuse,
    // it is refused; a `detect` route forwards it uninspected.
    let encoded = parts
        .headers
        .get(CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if !empty && encoded {
        if accept.is_some() || inspect.mode == InspectMode::Block {
            return Err(Denial::ENCODED_BODY);
        }
    } else if !empty {
        let body = out.rest.take().expect("the client's body");
        let read =
            match tokio::time::timeout(state.read_timeout, read_prefix(body, BODY_LIMIT)).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) | Err(_) => return Err(Denial::BODY_TIMEOUT),
            };
        let oversized = read.rest.is_some();
        if oversized
            && (accept.is_some()
                || (inspect.mode == InspectMode::Block && inspect.oversize == Oversize::Block))
        {
            return Err(Denial::BODY_TOO_LARGE);
        }
        if inspecting {
            let inspected = &read.bytes[..read.bytes.len().min(BODY_LIMIT)];
            match kind {
                Kind::Form => scan.form(inspected),
                Kind::Json if !oversized && scan.json(inspected) => {}
                _ => scan.text(inspected),
            }
        }
        out = UpstreamBody {
            prefix: Some(read.bytes),
            rest: read.rest,
        };
    }
    if inspecting {
        verdict(state, forward, &parts.headers, &scan)?;
    }
    if let (Some(accept), Some(bytes)) = (accept, out.prefix.as_ref()) {
        if kind != Kind::Json {
            return Err(Denial::UNSUPPORTED_BODY);
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|_| Denial::MALFORMED_BODY)?;
        let mut extra = Vec::new();
        minimise(&mut value, &accept.tree, &mut String::from("$"), &mut extra);
        if !extra.is_empty() {
            if accept.extra == Extra::Reject {
                extra.truncate(MAX_REPORTED);
                return Err(Denial::fields_not_accepted(extra));
            }
            let rewritten = Bytes::from(value.to_string());
            parts.headers.remove(TRANSFER_ENCODING);
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(rewritten.len()));
            tracing::debug!(
                request_id = request_id(&parts.headers),
                route = %forward.route,
                stripped = extra.len(),
                "request body minimised"
            );
            out = UpstreamBody::bytes(rewritten);
        }
    }
    Ok(Request::from_parts(parts, out))
}

/// Most refused field paths named in a 422.
const MAX_REPORTED: usize = 20;

fn request_id(h: &hyper::HeaderMap) -> &str {
    h.get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// Blocks, or logs and counts, a request whose score reached the threshold.
fn verdict(
    state: &State,
    forward: &Forward,
    headers: &hyper::HeaderMap,
    scan: &Scan,
) -> Result<(), Denial> {
    let score = scan.score();
    if score < forward.inspect.threshold || !scan.any() {
        return Ok(());
    }
    let block = forward.inspect.mode == InspectMode::Block;
    let outcome = if block { "blocked" } else { "detected" };
    let classes: Vec<&str> = scan.classes().into_iter().map(|c| c.as_str()).collect();
    let rules: Vec<&str> = scan.rules().map(|r| r.id).collect();
    for c in &classes {
        state.metrics.inspection(&forward.route, c, outcome);
    }
    tracing::warn!(
        request_id = request_id(headers),
        route = %forward.route,
        score,
        rules = %rules.join(","),
        classes = %classes.join(","),
        outcome,
        "request inspection matched"
    );
    if block {
        return Err(Denial::request_blocked(
            rules.into_iter().map(str::to_owned).collect(),
            classes.into_iter().map(str::to_owned).collect(),
        ));
    }
    Ok(())
}

/// A member name in a reported path: `.name` when it is a plain name, else `['name']`
/// (its `'` dropped); at most 64 characters.
fn push_member(path: &mut String, name: &str) {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '$'));
    let name: String = name.chars().filter(|c| *c != '\'').take(64).collect();
    if plain {
        path.push('.');
        path.push_str(&name);
    } else {
        path.push_str("['");
        path.push_str(&name);
        path.push_str("']");
    }
}

/// Removes from `value` what `node` does not accept, collecting the removed paths.
fn minimise(
    value: &mut serde_json::Value,
    node: &AcceptNode,
    path: &mut String,
    extra: &mut Vec<String>,
) {
    if node.all {
        return;
    }
    match value {
        serde_json::Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let len = path.len();
                push_member(path, &k);
                match node.members.get(&k) {
                    Some(child) => {
                        if let Some(v) = map.get_mut(&k) {
                            minimise(v, child, path, extra);
                        }
                    }
                    None => {
                        map.remove(&k);
                        extra.push(path.clone());
                    }
                }
                path.truncate(len);
            }
        }
        serde_json::Value::Array(items) => match &node.each {
            Some(child) => {
                for (i, v) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    minimise(v, child, path, extra);
                    path.truncate(len);
                }
            }
            None => {
                extra.push(format!("{path}[*]"));
                items.clear();
            }
        },
        // A scalar where the policy expects members or elements: its parent keeps it
        // only if it is accepted as a whole, so it goes.
        _ => {
            extra.push(path.clone());
            *value = serde_json::Value::Null;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use privgate_policy::parse_accept_path;

    fn tree(paths: &[&str]) -> AcceptNode {
        let mut t = AcceptNode::default();
        for p in paths {
            t.insert(&parse_accept_path(p).unwrap());
        }
        t
    }

    #[test]
    fn undeclared_members_are_stripped_and_named() {
        let t = tree(&["$.doctorId", "$.patient.name", "$.items[*].code"]);
        let mut v: serde_json::Value = serde_json::from_str(
            r#"{"doctorId":7,"ssn":"x","patient":{"name":"O'Brien","dob":"1990"},"items":[{"code":1,"price":2}],"a b":1}"#,
        )
        .unwrap();
        let mut extra = Vec::new();
        minimise(&mut v, &t, &mut "$".to_owned(), &mut extra);
        extra.sort();
        assert_eq!(
            extra,
            vec!["$.items[0].price", "$.patient.dob", "$.ssn", "$['a b']"]
        );
        assert_eq!(
            v,
            serde_json::json!({"doctorId":7,"patient":{"name":"O'Brien"},"items":[{"code":1}]})
        );
    }
}
