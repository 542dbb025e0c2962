//! Header rules of both directions: hop-by-hop removal (RFC 9110 §7.6.1), the identity
//! headers a client may not set, and the response headers that leak the upstream's stack
//! or no longer describe a rewritten body.
//!
//! Pure functions over a `HeaderMap`; `request.rs` and `response.rs` call them.

use hyper::header::{HeaderMap, HeaderName, CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};

/// Removes hop-by-hop headers: `Connection` and every header it names, `Keep-Alive`,
/// `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade` and all `Proxy-*`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in [CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(n);
    }
    headers.remove("keep-alive");
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for n in proxy {
        headers.remove(n);
    }
}

/// Removes the headers that show the upstream's software.
pub fn strip_stack_headers(headers: &mut HeaderMap) {
    headers.remove(hyper::header::SERVER);
    headers.remove("x-powered-by");
}

/// Removes the headers that describe the upstream's bytes rather than the masked body.
pub fn strip_body_validators(headers: &mut HeaderMap) {
    for n in [
        hyper::header::CONTENT_LENGTH,
        hyper::header::ETAG,
        hyper::header::CONTENT_ENCODING,
        hyper::header::CONTENT_RANGE,
        hyper::header::ACCEPT_RANGES,
        hyper::header::LAST_MODIFIED,
    ] {
        headers.remove(n);
    }
    headers.remove("content-md5");
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_by_connection_go() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("connection", "close"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic x"),
            ("proxy-connection", "keep-alive"),
            ("accept", "application/json"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn stack_and_validator_headers_go() {
        let mut h = map(&[
            ("server", "Apache/2.2.15"),
            ("x-powered-by", "PHP/5.3.3"),
            ("content-length", "10"),
            ("etag", "\"x\""),
            ("content-md5", "x"),
            ("content-type", "application/json"),
        ]);
        strip_stack_headers(&mut h);
        strip_body_validators(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("content-type"));
    }
}
