//! Benchmark inputs, plans and baselines for the privgate masking engine.
//!
//! This crate generates seeded, deterministic clinic booking data — appointments with
//! patients named `张伟`, `欧阳娜娜` or `John Smith`, mainland mobile numbers, resident ID
//! numbers with valid GB 11643 check characters, addresses, notes that sometimes mention a
//! phone number — as a JSON list response, NDJSON or a CSV export ([`clinic_json`],
//! [`clinic_ndjson`], [`clinic_csv`]). It also holds the masking plans the benches use
//! ([`clinic_plan_spec`]), the engine run over fixed-size chunks ([`mask_chunked`]) and the
//! naive serde_json / csv baseline the engine is compared with ([`serde_roundtrip`]).
//!
//! It is not a test-data library for the gateway and not part of any shipped binary. The
//! criterion benches are in `benches/engine.rs`; the one-shot ratio table is the `ratios`
//! binary. See the README beside `Cargo.toml` for how to run them.
//!
//! ```
//! let body = privgate_benches::clinic_ndjson(16 * 1024, 7);
//! assert_eq!(body, privgate_benches::clinic_ndjson(16 * 1024, 7));
//! assert!(body.len() >= 16 * 1024);
//! ```
#![warn(missing_docs)]

mod appointment;
mod baseline;
mod calendar;
mod chunked;
mod dice;
mod lexicon;
mod person;
mod plan;
mod shape;

pub use baseline::{serde_roundtrip, BaselineError};
pub use chunked::{mask_chunked, survey_chunked, CHUNK};
pub use person::id_card_check_char;
pub use plan::{bench_secrets, clinic_plan, clinic_plan_spec, PlanKind};
pub use shape::csv::HEADER as CSV_HEADER;
pub use shape::Shape;

/// The seed every bench and the `ratios` binary generate their inputs from.
pub const SEED: u64 = 0x5EED_C11A;

/// A JSON list response of about `target_bytes` of appointments:
/// `{"code":0,"msg":"ok","data":{"total":N,"items":[{…,"patient":{…}}, …]}}`, records
/// printed compact, spaced or indented. The same seed gives the same bytes.
pub fn clinic_json(target_bytes: usize, seed: u64) -> Vec<u8> {
    Shape::Json.generate(target_bytes, seed)
}

/// About `target_bytes` of NDJSON, one appointment object per line.
pub fn clinic_ndjson(target_bytes: usize, seed: u64) -> Vec<u8> {
    Shape::Ndjson.generate(target_bytes, seed)
}

/// About `target_bytes` of CSV with the [`CSV_HEADER`] row, quoted per RFC 4180.
pub fn clinic_csv(target_bytes: usize, seed: u64) -> Vec<u8> {
    Shape::Csv.generate(target_bytes, seed)
}
