//! The JSON Schema of a record line, generated from the types of `event.rs`.
//!
//! The committed copy is `crates/privgate-audit/audit-event.schema.json`; a test
//! regenerates it and fails when it is stale (`PRIVGATE_BLESS=1` rewrites it), and another
//! checks every kind of record the writer emits against it. SIEM pipelines use it to parse
//! the trail. It describes the shape only; the chain is the verifier's (`verify.rs`).
//!
//! Keys are written in sorted order: whether `serde_json` keeps insertion order depends on
//! the features other crates of a build enable, and the committed file must not.

use serde_json::Value;

use crate::event::Record;

/// The JSON Schema of one line of the trail, pretty-printed with a final newline.
pub fn event_schema() -> String {
    let mut s = serde_json::to_string_pretty(&sorted(schemars::schema_for!(Record).to_value()))
        .unwrap_or_default();
    s.push('\n');
    s
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}
