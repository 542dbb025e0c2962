//! What each path of the legacy API does: method and path to a handler, query parameters
//! read as leniently as the old PHP read them, database work moved off the async runtime,
//! and failures turned into the legacy error body with a plausible status. The response
//! conventions are `http.rs`; the queries are `db.rs`; the streamed export is `export.rs`.

use std::sync::Arc;

use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use rusqlite::Connection;

use crate::booking::{self, BookingRequest};
use crate::db::{self, Db};
use crate::export::{self, Format};
use crate::http::{self, Body};
use crate::records::Envelope;

/// `page_size` above this is quietly capped, as the old code did.
pub const MAX_PAGE_SIZE: u64 = 100;
const DEFAULT_PAGE_SIZE: u64 = 20;
/// Search answers at most this many patients.
const SEARCH_LIMIT: u64 = 50;
/// A booking form larger than this is refused.
const MAX_BOOKING_BYTES: usize = 64 * 1024;

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    pub db: Arc<Db>,
}

/// Why a request failed; [`Failure::respond`] is the one place that picks the status.
#[derive(Debug)]
enum Failure {
    NotFound,
    MethodNotAllowed,
    BadRequest(String),
    TooLarge,
    Internal,
}

impl Failure {
    fn respond(self, gzip: bool) -> Response<Body> {
        let (status, msg) = match &self {
            Self::NotFound => (StatusCode::NOT_FOUND, "not found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
            Self::BadRequest(msg) => (StatusCode::BAD_REQUEST, msg.as_str()),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        };
        http::error(status, msg, gzip)
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(_: rusqlite::Error) -> Self {
        Self::Internal
    }
}

/// Answers one request.
pub async fn handle(app: &App, request: Request<Incoming>) -> Response<Body> {
    let gzip = http::accepts_gzip(request.headers());
    match route(app, request, gzip).await {
        Ok(response) => response,
        Err(failure) => failure.respond(gzip),
    }
}

async fn route(
    app: &App,
    request: Request<Incoming>,
    gzip: bool,
) -> Result<Response<Body>, Failure> {
    let path = request.uri().path().to_owned();
    let query = http::query_pairs(request.uri().query());
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let method = request.method().clone();
    match (segments.as_slice(), method) {
        (["api", "appointments"], Method::GET) => {
            let page = lenient_number(param("page")).unwrap_or(1).max(1);
            let page_size = lenient_number(param("page_size"))
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE);
            let page =
                with_db(app, move |conn| db::appointment_page(conn, page, page_size)).await?;
            Ok(http::json(StatusCode::OK, &Envelope::ok(page), gzip))
        }
        (["api", "appointments"], Method::POST) => book(app, request, gzip).await,
        (["api", "appointments", "export"], Method::GET) => {
            let format = Format::parse(param("format"))
                .ok_or_else(|| Failure::BadRequest("unsupported format".to_owned()))?;
            let limit = match param("limit") {
                None | Some("") => None,
                Some(limit) => Some(
                    limit
                        .parse()
                        .map_err(|_| Failure::BadRequest("limit must be a number".to_owned()))?,
                ),
            };
            Ok(export::respond(Arc::clone(&app.db), format, limit, gzip))
        }
        (["api", "appointments", id], Method::GET) => {
            let id = (*id).to_owned();
            let found = with_db(app, move |conn| db::appointment(conn, &id)).await?;
            let appointment = found.ok_or(Failure::NotFound)?;
            Ok(http::json(StatusCode::OK, &Envelope::ok(appointment), gzip))
        }
        (["api", "patients", "search"], Method::GET) => {
            let q = param("q").unwrap_or_default().trim().to_owned();
            if q.is_empty() {
                return Err(Failure::BadRequest("q is required".to_owned()));
            }
            let hits =
                with_db(app, move |conn| db::search_patients(conn, &q, SEARCH_LIMIT)).await?;
            Ok(http::json(StatusCode::OK, &Envelope::ok(hits), gzip))
        }
        (["api", "patients", id], Method::GET) => {
            let id = (*id).to_owned();
            let found = with_db(app, move |conn| db::patient_record(conn, &id)).await?;
            let record = found.ok_or(Failure::NotFound)?;
            Ok(http::json(StatusCode::OK, &Envelope::ok(record), gzip))
        }
        (["api", "appointments" | "patients"] | ["api", "appointments" | "patients", _], _) => {
            Err(Failure::MethodNotAllowed)
        }
        _ => Err(Failure::NotFound),
    }
}

async fn book(
    app: &App,
    request: Request<Incoming>,
    gzip: bool,
) -> Result<Response<Body>, Failure> {
    let body = match Limited::new(request.into_body(), MAX_BOOKING_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(Failure::TooLarge)
        }
        Err(_) => return Err(Failure::BadRequest("could not read the request".to_owned())),
    };
    let form: BookingRequest = serde_json::from_slice(&body)
        .map_err(|_| Failure::BadRequest("malformed booking form".to_owned()))?;
    let booked = with_db(app, move |conn| booking::book(conn, &form)).await?;
    let appointment = booked.map_err(|refusal| Failure::BadRequest(refusal.message()))?;
    let location = format!(
        "/api/appointments/{}",
        crate::records::plain_text(&appointment.id)
    );
    let phone = crate::records::plain_text(&appointment.patient.phone);
    let answer = Envelope {
        code: 0,
        msg: Some(format!("预约成功，短信已发送至{phone}")),
        data: appointment,
    };
    let mut response = http::json(StatusCode::CREATED, &answer, gzip);
    response
        .headers_mut()
        .insert(header::LOCATION, http::header_value(&location));
    Ok(response)
}

/// Runs database work on the blocking pool with a pooled connection.
async fn with_db<T: Send + 'static>(
    app: &App,
    work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let db = Arc::clone(&app.db);
    match tokio::task::spawn_blocking(move || db.with(work)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Failure::Internal),
    }
}

/// PHP's `intval`: leading digits, anything else is "not given".
fn lenient_number(text: Option<&str>) -> Option<u64> {
    let text = text?.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..digits].parse().ok()
}
