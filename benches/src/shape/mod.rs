//! The three body shapes the gateway masks, generated from the same appointment stream.
//!
//! [`Shape`] names a shape and generates a body of about a given size from a seed; the
//! printers live in `json.rs` (list response and NDJSON) and `csv.rs` (export). Records
//! come from `appointment.rs`. Nothing here masks: plans are in `plan.rs`, the engine run
//! in `chunked.rs`, the serde baseline in `baseline.rs`.

pub(crate) mod csv;
pub(crate) mod json;

/// The shape of a generated body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A JSON list response: `{"code":0,"msg":"ok","data":{"total":N,"items":[…]}}`.
    Json,
    /// Newline-delimited JSON, one appointment per line.
    Ndjson,
    /// A CSV export with a header row.
    Csv,
}

impl Shape {
    /// Every shape, in the order benches and tables list them.
    pub const ALL: [Shape; 3] = [Shape::Json, Shape::Ndjson, Shape::Csv];

    /// The shape's name in bench ids and tables.
    pub const fn name(self) -> &'static str {
        match self {
            Shape::Json => "json",
            Shape::Ndjson => "ndjson",
            Shape::Csv => "csv",
        }
    }

    /// A body of this shape of about `target_bytes` (never less, at most one record more),
    /// the same bytes for the same seed.
    pub fn generate(self, target_bytes: usize, seed: u64) -> Vec<u8> {
        match self {
            Shape::Json => json::document(target_bytes, seed),
            Shape::Ndjson => json::lines(target_bytes, seed),
            Shape::Csv => csv::export(target_bytes, seed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: usize = 200 * 1024;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        for shape in Shape::ALL {
            let a = shape.generate(TARGET, 11);
            assert_eq!(a, shape.generate(TARGET, 11), "{}", shape.name());
            assert_ne!(a, shape.generate(TARGET, 12), "{}", shape.name());
        }
    }

    #[test]
    fn size_is_within_five_percent_of_the_target() {
        for shape in Shape::ALL {
            for target in [64 * 1024, TARGET, 1024 * 1024] {
                let len = shape.generate(target, 5).len();
                let off = len.abs_diff(target) as f64 / target as f64;
                assert!(off <= 0.05, "{} {target}: {len}", shape.name());
            }
        }
    }

    #[test]
    fn json_parses_with_the_declared_total() {
        let body = Shape::Json.generate(TARGET, 1);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let items = v["data"]["items"].as_array().unwrap();
        assert!(items.len() > 100);
        assert_eq!(v["data"]["total"].as_u64(), Some(items.len() as u64));
        assert_eq!(v["code"], 0);
        // Both id spellings, nulls, nested contacts and tags all occur.
        assert!(items.iter().any(|i| i["appointmentId"].is_string()));
        assert!(items.iter().any(|i| i["appointmentId"].is_u64()));
        assert!(items.iter().any(|i| i["cancelReason"].is_null()));
        assert!(items
            .iter()
            .any(|i| i["patient"]["contact"]["phone"].is_string()));
        assert!(items
            .iter()
            .any(|i| i["tags"].as_array().is_some_and(|t| t.len() > 1)));
        assert!(items
            .iter()
            .all(|i| i["fee"].is_f64() && i["insured"].is_boolean()));
        // Whitespace varies: some records span lines, some do not.
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("{\"appointmentId\":"));
        assert!(text.contains("\n        \"appointmentId\": "));
        assert!(text.contains("\\u"), "some records escape non-ASCII");
    }

    #[test]
    fn ndjson_is_one_object_per_line() {
        let body = Shape::Ndjson.generate(TARGET, 2);
        assert!(body.ends_with(b"\n"));
        let mut lines = 0;
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert!(v["patient"]["idCard"].is_string());
            lines += 1;
        }
        assert!(lines > 100);
    }

    #[test]
    fn csv_parses_with_a_constant_column_count() {
        let body = Shape::Csv.generate(TARGET, 3);
        let mut reader = ::csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(&body[..]);
        assert_eq!(
            reader.headers().unwrap(),
            &::csv::StringRecord::from(csv::HEADER.to_vec())
        );
        let mut rows = 0;
        let (mut commas, mut quotes, mut breaks) = (false, false, false);
        for record in reader.records() {
            let record = record.unwrap();
            assert_eq!(record.len(), csv::HEADER.len());
            let notes = &record[11];
            commas |= notes.contains(',');
            quotes |= notes.contains('"');
            breaks |= notes.contains('\n');
            let id = &record[3];
            let check = crate::person::id_card_check_char(&id[..17]).unwrap();
            assert_eq!(id.chars().nth(17), Some(check));
            assert!(record[10].parse::<f64>().is_ok());
            rows += 1;
        }
        assert!(rows > 100);
        assert!(
            commas && quotes && breaks,
            "notes exercise RFC 4180 quoting"
        );
    }
}
