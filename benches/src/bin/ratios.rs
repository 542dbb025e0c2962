//! Prints how much faster the streaming engine is than the naive serde baseline.
//!
//! Generates about 10 MiB of each shape (override with `PRIVGATE_BENCH_BYTES`), checks
//! once that the engine's output is valid and, parsed, equals the baseline's output for
//! every plan, then times each case a few times in this one process with
//! `std::time::Instant` and prints the medians as MiB/s with the ratio engine /
//! `serde_roundtrip` beside the targets. The `serde_unmasked` row (the baseline with an
//! empty plan: parse, walk and serialise only) shows how much of the baseline is masking.
//! A quick look between criterion runs, not a replacement for them (`benches/engine.rs`).
//! Exits non-zero when a check fails.
#![expect(clippy::print_stdout, reason = "the table is this binary's output")]

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use privgate_benches::{
    bench_secrets, clinic_plan, mask_chunked, serde_roundtrip, survey_chunked, PlanKind, Shape,
    CHUNK, SEED,
};
use privgate_mask::{Plan, PlanSpec};
use serde_json::Value;

/// Timed runs per case; the median is reported.
const RUNS: usize = 7;
const DEFAULT_BYTES: usize = 10 * 1024 * 1024;

/// The ratio engine / serde_roundtrip each plan should reach.
const fn target(kind: PlanKind) -> f64 {
    match kind {
        PlanKind::PassThrough => 12.0,
        PlanKind::Typical => 10.0,
        PlanKind::TypicalWithDetectors => 6.0,
    }
}

fn engine(plan: &Arc<Plan>, shape: Shape, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    mask_chunked(plan, shape, input, CHUNK, &mut out).expect("the engine masks the generated data");
    out
}

fn baseline(plan: &Plan, shape: Shape, input: &[u8]) -> Vec<u8> {
    serde_roundtrip(plan, shape, input).expect("the baseline masks the generated data")
}

/// The body parsed for comparison: JSON values, NDJSON values per line, CSV records.
#[derive(Debug, PartialEq)]
enum Parsed {
    Json(Vec<Value>),
    Csv(Vec<Vec<String>>),
}

fn parse(shape: Shape, body: &[u8]) -> Result<Parsed, String> {
    match shape {
        Shape::Json => serde_json::from_slice(body)
            .map(|v| Parsed::Json(vec![v]))
            .map_err(|e| format!("not valid JSON: {e}")),
        Shape::Ndjson => body
            .split(|&b| b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_slice(line)
                    .map_err(|e| format!("line {}: not valid JSON: {e}", i + 1))
            })
            .collect::<Result<Vec<Value>, String>>()
            .map(Parsed::Json),
        Shape::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(body);
            reader
                .records()
                .map(|r| {
                    r.map(|rec| rec.iter().map(str::to_owned).collect())
                        .map_err(|e| format!("not valid CSV: {e}"))
                })
                .collect::<Result<Vec<Vec<String>>, String>>()
                .map(Parsed::Csv)
        }
    }
}

/// Where two parsed bodies first differ, for the report.
fn first_difference(a: &Parsed, b: &Parsed) -> String {
    match (a, b) {
        (Parsed::Json(a), Parsed::Json(b)) => {
            let items = |vs: &[Value]| -> Vec<Value> {
                match vs {
                    [one] if one["data"]["items"].is_array() => {
                        one["data"]["items"].as_array().cloned().unwrap_or_default()
                    }
                    _ => vs.to_vec(),
                }
            };
            let (a, b) = (items(a), items(b));
            match a.iter().zip(&b).position(|(x, y)| x != y) {
                Some(i) => format!("record {i}:\n  engine:   {}\n  baseline: {}", a[i], b[i]),
                None => format!("record counts differ: {} vs {}", a.len(), b.len()),
            }
        }
        (Parsed::Csv(a), Parsed::Csv(b)) => match a.iter().zip(b).position(|(x, y)| x != y) {
            Some(i) => format!("row {i}:\n  engine:   {:?}\n  baseline: {:?}", a[i], b[i]),
            None => format!("row counts differ: {} vs {}", a.len(), b.len()),
        },
        _ => "different kinds".to_owned(),
    }
}

/// Checks the engine against the baseline for every plan; prints one line per shape.
fn check(shape: Shape, input: &[u8], plans: &[(PlanKind, Arc<Plan>)]) -> bool {
    let mut ok = true;
    for (kind, plan) in plans {
        let engine_parsed = parse(shape, &engine(plan, shape, input));
        let baseline_parsed = parse(shape, &baseline(plan, shape, input));
        match (engine_parsed, baseline_parsed) {
            (Ok(e), Ok(b)) if e == b => {}
            (Ok(e), Ok(b)) => {
                ok = false;
                println!(
                    "MISMATCH {} / {}: engine output differs from the baseline at {}",
                    shape.name(),
                    kind.name(),
                    first_difference(&e, &b)
                );
            }
            (Err(e), _) => {
                ok = false;
                println!(
                    "INVALID {} / {}: engine output is {e}",
                    shape.name(),
                    kind.name()
                );
            }
            (_, Err(e)) => {
                ok = false;
                println!(
                    "INVALID {} / {}: baseline output is {e}",
                    shape.name(),
                    kind.name()
                );
            }
        }
    }
    if ok {
        let what = match shape {
            Shape::Json | Shape::Ndjson => "valid JSON",
            Shape::Csv => "valid CSV",
        };
        println!(
            "check {:<6}: engine output is {what} and equals the serde baseline's after parsing, \
             for pass_through, typical and typical_detectors",
            shape.name()
        );
    }
    ok
}

