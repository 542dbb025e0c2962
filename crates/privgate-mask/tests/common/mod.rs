//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use privgate_mask::operator::Partial;
use privgate_mask::{
    mask_to_vec, FieldRule, Format, MaskError, Masker, Operator, PiiType, Plan, PlanSpec, Secrets,
};

pub fn secrets() -> Secrets {
    Secrets::new()
        .with_hash_key(b"0123456789abcdef0123456789abcdef")
        .with_token_key("k1", &[7u8; 32])
        .unwrap()
}

pub fn plan(fields: Vec<FieldRule>) -> Arc<Plan> {
    plan_with(PlanSpec {
        fields,
        ..Default::default()
    })
}

pub fn plan_with(spec: PlanSpec) -> Arc<Plan> {
    Arc::new(Plan::compile(&spec, secrets()).unwrap())
}

pub fn partial() -> Operator {
    Operator::Partial(Partial::default())
}

pub fn s(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap()
}

/// Masks `input` in chunks of the given sizes (cycled).
pub fn mask_chunked(
    plan: &Arc<Plan>,
    format: Format,
    input: &[u8],
    sizes: &[usize],
) -> Result<Vec<u8>, MaskError> {
    let mut m = Masker::new(plan.clone(), format);
    let mut out = Vec::new();
    feed_chunked(&mut m, input, sizes, &mut out)?;
    Ok(out)
}

/// Feeds `input` to `m` in chunks of the given sizes (cycled), then finishes.
pub fn feed_chunked(
    m: &mut Masker,
    input: &[u8],
    sizes: &[usize],
    out: &mut Vec<u8>,
) -> Result<(), MaskError> {
    let mut rest = input;
    let mut k = 0;
    while !rest.is_empty() {
        let n = sizes[k % sizes.len()].clamp(1, rest.len());
        k += 1;
        let (chunk, tail) = rest.split_at(n);
        m.feed(chunk, out)?;
        rest = tail;
    }
    m.finish(out)
}

/// One sighting of a survey, owned: path, type, covering field, count.
pub type Sighted = (String, PiiType, Option<String>, u64);

/// The sightings of `m`'s survey, sorted (none without a survey).
pub fn sightings(m: &Masker) -> Vec<Sighted> {
    let mut seen: Vec<Sighted> = m.survey().map_or(Vec::new(), |s| {
        s.sightings()
            .map(|x| {
                (
                    x.path.to_string(),
                    x.pii,
                    x.field.map(str::to_string),
                    x.count,
                )
            })
            .collect()
    });
    seen.sort();
    seen
}

pub fn field(name: &str, sels: &[&str], pii: PiiType, op: Operator) -> FieldRule {
    FieldRule {
        name: name.into(),
        selectors: sels.iter().map(|s| s.to_string()).collect(),
        pii,
        operator: op,
    }
}

/// Masks `input` whole, then at every split point into two chunks, and one byte at a
/// time, and checks all agree.
pub fn mask_all_ways(plan: &Arc<Plan>, format: Format, input: &[u8]) -> Result<Vec<u8>, MaskError> {
    let whole = mask_to_vec(plan, format, input);
    for cut in 0..=input.len() {
        let mut m = Masker::new(plan.clone(), format);
        let mut out = Vec::new();
        let r = m
            .feed(&input[..cut], &mut out)
            .and_then(|_| m.feed(&input[cut..], &mut out))
            .and_then(|_| m.finish(&mut out))
            .map(|_| out);
        assert_eq!(r, whole, "split at {cut}");
    }
    assert_eq!(
        mask_chunked(plan, format, input, &[1]),
        whole,
        "one byte at a time"
    );
    whole
}
