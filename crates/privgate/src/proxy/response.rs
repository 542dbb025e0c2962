//! The response head phase: decides how an upstream answer may reach the client, from its
//! status, content type and content encoding, and rewrites its headers.
//!
//! Fail closed: a body whose content type the route's `formats` do not list (or no
//! content type at all) is refused with 502, since every policy route is one that
//! carries personal data, unless the route says `other_content: pass` (documents,
//! images: streamed unread); a content coding other than identity, gzip, deflate,
//! br or zstd (or two stacked) is refused with 502, never passed through. The body itself is `body.rs`.

use hyper::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
};
use hyper::{Method, StatusCode};
use privgate_mask::Format;
use privgate_policy::OtherContent;

use super::decode::Coding;
use super::headers::{strip_body_validators, strip_hop_by_hop, strip_stack_headers};
use super::problem::Denial;
use super::request::Forward;

/// What to do with the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlan {
    /// The response has no body (HEAD, 1xx, 204, 304, or an empty one): send none.
    Empty,
    /// Another content type on a route with `other_content: pass`: stream it unread.
    Pass,
    /// A `text/*` body on a route with `other_content: detect`: redact what the
    /// detectors find, line by line.
    Text,
    /// Decode, then mask as `format`.
    Mask {
        /// The body's format.
        format: Format,
        /// The upstream's content coding, if any.
        coding: Option<Coding>,
    },
}

/// The format a media type is masked as, if any.
pub fn format_of(content_type: &str) -> Option<Format> {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    // The engine reads UTF-8; another declared charset would be misread, so it is refused.
    let utf8 = parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            matches!(
                v.trim().trim_matches('"').to_ascii_lowercase().as_str(),
                "utf-8" | "utf8"
            )
        }
        _ => true,
    });
    if !utf8 {
        return None;
    }
    match essence.as_str() {
        "application/json" | "text/json" => Some(Format::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Some(Format::Ndjson),
        "text/csv" => Some(Format::Csv),
        e if e.starts_with("application/") && e.ends_with("+json") => Some(Format::Json),
        _ => None,
    }
}

/// The content coding to undo: none, or one of those [`Decoder`](super::decode::Decoder)
/// knows; anything else (stacked codings included) is refused.
fn encoding_of(headers: &HeaderMap) -> Result<Option<Coding>, Denial> {
    let mut codings = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .map(|v| v.to_str().map_err(|_| Denial::ENCODING))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity");
    let first = codings.next();
    if codings.next().is_some() {
        return Err(Denial::ENCODING);
    }
    match first.as_deref() {
        None => Ok(None),
        Some("gzip" | "x-gzip") => Ok(Some(Coding::Gzip)),
        Some("deflate") => Ok(Some(Coding::Deflate)),
        Some("br") => Ok(Some(Coding::Brotli)),
        Some("zstd") => Ok(Some(Coding::Zstd)),
        Some(_) => Err(Denial::ENCODING),
    }
}

/// Rewrites the upstream's response headers and chooses the body's treatment.
pub fn on_response_head(
    forward: &Forward,
    status: StatusCode,
    headers: &mut HeaderMap,
) -> Result<BodyPlan, Denial> {
    strip_hop_by_hop(headers);
    strip_stack_headers(headers);
    headers.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let no_body = forward.method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || headers.get(CONTENT_LENGTH).is_some_and(|v| v == "0");
    if no_body {
        return Ok(BodyPlan::Empty);
    }
    let format = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(format_of)
        .filter(|f| forward.formats.contains(f));
    let Some(format) = format else {
        return match forward.other_content {
            OtherContent::Block => Err(Denial::CONTENT_TYPE),
            // `other_content: pass`: not read, not masked, sent as it came (its encoding
            // included), still never cached.
            OtherContent::Pass => {
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Ok(BodyPlan::Pass)
            }
            // `other_content: detect`: uncompressed UTF-8 text only, redacted line by line.
            OtherContent::Detect => {
                let text = headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("text/"));
                if !text || encoding_of(headers)?.is_some() {
                    return Err(Denial::CONTENT_TYPE);
                }
                strip_body_validators(headers);
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Ok(BodyPlan::Text)
            }
        };
    };
    let coding = encoding_of(headers)?;
    strip_body_validators(headers);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(BodyPlan::Mask { format, coding })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_map_to_formats() {
        assert_eq!(format_of("application/json"), Some(Format::Json));
        assert_eq!(
            format_of("Application/JSON; charset=UTF-8"),
            Some(Format::Json)
        );
        assert_eq!(format_of("application/problem+json"), Some(Format::Json));
        assert_eq!(format_of("application/x-ndjson"), Some(Format::Ndjson));
        assert_eq!(format_of("text/csv; charset=utf-8"), Some(Format::Csv));
        assert_eq!(format_of("text/csv; charset=gbk"), None);
        assert_eq!(format_of("text/html"), None);
        assert_eq!(format_of(""), None);
    }

    #[test]
    fn unknown_and_stacked_encodings_are_refused() {
        let enc = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_ENCODING, HeaderValue::from_static(v));
            encoding_of(&h)
        };
        assert_eq!(enc("gzip"), Ok(Some(Coding::Gzip)));
        assert_eq!(enc("identity"), Ok(None));
        assert_eq!(enc("deflate"), Ok(Some(Coding::Deflate)));
        assert_eq!(enc("BR"), Ok(Some(Coding::Brotli)));
        assert_eq!(enc("zstd"), Ok(Some(Coding::Zstd)));
        assert_eq!(enc("compress"), Err(Denial::ENCODING));
        assert_eq!(enc("x-custom"), Err(Denial::ENCODING));
        assert_eq!(enc("gzip, gzip"), Err(Denial::ENCODING));
        assert_eq!(enc("gzip, br"), Err(Denial::ENCODING));
        assert_eq!(encoding_of(&HeaderMap::new()), Ok(None));
    }
}
