//! The JSON Schema of policy files, generated from the `Raw*` types.
//!
//! The committed copy is `crates/privgate-policy/policy.schema.json`; a test regenerates
//! it and fails when it is stale (`PRIVGATE_BLESS=1` rewrites it). Editors use it for
//! completion and the doc comments of `raw.rs` become its descriptions. It describes the
//! shape only: cross-references are the check stage's (`check.rs`).
//!
//! Keys are written in sorted order: whether `serde_json` keeps insertion order depends on
//! the features other crates of a build enable, and the committed file must not.

use serde_json::Value;

use crate::raw::{RawPolicyFile, RawTestCase};

/// The JSON Schema of a policy file, pretty-printed with a final newline.
pub fn policy_schema() -> String {
    render(schemars::schema_for!(RawPolicyFile).to_value())
}

/// The JSON Schema of a policy tests file (a list of cases).
pub fn tests_schema() -> String {
    render(schemars::schema_for!(Vec<RawTestCase>).to_value())
}

fn render(schema: Value) -> String {
    let mut s = serde_json::to_string_pretty(&sorted(schema)).unwrap_or_default();
    s.push('\n');
    s
}

/// The value with every object's keys in sorted order.
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
