//! Property tests: chunking never matters, output is valid and agrees with the reference
//! masker, no value at a masked path survives, and a survey never changes the output.

mod common;

use std::sync::Arc;

use common::{feed_chunked, field, mask_chunked, partial, plan_with, sightings, Sighted};
use privgate_mask::operator::{Hash, Redact, Tokenize};
use privgate_mask::reference;
use privgate_mask::{mask_to_vec, DetectRule, Format, Masker, Operator, PiiType, Plan, PlanSpec};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "phone", "name", "note", "id", "items", "patient", "secret", "a", "b", "姓名", "ph\"one",
    "tags",
];

fn clinic_plan() -> Arc<Plan> {
    plan_with(PlanSpec {
        fields: vec![
            field("phone", &["$..phone"], PiiType::CnMobile, partial()),
            field("secret", &["$..secret"], PiiType::Generic, Operator::Drop),
            field(
                "patient",
                &["$.patient"],
                PiiType::Generic,
                Operator::Redact(Redact::default()),
            ),
            field(
                "item_name",
                &["$.items[*].name"],
                PiiType::PersonName,
                Operator::Hash(Hash::default()),
            ),
            field(
                "id",
                &["$..id"],
                PiiType::Generic,
                Operator::Tokenize(Tokenize::default()),
            ),
            field("note", &["$..note"], PiiType::FreeText, Operator::Keep),
            field("a", &["$.a.*"], PiiType::Generic, Operator::Null),
            field("tags", &["$..tags[*]"], PiiType::Generic, Operator::Drop),
        ],
        detect: Some(DetectRule {
            types: vec![PiiType::CnMobile, PiiType::Email, PiiType::CnIdCard],
            operator: partial(),
        }),
        ..Default::default()
    })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (13_000_000_000i64..19_999_999_999).prop_map(Value::from),
        // Floats whose shortest spelling parses back exactly, so the reference (which
        // re-serialises) and the engine (which keeps the spelling) see the same text.
        (-10_000_000i64..10_000_000).prop_map(|x| Value::from(x as f64 / 100.0)),
        "[a-z \"\\\\/\u{0}-\u{1f}é张三😀]{0,12}".prop_map(Value::from),
        "(call |电话)?1[3-9][0-9]{9}( ok)?".prop_map(Value::from),
        "[a-z]{1,5}@example\\.com".prop_map(Value::from),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    m.insert(k.to_string(), v);
                }
                Value::Object(m)
            }),
        ]
    })
}

fn serialise(v: &Value, pretty: bool) -> Vec<u8> {
    if pretty {
        serde_json::to_vec_pretty(v).unwrap()
    } else {
        serde_json::to_vec(v).unwrap()
    }
}

