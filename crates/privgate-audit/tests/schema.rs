//! The committed JSON Schema is what the types generate, and every kind of record the
//! writer emits conforms to it.
//! `PRIVGATE_BLESS=1 cargo test -p privgate-audit --test schema` regenerates it.

mod common;

use serde_json::{Map, Value};

#[test]
fn committed_schema_is_current() {
    let path = std::path::Path::new("audit-event.schema.json");
    let generated = privgate_audit::event_schema();
    if std::env::var_os("PRIVGATE_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "audit-event.schema.json is stale: run PRIVGATE_BLESS=1 cargo test -p privgate-audit --test schema"
    );
}

#[test]
fn emitted_records_conform_to_the_committed_schema() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string("audit-event.schema.json").unwrap()).unwrap();
    let trail = common::Trail::new();
    let auditor = trail.start();
    for event in common::one_of_each_kind() {
        auditor.record(event).unwrap();
    }
    auditor.shutdown().unwrap();
    let text = std::fs::read_to_string(trail.active()).unwrap();
    let mut kinds = Vec::new();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let errors = validate(&schema, &schema, &record, "$");
        assert!(errors.is_empty(), "{line}\ndoes not conform: {errors:#?}");
        kinds.push(record["kind"].as_str().unwrap().to_owned());
        // The validator below skips `pattern`; the envelope's patterns, by hand.
        for field in ["mac", "prev"] {
            let hex = record[field].as_str().unwrap();
            assert!(hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
        let time = record["time"].as_str().unwrap().as_bytes();
        assert!(time.len() == 24 && time[10] == b'T' && time[19] == b'.' && time[23] == b'Z');
        // And the schema rejects what it should: a record without its mac.
        let mut no_mac = record.clone();
        no_mac.as_object_mut().unwrap().remove("mac");
        assert!(!validate(&schema, &schema, &no_mac, "$").is_empty());
    }
    assert_eq!(
        kinds,
        [
            "startup",
            "request",
            "approval",
            "revocation",
            "revocation",
            "policy_reload",
            "stream_abort",
            "alert",
            "shutdown"
        ]
    );
}

/// A small JSON Schema validator covering what schemars emits for these types: `$ref`
/// into `$defs`, `type`, `properties`, `required`, `additionalProperties`, `items`,
/// `enum`, `const`, `oneOf`, `anyOf`, `allOf`, `minimum`, `maximum` (not `pattern` or
/// `format`).
fn validate(root: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{at}: not allowed"));
        }
        return errors;
    };
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local $ref");
        errors.extend(validate(root, &root["$defs"][name], value, at));
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|t| type_matches(t, value)) {
            errors.push(format!("{at}: expected type {types:?}, got {value}"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{at}: expected const {c}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            errors.push(format!("{at}: {value} not in enum"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            errors.push(format!("{at}: below minimum {min}"));
        }
    }
    if let (Some(max), Some(n)) = (
        schema.get("maximum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n > max {
            errors.push(format!("{at}: above maximum {max}"));
        }
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        for s in all {
            errors.extend(validate(root, s, value, at));
        }
    }
    if let Some(Value::Array(any)) = schema.get("anyOf") {
        if !any.iter().any(|s| validate(root, s, value, at).is_empty()) {
            errors.push(format!("{at}: matches none of anyOf"));
        }
    }
    if let Some(Value::Array(one)) = schema.get("oneOf") {
        let n = one
            .iter()
            .filter(|s| validate(root, s, value, at).is_empty())
            .count();
        if n != 1 {
            errors.push(format!("{at}: matches {n} of oneOf, expected exactly 1"));
        }
    }
    if let Value::Object(obj) = value {
        let empty = Map::new();
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if let Some(Value::Array(required)) = schema.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(format!("{at}: missing `{r}`"));
                }
            }
        }
        for (k, v) in obj {
            if let Some(s) = props.get(k) {
                errors.extend(validate(root, s, v, &format!("{at}.{k}")));
            } else if let Some(extra) = schema.get("additionalProperties") {
                errors.extend(validate(root, extra, v, &format!("{at}.{k}")));
            }
        }
    }
    if let (Some(items), Value::Array(values)) = (schema.get("items"), value) {
        for (i, v) in values.iter().enumerate() {
            errors.extend(validate(root, items, v, &format!("{at}[{i}]")));
        }
    }
    errors
}

fn type_matches(t: &str, value: &Value) -> bool {
    match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_u64() || value.is_i64(),
        _ => false,
    }
}
