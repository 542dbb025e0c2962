//! The checks behind privgate-mask's fuzz targets, kept here so the targets in
//! `fuzz_targets/` are one line each (as linkerd does) and so plain `cargo test` runs the
//! same checks on a handful of seed inputs without libFuzzer.
//!
//! Each check panics when a property fails; libFuzzer records that as a crash. It is not
//! part of the engine and does not ship. Neighbours: `chunks.rs` (how an input picks its
//! chunking), `survey.rs` (what excuses a difference from serde_json), the engine in
//! `../src` and its reference masker `privgate_mask::reference`.
//!
//! Known, deliberate differences between the engine and serde_json (each one is checked
//! by a test below and listed in `README.md`):
//! - serde_json rejects a number that overflows `f64` (`1e400`: "number out of range");
//!   the engine accepts it, since JSON's grammar sets no range and the engine never
//!   converts a number, it keeps (or masks) its spelling.
//! - serde_json stops at 128 levels of nesting (its recursion limit); the engine's limit
//!   is the plan's `max_depth`. The differential check only runs below 120 levels.
//! - Number spelling: the engine keeps `1.0e2` as written (and masks that text), the
//!   reference re-serialises it (`100.0`), so an operator working on a number's text can
//!   give different results. Bodies with such a number are not compared value by value.
//! - Duplicate keys: the engine masks (and counts) every occurrence, serde_json keeps the
//!   last one. Values still agree; masking counts are not compared for such bodies.

pub mod chunks;
pub mod survey;

use std::sync::{Arc, OnceLock};

use privgate_mask::operator::{Partial, Redact, Tokenize};
use privgate_mask::{
    reference, DetectRule, FieldRule, Format, Limits, MaskError, Masker, OpKind, Operator, PiiType,
    Plan, PlanSpec, Secrets, Stats,
};
use serde_json::Value;

use chunks::Chunking;
use survey::survey;

/// Compare with serde_json only below this depth: its recursion limit is 128.
const SERDE_DEPTH: usize = 120;

/// The plan every target masks with: overlapping selectors, drops in objects and arrays,
/// `null` on containers, text operators on strings (and on numbers, where [`survey`]
/// excuses spellings serde_json changes), and detectors on everything else.
pub fn plan() -> &'static Arc<Plan> {
    static PLAN: OnceLock<Arc<Plan>> = OnceLock::new();
    PLAN.get_or_init(|| {
        let field = |name: &str, selector: &str, pii, operator| FieldRule {
            name: name.to_owned(),
            selectors: vec![selector.to_owned()],
            pii,
            operator,
        };
        let partial = Operator::Partial(Partial::default());
        let spec = PlanSpec {
            fields: vec![
                field("phone", "$..phone", PiiType::CnMobile, partial.clone()),
                field("secret", "$..secret", PiiType::Generic, Operator::Drop),
                field(
                    "patient",
                    "$.patient",
                    PiiType::Generic,
                    Operator::Redact(Redact::default()),
                ),
                field(
                    "id",
                    "$..id",
                    PiiType::Generic,
                    Operator::Tokenize(Tokenize::default()),
                ),
                field("tags", "$..tags[*]", PiiType::Generic, Operator::Drop),
                field("a", "$.a.*", PiiType::Generic, Operator::Null),
            ],
            detect: Some(DetectRule {
                types: vec![PiiType::CnMobile, PiiType::Email, PiiType::CnIdCard],
                operator: partial,
            }),
            records: None,
            // Deep enough that serde_json's own limit is the one that matters, and long
            // enough that no fuzz input hits the value limit.
            limits: Limits {
                max_value_len: 1 << 24,
                max_depth: 10_000,
            },
        };
        let secrets = Secrets::new()
            .with_hash_key(b"privgate-fuzz-hash-key-32-bytes!")
            .with_token_key("k1", &[7; 32])
            .expect("a 32-byte token key");
        Arc::new(Plan::compile(&spec, secrets).expect("the fuzz plan compiles"))
    })
}

/// One run of the engine over a body.
#[derive(Debug)]
struct Run {
    result: Result<Vec<u8>, MaskError>,
    stats: Stats,
    /// The survey's sightings, sorted, when the body was surveyed.
    seen: Vec<(String, PiiType, Option<String>, u64)>,
}

fn run(format: Format, chunks: &[&[u8]]) -> Run {
    run_as(format, chunks, false)
}