/// The value with every scalar replaced by null: its shape.
fn skeleton(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(skeleton).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), skeleton(v))).collect())
        }
        _ => Value::Null,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn chunking_never_changes_the_output(
        doc in document(),
        pretty in any::<bool>(),
        sizes in prop::collection::vec(1usize..17, 1..8),
    ) {
        let plan = clinic_plan();
        let input = serialise(&doc, pretty);
        let whole = mask_to_vec(&plan, Format::Json, &input);
        prop_assert_eq!(mask_chunked(&plan, Format::Json, &input, &sizes), whole);
    }

    #[test]
    fn output_is_valid_json_and_agrees_with_the_reference(doc in document(), pretty in any::<bool>()) {
        let plan = clinic_plan();
        let input = serialise(&doc, pretty);
        let mut masker = Masker::new(plan.clone(), Format::Json);
        let mut out = Vec::new();
        masker.feed(&input, &mut out).unwrap();
        masker.finish(&mut out).unwrap();
        let got: Value = serde_json::from_slice(&out).expect("output is valid JSON");
        let mut want: Value = serde_json::from_slice(&input).unwrap();
        let stats = reference::mask_value(&plan, &mut want);
        prop_assert_eq!(&got, &want);
        let counts: Vec<_> = masker.stats().masked_counts().collect();
        prop_assert_eq!(counts, stats.masked_counts().collect::<Vec<_>>());
    }

    #[test]
    fn shape_is_kept_when_nothing_is_dropped(doc in document()) {
        let plan = plan_with(PlanSpec {
            fields: vec![
                field("phone", &["$..phone"], PiiType::CnMobile, partial()),
                field("patient", &["$..patient"], PiiType::Generic, Operator::Redact(Redact::default())),
                field("id", &["$..id"], PiiType::Generic, Operator::Hash(Hash::default())),
            ],
            detect: Some(DetectRule { types: vec![PiiType::CnMobile], operator: partial() }),
            ..Default::default()
        });
        let out = mask_to_vec(&plan, Format::Json, &serialise(&doc, false)).unwrap();
        let got: Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(skeleton(&got), skeleton(&doc));
    }

    #[test]
    fn no_value_at_a_masked_path_survives(
        phones in prop::collection::vec("1[3-9][0-9]{9}", 1..6),
        ids in prop::collection::vec("[A-Z]{3}[0-9]{8}", 1..6),
        pretty in any::<bool>(),
    ) {
        let plan = clinic_plan();
        let items: Vec<Value> = phones.iter().zip(ids.iter().cycle()).map(|(p, id)| {
            serde_json::json!({"name": id, "id": id, "phone": p, "secret": id,
                               "contact": {"phone": p.parse::<i64>().unwrap()}})
        }).collect();
        let doc = serde_json::json!({"items": items, "patient": {"x": [{"y": ids}], "z": phones}});
        let input = serialise(&doc, pretty);
        let out = String::from_utf8(mask_to_vec(&plan, Format::Json, &input).unwrap()).unwrap();
        for v in phones.iter().chain(ids.iter()) {
            prop_assert!(!out.contains(v.as_str()), "{} leaked in {}", v, out);
        }
    }

    #[test]
    fn ndjson_chunking_never_changes_the_output(
        docs in prop::collection::vec(document(), 0..6),
        sizes in prop::collection::vec(1usize..23, 1..8),
    ) {
        let plan = clinic_plan();
        let mut input = Vec::new();
        for d in &docs {
            input.extend(serialise(d, false));
            input.push(b'\n');
        }
        let whole = mask_to_vec(&plan, Format::Ndjson, &input).unwrap();
        prop_assert_eq!(mask_chunked(&plan, Format::Ndjson, &input, &sizes).unwrap(), whole.clone());
        let want = reference::mask_ndjson(&plan, &input).unwrap();
        let got: Vec<Value> = whole.split(|&b| b == b'\n').filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap()).collect();
        let want: Vec<Value> = want.split(|&b| b == b'\n').filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap()).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn csv_chunking_never_changes_the_output(
        rows in prop::collection::vec(prop::collection::vec("[a-z,\"\n 张]{0,6}|1[3-9][0-9]{9}", 4), 0..8),
        crlf in any::<bool>(),
        sizes in prop::collection::vec(1usize..19, 1..8),
    ) {
        let plan = clinic_plan();
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut input = format!("phone,secret,name,note{eol}");
        for row in &rows {
            let fields: Vec<String> = row.iter().map(|f| {
                if f.contains([',', '"', '\n']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.clone() }
            }).collect();
            input.push_str(&fields.join(","));
            input.push_str(eol);
        }
        let whole = mask_to_vec(&plan, Format::Csv, input.as_bytes()).unwrap();
        prop_assert_eq!(mask_chunked(&plan, Format::Csv, input.as_bytes(), &sizes).unwrap(), whole.clone());
        // Every row lost its `secret` column and kept the same number of fields.
        let out = String::from_utf8(whole).unwrap();
        let header = format!("phone,name,note{}", eol);
        prop_assert!(out.starts_with(&header));
    }

    #[test]
    fn a_survey_never_changes_the_output_and_ignores_chunking(
        doc in document(),
        ndjson in any::<bool>(),
        sizes in prop::collection::vec(1usize..17, 1..8),
    ) {
        // With detectors of its own (clinic) and without (a plan of fields only).
        for plan in [clinic_plan(), plan_with(PlanSpec {
            fields: vec![field("phone", &["$..phone"], PiiType::CnMobile, partial())],
            ..Default::default()
        })] {
            let format = if ndjson { Format::Ndjson } else { Format::Json };
            let mut input = serialise(&doc, !ndjson);
            if ndjson {
                input.push(b'\n');
                input.extend(serialise(&doc, false));
            }
            let plain = mask_to_vec(&plan, format, &input).unwrap();
            let (whole, seen) = surveyed(&plan, format, &input, &[input.len().max(1)]);
            let (chunked, seen_chunked) = surveyed(&plan, format, &input, &sizes);
            prop_assert_eq!(&whole, &plain);
            prop_assert_eq!(&chunked, &plain);
            prop_assert_eq!(seen, seen_chunked);
        }
    }
}

/// Masks `input` in chunks with a survey: the output and the sorted sightings.
fn surveyed(
    plan: &Arc<Plan>,
    format: Format,
    input: &[u8],
    sizes: &[usize],
) -> (Vec<u8>, Vec<Sighted>) {
    let mut m = Masker::new(plan.clone(), format);
    m.start_survey();
    let mut out = Vec::new();
    feed_chunked(&mut m, input, sizes, &mut out).unwrap();
    (out, sightings(&m))
}
