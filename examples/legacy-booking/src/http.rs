//! The HTTP/1.1 server and the response conventions of the legacy stack: the accept loop
//! (hyper 1.x on tokio, one task per connection, keep-alive), the `Server: Apache/2.2.15`
//! and `X-Powered-By: PHP/5.3.3` headers on every answer, JSON bodies gzip-compressed when
//! the client accepts it, and errors as `{"code":404,"msg":"not found"}`. What each path
//! does is `routes.rs`; the streamed export body is `export.rs`.

use std::convert::Infallible;
use std::io::{self, Write as _};
use std::sync::Arc;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::routes::{self, App};

/// Every response body: a whole buffer or a stream of frames.
pub type Body = BoxBody<Bytes, io::Error>;

pub const JSON: &str = "application/json; charset=utf-8";

/// Serves connections until Ctrl-C or SIGTERM.
pub async fn serve(listener: TcpListener, app: Arc<App>) -> io::Result<()> {
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: keep serving the open connections.
                Err(_) => continue,
            },
            () = &mut shutdown => return Ok(()),
        };
        // Small JSON answers should not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = Arc::clone(&app);
                async move { Ok::<_, Infallible>(routes::handle(&app, request).await) }
            });
            // A client that goes away mid-response is not the server's problem.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// A response builder with the legacy stack's headers already on.
pub fn legacy(status: StatusCode) -> hyper::http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::SERVER, "Apache/2.2.15")
        .header("X-Powered-By", "PHP/5.3.3")
}

/// Whether the request's `Accept-Encoding` lists gzip (and does not refuse it with q=0).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// A JSON answer, gzip-compressed when `gzip` is set.
pub fn json(status: StatusCode, value: &impl Serialize, gzip: bool) -> Response<Body> {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", gzip),
    };
    buffered(status, JSON, body, gzip)
}

/// `{"code":404,"msg":"not found"}` with the same status.
pub fn error(status: StatusCode, msg: &str, gzip: bool) -> Response<Body> {
    let body = serde_json::json!({ "code": status.as_u16(), "msg": msg }).to_string();
    buffered(status, JSON, body.into_bytes(), gzip)
}

fn buffered(status: StatusCode, content_type: &str, body: Vec<u8>, gzip: bool) -> Response<Body> {
    let mut builder = legacy(status).header(header::CONTENT_TYPE, content_type);
    let body = if gzip {
        builder = builder
            .header(header::CONTENT_ENCODING, "gzip")
            .header(header::VARY, "Accept-Encoding");
        compress(&body).unwrap_or(body)
    } else {
        body
    };
    builder
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full(Vec::new())))
}

fn compress(body: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 3), Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
}

fn full(body: Vec<u8>) -> Body {
    Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed()
}

/// The query string's pairs, percent-decoded (`+` is a space, as PHP's `$_GET` has it).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A header value from text we made ourselves.
pub fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_percent_and_plus() {
        assert_eq!(
            query_pairs(Some("q=%E5%BC%A0&page=2&x=a+b&bad=%zz&end=%4")),
            [
                ("q".to_owned(), "张".to_owned()),
                ("page".to_owned(), "2".to_owned()),
                ("x".to_owned(), "a b".to_owned()),
                ("bad".to_owned(), "%zz".to_owned()),
                ("end".to_owned(), "%4".to_owned()),
            ]
        );
    }

    #[test]
    fn gzip_acceptance() {
        let mut headers = HeaderMap::new();
        assert!(!accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, identity"),
        );
        assert!(!accepts_gzip(&headers));
    }
}