fn run_as(format: Format, chunks: &[&[u8]], surveyed: bool) -> Run {
    let mut masker = Masker::new(Arc::clone(plan()), format);
    if surveyed {
        masker.start_survey();
    }
    let mut out = Vec::new();
    let result = chunks
        .iter()
        .try_for_each(|chunk| masker.feed(chunk, &mut out))
        .and_then(|()| masker.finish(&mut out))
        .map(|()| out);
    let mut seen: Vec<_> = masker.survey().map_or(Vec::new(), |sv| {
        sv.sightings()
            .map(|x| {
                (
                    x.path.to_owned(),
                    x.pii,
                    x.field.map(str::to_owned),
                    x.count,
                )
            })
            .collect()
    });
    seen.sort();
    Run {
        result,
        stats: masker.stats().clone(),
        seen,
    }
}

type Counts = (Vec<(PiiType, OpKind, u64)>, Vec<(PiiType, u64)>);

fn counts(stats: &Stats) -> Counts {
    (
        stats.masked_counts().collect(),
        stats.detected_counts().collect(),
    )
}

/// Masks `body` whole and in `chunking`'s chunks, checks both give the same result and
/// stats, and returns the whole run. The chunked run is surveyed: a survey changes
/// nothing in the output, and finds the same whether the body came whole or in chunks.
fn chunk_invariant(format: Format, body: &[u8], chunking: Chunking) -> Run {
    let whole = run(format, &[body]);
    let chunked = run_as(format, &chunking.chunks(body), true);
    let input = body.escape_ascii();
    if whole.result.is_ok() {
        let surveyed_whole = run_as(format, &[body], true);
        assert_eq!(
            surveyed_whole.seen, chunked.seen,
            "{format:?} {chunking:?}: surveys differ for b\"{input}\""
        );
    }
    assert_eq!(
        whole.result, chunked.result,
        "{format:?} {chunking:?}: results differ for b\"{input}\""
    );
    if whole.result.is_ok() {
        assert_eq!(
            whole.stats, chunked.stats,
            "{format:?} {chunking:?}: stats differ for b\"{input}\""
        );
    } else {
        // After an error, how much was fed and written depends on where chunks end
        // (the failing chunk is not flushed); what was decided before it does not.
        assert_eq!(
            whole.stats.records, chunked.stats.records,
            "{format:?} {chunking:?}: records differ for b\"{input}\""
        );
        assert_eq!(
            counts(&whole.stats),
            counts(&chunked.stats),
            "{format:?} {chunking:?}: counts differ for b\"{input}\""
        );
    }
    whole
}

/// JSON whitespace (serde_json and the engine agree on it; `\x0C` is not whitespace).
fn blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

fn out_of_range(e: &serde_json::Error) -> bool {
    e.to_string().starts_with("number out of range")
}

/// Target `json_differential`: chunking never matters, and the engine agrees with
/// serde_json on what is JSON and with the reference masker on what it becomes.
pub fn json_differential(data: &[u8]) {
    let (chunking, body) = Chunking::parse(data);
    let whole = chunk_invariant(Format::Json, body, chunking);
    let found = survey(body);
    if found.max_depth >= SERDE_DEPTH {
        return;
    }
    let input = body.escape_ascii();
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            let out = match &whole.result {
                Ok(out) => out,
                Err(e) => panic!("serde_json accepts b\"{input}\" but the engine rejects it: {e}"),
            };
            let masked: Value = serde_json::from_slice(out).unwrap_or_else(|e| {
                panic!(
                    "engine output b\"{}\" for b\"{input}\" is not JSON: {e}",
                    out.escape_ascii()
                )
            });
            if found.noncanonical_number {
                return;
            }
            let expected = reference::mask_value(plan(), &mut value);
            assert_eq!(
                masked, value,
                "engine and reference disagree on b\"{input}\""
            );
            if !found.duplicate_keys {
                assert_eq!(
                    counts(&whole.stats),
                    counts(&expected),
                    "masking counts differ for b\"{input}\""
                );
            }
        }
        Err(e) if out_of_range(&e) => {}
        Err(e) => {
            if let Ok(out) = &whole.result {
                panic!(
                    "serde_json rejects b\"{input}\" ({e}) but the engine accepts it as b\"{}\"",
                    out.escape_ascii()
                );
            }
        }
    }
}

