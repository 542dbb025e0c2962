//! `GET /api/appointments/export?format=json|ndjson|csv[&limit=N]`: the bulk export,
//! streamed. A blocking task reads the rows from SQLite one at a time inside one read
//! transaction, formats a few rows per frame (gzip-compressing them on the way when the
//! client accepts it) and sends each frame through a bounded channel into the response
//! body, so a million rows never sit in memory and a slow client slows the reader down.
//! A database error after the headers went out ends the body with an error, which hyper
//! turns into a response without its final chunk: visibly incomplete. The row shapes are
//! `records.rs`; the query is `db.rs`.

use std::io::{self, Write as _};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use http_body_util::BodyExt as _;
use hyper::body::Frame;
use hyper::{header, Response, StatusCode};
use rusqlite::Connection;
use tokio::sync::mpsc;

use crate::db::{self, Db};
use crate::http::{self, Body};
use crate::records::{plain_text, Appointment, EXPORT_COLUMNS};

/// Rows formatted into one body frame.
const ROWS_PER_FRAME: u64 = 8;
/// Frames waiting for the client before the reader blocks.
const FRAMES_IN_FLIGHT: usize = 8;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The list shape with every record: `{"code":0,"data":{"page":1,"total":N,"items":[…]}}`.
    Json,
    /// One flat record per line.
    Ndjson,
    /// A header row and one flat record per row.
    Csv,
}

impl Format {
    /// `format=` as given; absent or empty means JSON, as the old code defaulted.
    pub fn parse(format: Option<&str>) -> Option<Self> {
        match format.unwrap_or_default() {
            "" | "json" => Some(Self::Json),
            "ndjson" => Some(Self::Ndjson),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Json => http::JSON,
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Starts the export and answers with its streaming body.
pub fn respond(db: Arc<Db>, format: Format, limit: Option<u64>, gzip: bool) -> Response<Body> {
    let (sender, receiver) = mpsc::channel(FRAMES_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut frames = Frames::new(&sender, gzip);
        let result = db.with(|conn| write_export(conn, format, limit, &mut frames));
        let ended = match result {
            Ok(()) => frames.finish(),
            Err(error) => Err(io::Error::other(error)),
        };
        if let Err(error) = ended {
            let _ = sender.blocking_send(Err(error));
        }
    });
    let mut builder =
        http::legacy(StatusCode::OK).header(header::CONTENT_TYPE, format.content_type());
    if format == Format::Csv {
        builder = builder.header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"appointments.csv\"",
        );
    }
    if gzip {
        builder = builder
            .header(header::CONTENT_ENCODING, "gzip")
            .header(header::VARY, "Accept-Encoding");
    }
    let body = ChannelBody { receiver }.boxed();
    builder
        .body(body)
        .unwrap_or_else(|_| http::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", false))
}

fn write_export(
    conn: &mut Connection,
    format: Format,
    limit: Option<u64>,
    frames: &mut Frames<'_>,
) -> rusqlite::Result<()> {
    // One read transaction: the total and the rows come from the same snapshot.
    let tx = conn.transaction()?;
    let mut pending = Vec::new();
    let mut csv = csv::WriterBuilder::new();
    // One small writer per row: a row is well under this, so no allocation grows.
    csv.buffer_capacity(1024);
    match format {
        Format::Json => {
            let total = db::count_appointments(&tx)?.min(limit.unwrap_or(u64::MAX));
            write!(
                pending,
                r#"{{"code":0,"data":{{"page":1,"total":{total},"items":["#
            )
            .map_err(io_failure)?;
        }
        Format::Csv => write_csv(&csv, &mut pending, EXPORT_COLUMNS).map_err(io_failure)?,
        Format::Ndjson => {}
    }
    let mut rows = 0u64;
    let mut failure = None;
    db::each_appointment(&tx, limit, |appointment| {
        if let Err(error) = write_row(format, &appointment, rows, &mut pending, &csv) {
            failure = Some(error);
            return false;
        }
        rows += 1;
        !rows.is_multiple_of(ROWS_PER_FRAME) || frames.send(&mut pending)
    })?;
    if let Some(error) = failure {
        return Err(io_failure(error));
    }
    if format == Format::Json {
        pending.extend_from_slice(b"]}}");
    }
    frames.send(&mut pending);
    Ok(())
}

fn write_row(
    format: Format,
    appointment: &Appointment,
    index: u64,
    pending: &mut Vec<u8>,
    csv: &csv::WriterBuilder,
) -> io::Result<()> {
    match format {
        Format::Json => {
            if index > 0 {
                pending.push(b',');
            }
            serde_json::to_writer(pending, appointment)?;
        }
        Format::Ndjson => {
            serde_json::to_writer(&mut *pending, &appointment.export_row())?;
            pending.push(b'\n');
        }
        Format::Csv => {
            let row = appointment.export_row();
            let (id, phone) = (plain_text(row.appointment_id), plain_text(row.phone));
            let fee = format!("{:.2}", row.fee);
            write_csv(
                csv,
                pending,
                [
                    id.as_str(),
                    row.patient_name,
                    phone.as_str(),
                    row.id_card,
                    row.email.unwrap_or_default(),
                    row.birth_date,
                    row.address.unwrap_or_default(),
                    row.department,
                    row.doctor,
                    row.scheduled_at,
                    fee.as_str(),
                    row.notes.unwrap_or_default(),
                ],
            )?;
        }
    }
    Ok(())
}

/// Appends one CSV record to `out`, quoted where CSV needs it.
fn write_csv<'f>(
    csv: &csv::WriterBuilder,
    out: &mut Vec<u8>,
    fields: impl IntoIterator<Item = &'f str>,
) -> io::Result<()> {
    let mut writer = csv.from_writer(out);
    writer.write_record(fields)?;
    writer.flush()
}

fn io_failure(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(error.into())
}

/// The sending end of the body: plain frames, or a gzip stream cut into frames.
struct Frames<'a> {
    sender: &'a mpsc::Sender<io::Result<Bytes>>,
    gzip: Option<GzEncoder<Vec<u8>>>,
    open: bool,
}

impl<'a> Frames<'a> {
    fn new(sender: &'a mpsc::Sender<io::Result<Bytes>>, gzip: bool) -> Self {
        Self {
            sender,
            gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
            open: true,
        }
    }

    /// Sends `plain` (compressed if need be) and empties it.
    fn send(&mut self, plain: &mut Vec<u8>) -> bool {
        let bytes = match &mut self.gzip {
            Some(encoder) => {
                if encoder.write_all(plain).is_err() {
                    self.open = false;
                }
                plain.clear();
                // The compressor emits whole blocks now and then; send what it has.
                std::mem::take(encoder.get_mut())
            }
            None => std::mem::take(plain),
        };
        self.push(bytes)
    }

    fn push(&mut self, bytes: Vec<u8>) -> bool {
        if self.open && !bytes.is_empty() {
            self.open = self.sender.blocking_send(Ok(Bytes::from(bytes))).is_ok();
        }
        self.open
    }

    /// Ends the gzip stream, if any.
    fn finish(mut self) -> io::Result<()> {
        if let Some(encoder) = self.gzip.take() {
            let rest = encoder.finish()?;
            self.push(rest);
        }
        Ok(())
    }
}

/// The response body: frames from the export task, in order, until it drops its sender.
#[derive(Debug)]
struct ChannelBody {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|next| next.map(|frame| frame.map(Frame::data)))
    }
}
