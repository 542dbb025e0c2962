//! Criterion benches of the streaming masking engine against two baselines.
//!
//! For each body shape (JSON list response, NDJSON, CSV export) of about 10 MiB of
//! generated clinic data, the groups are: `copy` (a plain `to_vec`, the memory-bandwidth
//! ceiling), `serde_roundtrip` (parse to `serde_json::Value` or `csv` records, mask with
//! the typical plan via the reference masker, serialise), and the engine with the
//! `pass_through`, `typical` and `typical_detectors` plans, fed in 64 KiB chunks into a
//! `Vec<u8>`. `chunk_size` runs typical masking of JSON at 1, 16 and 64 KiB chunks;
//! `typical_surveyed` the typical plan with a discovery survey of the body. Inputs,
//! plans and baselines are in the crate's library; the one-shot ratio table is
//! `src/bin/ratios.rs`.
//!
//! Under `cargo test --benches` (no `--bench` flag) or in a debug build, inputs are
//! 256 KiB so each bench runs once quickly.

use std::hint::black_box;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use privgate_benches::{
    clinic_plan, mask_chunked, serde_roundtrip, survey_chunked, PlanKind, Shape, CHUNK, SEED,
};
use privgate_mask::Plan;

/// Inputs and compiled plans, built once for every group.
struct Fixtures {
    inputs: Vec<(Shape, Vec<u8>)>,
    plans: Vec<(PlanKind, Arc<Plan>)>,
}

impl Fixtures {
    fn plan(&self, kind: PlanKind) -> &Arc<Plan> {
        let found = self.plans.iter().find(|(k, _)| *k == kind);
        &found.expect("every plan kind is compiled").1
    }

    fn input(&self, shape: Shape) -> &[u8] {
        let found = self.inputs.iter().find(|(s, _)| *s == shape);
        &found.expect("every shape is generated").1
    }
}

/// 10 MiB when benchmarking an optimised build; 256 KiB under `cargo test --benches`.
fn input_bytes() -> usize {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    if benchmarking && !cfg!(debug_assertions) {
        10 * 1024 * 1024
    } else {
        256 * 1024
    }
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let size = input_bytes();
        Fixtures {
            inputs: Shape::ALL
                .iter()
                .map(|&s| (s, s.generate(size, SEED)))
                .collect(),
            plans: PlanKind::ALL
                .iter()
                .map(|&k| (k, clinic_plan(k).expect("the clinic plans compile")))
                .collect(),
        }
    })
}

/// A group sized for inputs that take tens of milliseconds per iteration.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    group
}

fn copy(c: &mut Criterion) {
    let f = fixtures();
    let mut g = group(c, "copy");
    for &shape in &Shape::ALL {
        let input = f.input(shape);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(shape.name(), |b| {
            b.iter(|| black_box(black_box(input).to_vec()))
        });
    }
    g.finish();
}

fn serde(c: &mut Criterion) {
    let f = fixtures();
    let plan = f.plan(PlanKind::Typical);
    let mut g = group(c, "serde_roundtrip");
    for &shape in &Shape::ALL {
        let input = f.input(shape);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(shape.name(), |b| {
            b.iter(|| serde_roundtrip(plan, shape, black_box(input)).expect("the baseline masks"))
        });
    }
    g.finish();
}

fn engine(c: &mut Criterion, kind: PlanKind) {
    engine_group(c, kind.name(), kind, false);
}

/// The engine with `kind`'s plan on every shape, surveying each body when `survey`.
fn engine_group(c: &mut Criterion, name: &str, kind: PlanKind, survey: bool) {
    let f = fixtures();
    let plan = f.plan(kind);
    let mut g = group(c, name);
    for &shape in &Shape::ALL {
        let input = f.input(shape);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(shape.name(), |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(input.len());
                let done = if survey {
                    survey_chunked(plan, shape, black_box(input), CHUNK, &mut out).map(drop)
                } else {
                    mask_chunked(plan, shape, black_box(input), CHUNK, &mut out)
                };
                done.expect("the engine masks");
                out
            })
        });
    }
    g.finish();
}

fn pass_through(c: &mut Criterion) {
    engine(c, PlanKind::PassThrough);
}

fn typical(c: &mut Criterion) {
    engine(c, PlanKind::Typical);
}

fn typical_detectors(c: &mut Criterion) {
    engine(c, PlanKind::TypicalWithDetectors);
}

fn typical_surveyed(c: &mut Criterion) {
    engine_group(c, "typical_surveyed", PlanKind::Typical, true);
}

fn chunk_size(c: &mut Criterion) {
    let f = fixtures();
    let plan = f.plan(PlanKind::Typical);
    let input = f.input(Shape::Json);
    let mut g = group(c, "chunk_size");
    g.throughput(Throughput::Bytes(input.len() as u64));
    for (label, chunk) in [("1KiB", 1024), ("16KiB", 16 * 1024), ("64KiB", 64 * 1024)] {
        g.bench_function(label, |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(input.len());
                mask_chunked(plan, Shape::Json, black_box(input), chunk, &mut out)
                    .expect("the engine masks");
                out
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    copy,
    serde,
    pass_through,
    typical,
    typical_detectors,
    typical_surveyed,
    chunk_size
);
criterion_main!(benches);