/// Target `ndjson_chunks`: chunking never matters, and when every line is JSON the engine
/// accepts the body and every line it writes is JSON.
pub fn ndjson_chunks(data: &[u8]) {
    let (chunking, body) = Chunking::parse(data);
    let whole = chunk_invariant(Format::Ndjson, body, chunking);
    if survey(body).max_depth >= SERDE_DEPTH {
        return;
    }
    let lines = body.split(|&b| b == b'\n').filter(|l| !blank(l));
    let mut documents = 0;
    for line in lines {
        match serde_json::from_slice::<Value>(line) {
            Ok(_) => documents += 1,
            // Lines that are not JSON alone: the engine may still accept a document
            // spread over several lines, or reject; chunk invariance is all we check.
            Err(_) => return,
        }
    }
    let input = body.escape_ascii();
    let out = match &whole.result {
        Ok(out) => out,
        Err(e) => panic!("every line of b\"{input}\" is JSON but the engine rejects it: {e}"),
    };
    let mut written = 0;
    for line in out.split(|&b| b == b'\n').filter(|l| !blank(l)) {
        if let Err(e) = serde_json::from_slice::<Value>(line) {
            panic!(
                "output line b\"{}\" for b\"{input}\" is not JSON: {e}",
                line.escape_ascii()
            );
        }
        written += 1;
    }
    assert_eq!(
        written, documents,
        "b\"{input}\": {documents} lines in, {written} out"
    );
}

/// Target `csv_chunks`: chunking never matters.
pub fn csv_chunks(data: &[u8]) {
    let (chunking, body) = Chunking::parse(data);
    chunk_invariant(Format::Csv, body, chunking);
}

/// Seed bodies for `json_differential` (also run by the tests).
pub const JSON_SEEDS: &[&[u8]] = &[
    r#"{"patient":{"name":"张三","phone":"13812345678","secret":"x"},"id":"A-1","tags":["vip",1],"a":{"b":[1,2],"c":"d"}}"#
        .as_bytes(),
    br#"[{"phone":13812345678,"note":"call 13912345678 or mail li.si@example.com"},{"id":42,"secret":{"k":[1]}}]"#,
    br#" { "ph\u006fne" : "139 1234 5678" , "x" : [ 1.5 , -0.25 , true , false , null ] , "idCard":"110101199003071234" } "#,
    br#"{"items":[{"tags":[],"secret":1},{"tags":[{"secret":2}],"id":null}],"a":[1,{"x":2}]}"#,
    br#""\ud83d\ude00 \u5f20\u4e09 13812345678 \"quoted\" \\ \/ \b\f\n\r\t""#,
    br#"{"a":{},"patient":[1,"2",{"phone":"13712345678"}],"secret":null}"#,
    b"13812345678",
    b"[[[[[]]]],{},[{}]]",
];

/// Seed bodies for `ndjson_chunks`.
pub const NDJSON_SEEDS: &[&[u8]] = &[
    b"{\"phone\":\"13812345678\",\"secret\":1}\n{\"id\":\"x\",\"tags\":[1,2]}\n",
    b"\n  \r\n[1,\"li.si@example.com\"]\r\n\"13912345678\"\n7",
    b"{\"a\":{\"b\":1}}\n{\"patient\":{\"phone\":13812345678}}",
];

