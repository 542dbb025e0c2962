//! The JSON Schema of policy files, generated from the `Raw*` types.
//!
//! The committed copy is `crates/privgate-policy/policy.schema.json`; a test regenerates
//! it and fails when it is stale (`PRIVGATE_BLESS=1` rewrites it). Editors use it for
//! completion and the doc comments of `raw.rs` become its descriptions. It describes the
//! shape only: cross-references are the check stage's (`check.rs`).

use crate::raw::{RawPolicyFile, RawTestCase};

/// The JSON Schema of a policy file, pretty-printed with a final newline.
pub fn policy_schema() -> String {
    let schema = schemars::schema_for!(RawPolicyFile);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The JSON Schema of a policy tests file (a list of cases).
pub fn tests_schema() -> String {
    let schema = schemars::schema_for!(Vec<RawTestCase>);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
