//! The naive baseline: what a proxy does without a streaming engine.
//!
//! JSON is parsed whole into `serde_json::Value` (with `preserve_order`, since a proxy
//! must keep key order), masked by the engine's non-streaming reference masker, and
//! serialised with `serde_json::to_vec` (`privgate_mask::reference::mask_json`, so both
//! sides apply exactly the same operators); NDJSON the same per line. CSV is read whole
//! with the `csv` crate, its rows masked as objects keyed by the header, and written back
//! out. It is a yardstick, not a second implementation to keep in step: the
//! streaming path is `chunked.rs`.

use privgate_mask::reference;
use privgate_mask::Plan;
use serde_json::{Map, Value};

use crate::shape::Shape;

/// Why the baseline could not mask a body.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The body (or one NDJSON line) is not valid JSON.
    #[error("the body is not valid JSON")]
    Json(#[from] serde_json::Error),
    /// The body is not valid CSV, or writing the CSV failed.
    #[error("the body is not valid CSV")]
    Csv(#[from] csv::Error),
}

/// Masks `input` of `shape` with `plan` the non-streaming way and returns the new body.
pub fn serde_roundtrip(plan: &Plan, shape: Shape, input: &[u8]) -> Result<Vec<u8>, BaselineError> {
    match shape {
        Shape::Json => Ok(reference::mask_json(plan, input)?),
        Shape::Ndjson => Ok(reference::mask_ndjson(plan, input)?),
        Shape::Csv => csv_rows(plan, input),
    }
}

/// Reads every row, masks them as one array of objects keyed by the header (the engine's
/// model of CSV, so `$..phone` and `$[*].phone` both name the column `phone`), writes
/// them back.
fn csv_rows(plan: &Plan, input: &[u8]) -> Result<Vec<u8>, BaselineError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(input);
    let header = reader.headers()?.clone();
    let rows = reader
        .records()
        .map(|row| {
            row.map(|row| {
                let object: Map<String, Value> = header
                    .iter()
                    .zip(row.iter())
                    .map(|(name, cell)| (name.to_owned(), Value::String(cell.to_owned())))
                    .collect();
                Value::Object(object)
            })
        })
        .collect::<Result<Vec<Value>, csv::Error>>()?;
    let mut document = Value::Array(rows);
    reference::mask_value(plan, &mut document);

    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(input.len()));
    // `drop` removes a column everywhere, so the first row's keys are the new header.
    let rows = match document {
        Value::Array(rows) => rows,
        _ => Vec::new(),
    };
    match rows.first() {
        Some(Value::Object(first)) => writer.write_record(first.keys())?,
        _ => writer.write_record(&header)?,
    }
    let mut cells: Vec<String> = Vec::with_capacity(header.len());
    for row in rows {
        let Value::Object(row) = row else { continue };
        cells.clear();
        cells.extend(row.into_iter().map(|(_, cell)| match cell {
            Value::String(text) => text,
            Value::Null => String::new(),
            other => other.to_string(),
        }));
        writer.write_record(&cells)?;
    }
    writer.flush().map_err(csv::Error::from)?;
    writer
        .into_inner()
        .map_err(|e| BaselineError::Csv(csv::Error::from(e.into_error())))
}