/// Seed bodies for `csv_chunks`.
pub const CSV_SEEDS: &[&[u8]] = &[
    b"id,name,phone,secret,note\n1,Zhang San,13812345678,s1,\"call 13912345678, ok\"\r\n2,\"Li \"\"Si\"\"\",,s2,li.si@example.com\n",
    b"secret,phone\n\"a\nb\",\"13812345678\"\n,\n",
    b"x\n\n1\n\"2\"",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every seed under every chunking, as libFuzzer would first run them.
    fn each_input(seeds: &[&[u8]], check: fn(&[u8])) {
        for seed in seeds {
            for p in [0, 1, 5, 77, 200, 255] {
                for chunking in Chunking::all(p) {
                    let mut data = chunking.header().to_vec();
                    data.extend_from_slice(seed);
                    check(&data);
                }
            }
            check(seed);
        }
    }

    #[test]
    fn json_seeds_pass() {
        each_input(JSON_SEEDS, json_differential);
    }

    #[test]
    fn ndjson_seeds_pass() {
        each_input(NDJSON_SEEDS, ndjson_chunks);
    }

    #[test]
    fn csv_seeds_pass() {
        each_input(CSV_SEEDS, csv_chunks);
    }

    #[test]
    fn malformed_json_passes_the_checks() {
        let bad: &[&[u8]] = &[
            b"",
            b" ",
            b"{",
            br#"{"a":1,}"#,
            b"[1,]",
            b"01",
            b"1.",
            b"-",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\ud800\\u0041\"",
            b"\"\xff\"",
            b"\"a\x01\"",
            b"\"\\x\"",
            b"[1] 2",
            b"\xef\xbb\xbf{}",
            b"\x0c1",
            b"nul",
            b"tru",
            br#"{"phone":"13812345678""#,
        ];
        each_input(bad, json_differential);
    }

    /// The deliberate differences listed in the module docs, pinned so a change in either
    /// side is noticed.
    #[test]
    fn deliberate_differences_from_serde_json() {
        // Out-of-range numbers: serde_json rejects, the engine keeps the spelling.
        for body in [&b"1e400"[..], b"[-1e400]", br#"{"phone":1e400}"#] {
            let e = serde_json::from_slice::<Value>(body).unwrap_err();
            assert!(out_of_range(&e), "{e}");
            assert!(run(Format::Json, &[body]).result.is_ok());
        }
        // Depth: serde_json stops at 128, the fuzz plan allows 10 000.
        let deep = [vec![b'['; 200], vec![b']'; 200]].concat();
        assert!(serde_json::from_slice::<Value>(&deep).is_err());
        assert_eq!(run(Format::Json, &[&deep]).result.as_deref(), Ok(&deep[..]));
        json_differential(&deep);
        // Spelling: `$..phone` partial works on the text as written.
        let body = br#"{"phone":1.3812345678e10}"#;
        assert!(survey(body).noncanonical_number);
        let engine: Value =
            serde_json::from_slice(&run(Format::Json, &[body]).result.unwrap()).unwrap();
        let mut reference: Value = serde_json::from_slice(body).unwrap();
        reference::mask_value(plan(), &mut reference);
        assert_ne!(engine, reference);
        json_differential(body);
        // Duplicate keys: same value, the engine counts both.
        let body = br#"{"phone":"13812345678","phone":"13912345678"}"#;
        let engine = run(Format::Json, &[body]);
        let mut reference: Value = serde_json::from_slice(body).unwrap();
        let ref_stats = reference::mask_value(plan(), &mut reference);
        assert_eq!(
            serde_json::from_slice::<Value>(&engine.result.unwrap()).unwrap(),
            reference
        );
        assert_eq!(engine.stats.values(), 2);
        assert_eq!(ref_stats.values(), 1);
        json_differential(body);
        // NDJSON: a document may span lines, but two on one line are an error.
        assert!(run(Format::Ndjson, &[b"{\n}\n1"]).result.is_ok());
        assert!(run(Format::Ndjson, &[b"1 2"]).result.is_err());
    }

    /// Regression: inputs the fuzzer found where a chunk ended inside a UTF-8 sequence
    /// that the next chunk proved invalid, and the error's kind or offset, or the stats
    /// at the error, depended on the chunking. Lexers now never see an unfinished
    /// character (`src/utf8.rs` in the engine).
    #[test]
    fn utf8_errors_do_not_depend_on_chunking() {
        let json: &[&[u8]] = &[
            b"\"\\\xcfa",
            b"\"\xf0\x17",
            b"\"\xf2\"",
            b"{\"\":\"\xe5\"",
            b"{\"\":\"\xe5\xbc\x89\",\"\":\"\",\"\xf4\"a",
        ];
        let csv: &[&[u8]] = &[
            b"0\n\xc7a",
            b",,secret\n,,\xdda",
            b"\"\"\xe0a",
            b",,,\n,,,,\xeaa",
            b"\xe5,",
        ];
        let bytes = Chunking::Bytes.header();
        for body in json {
            json_differential(&[&bytes[..], body].concat());
            ndjson_chunks(&[&bytes[..], body].concat());
        }
        for body in csv {
            csv_chunks(&[&bytes[..], body].concat());
        }
    }

    /// Writes the seeds into `corpus/<target>/` (ignored by git) as starting points for
    /// `cargo fuzz run`: `cargo test -- --ignored write_seed_corpus`.
    #[test]
    #[ignore = "writes files; run by hand before fuzzing"]
    fn write_seed_corpus() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        for (target, seeds) in [
            ("json_differential", JSON_SEEDS),
            ("ndjson_chunks", NDJSON_SEEDS),
            ("csv_chunks", CSV_SEEDS),
        ] {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, seed) in seeds.iter().enumerate() {
                for (j, chunking) in Chunking::all((i as u8).wrapping_mul(37).wrapping_add(3))
                    .into_iter()
                    .enumerate()
                {
                    let mut data = chunking.header().to_vec();
                    data.extend_from_slice(seed);
                    std::fs::write(dir.join(format!("seed-{i}-{j}")), data).unwrap();
                }
            }
        }
    }
}