/// Median wall time of `RUNS` runs of `f`, after one untimed warm-up run.
fn median<T>(mut f: impl FnMut() -> T) -> Duration {
    black_box(f());
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn mib_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / time.as_secs_f64()
}

fn main() -> ExitCode {
    let bytes = std::env::var("PRIVGATE_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_BYTES);
    if cfg!(debug_assertions) {
        println!("note: this is a debug build; run with --release for meaningful numbers");
    }
    let plans: Vec<(PlanKind, Arc<Plan>)> = PlanKind::ALL
        .iter()
        .map(|&k| (k, clinic_plan(k).expect("the clinic plans compile")))
        .collect();
    let typical = plans
        .iter()
        .find(|(k, _)| *k == PlanKind::Typical)
        .map(|(_, p)| Arc::clone(p))
        .expect("the typical plan is compiled");
    // No rules, no detectors: the baseline's parse, walk and serialise without masking.
    let unmasked =
        Plan::compile(&PlanSpec::default(), bench_secrets()).expect("an empty plan compiles");

    let inputs: Vec<(Shape, Vec<u8>)> = Shape::ALL
        .iter()
        .map(|&s| (s, s.generate(bytes, SEED)))
        .collect();
    let mut all_ok = true;
    for (shape, input) in &inputs {
        all_ok &= check(*shape, input, &plans);
    }

    println!();
    println!(
        "{} runs per case, median; input ~{:.1} MiB per shape; engine chunks {} KiB; \
         serde_roundtrip applies the typical plan",
        RUNS,
        bytes as f64 / (1024.0 * 1024.0),
        CHUNK / 1024
    );
    println!();
    println!("| shape  | case              |    MiB/s | x serde_roundtrip | target  | met |");
    println!("|--------|-------------------|---------:|------------------:|---------|-----|");
    let mut all_met = true;
    for (shape, input) in &inputs {
        let (shape, input) = (*shape, input.as_slice());
        let copy = median(|| input.to_vec());
        let serde = median(|| baseline(&typical, shape, input));
        let serde_speed = mib_per_s(input.len(), serde);
        let baseline_row = |case: &str, speed: f64, ratio: &str| {
            println!(
                "| {:<6} | {:<17} | {:>8.1} | {:>17} | {:<7} | {:<3} |",
                shape.name(),
                case,
                speed,
                ratio,
                "",
                ""
            );
        };
        let unmasked_speed = mib_per_s(input.len(), median(|| baseline(&unmasked, shape, input)));
        baseline_row("copy", mib_per_s(input.len(), copy), "");
        baseline_row(
            "serde_unmasked",
            unmasked_speed,
            &format!("{:.1}x", unmasked_speed / serde_speed),
        );
        baseline_row("serde_roundtrip", serde_speed, "1.0x");
        let mut typical_speed = 0.0;
        for (kind, plan) in &plans {
            let time = median(|| engine(plan, shape, input));
            let speed = mib_per_s(input.len(), time);
            let ratio = speed / serde_speed;
            let met = ratio >= target(*kind);
            all_met &= met;
            println!(
                "| {:<6} | {:<17} | {:>8.1} | {:>16.1}x | >= {:<4} | {:<3} |",
                shape.name(),
                kind.name(),
                speed,
                ratio,
                format!("{:.0}x", target(*kind)),
                if met { "yes" } else { "no" }
            );
            if *kind == PlanKind::Typical {
                typical_speed = speed;
            }
        }
        // Discovery's cost on a surveyed body, against the same plan unsurveyed.
        let surveyed = mib_per_s(
            input.len(),
            median(|| {
                let mut out = Vec::with_capacity(input.len());
                survey_chunked(&typical, shape, input, CHUNK, &mut out)
                    .expect("the engine masks the generated data");
                out
            }),
        );
        println!(
            "| {:<6} | {:<17} | {:>8.1} | {:>16.1}x | {:<7} | {:<3} |",
            shape.name(),
            "typical+survey",
            surveyed,
            surveyed / serde_speed,
            format!("{:.2}x t", surveyed / typical_speed),
            ""
        );
    }
    println!();
    println!(
        "targets {}",
        if all_met {
            "all met"
        } else {
            "not all met (see the `met` column)"
        }
    );
    if all_ok {
        ExitCode::SUCCESS
    } else {
        println!("the engine's output did not match the baseline; see above");
        ExitCode::FAILURE
    }
}
