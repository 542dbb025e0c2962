//! Surveys: where personal data sits, by normalised path, in JSON, NDJSON and CSV bodies.

mod common;

use std::sync::Arc;

use common::{feed_chunked, field, partial, plan, plan_with, sightings, Sighted};
use privgate_mask::{DetectRule, Format, Masker, Operator, PiiType, Plan, PlanSpec};

type Seen = Vec<Sighted>;

fn survey(plan: &Arc<Plan>, format: Format, input: &str) -> (String, Seen, u64) {
    let mut m = Masker::new(plan.clone(), format);
    m.start_survey();
    let mut out = Vec::new();
    feed_chunked(&mut m, input.as_bytes(), &[input.len().max(1)], &mut out).unwrap();
    let overflow = m.survey().unwrap().overflow();
    (String::from_utf8(out).unwrap(), sightings(&m), overflow)
}

fn e(
    path: &str,
    pii: PiiType,
    field: Option<&str>,
    count: u64,
) -> (String, PiiType, Option<String>, u64) {
    (path.into(), pii, field.map(Into::into), count)
}

fn phone_plan() -> Arc<Plan> {
    plan(vec![field(
        "phone",
        &["$..phone"],
        PiiType::CnMobile,
        partial(),
    )])
}

#[test]
fn covered_and_uncovered_values_are_found_at_folded_paths() {
    let body = r#"{"items": [
        {"phone": "13812345678", "notes": "call 13912345678 or li@example.com", "age": 40},
        {"phone": "13812345679", "notes": "nothing here", "by": {"13800000000": {"x": "wu@example.com"}}}
    ], "total": 2}"#;
    let (out, seen, overflow) = survey(&phone_plan(), Format::Json, body);
    assert_eq!(
        seen,
        vec![
            e("$.items[].by.*.x", PiiType::Email, None, 1),
            e("$.items[].notes", PiiType::CnMobile, None, 1),
            e("$.items[].notes", PiiType::Email, None, 1),
            e("$.items[].phone", PiiType::CnMobile, Some("phone"), 2),
        ]
    );
    assert_eq!(overflow, 0);
    // The plan has no detectors of its own: what the survey finds stays as it was.
    assert!(out.contains("call 13912345678 or li@example.com"));
    assert!(out.contains(r#""phone": "138****5678""#));
    // Paths carry no values, not even from keys.
    assert!(seen.iter().all(|(p, ..)| !p.contains("13800000000")));
}

#[test]
fn the_plan_detectors_still_mask_and_the_survey_sees_every_type() {
    let p = plan_with(PlanSpec {
        fields: vec![],
        detect: Some(DetectRule {
            types: vec![PiiType::CnMobile],
            operator: partial(),
        }),
        ..Default::default()
    });
    let body = r#"{"note": "13912345678 / li@example.com"}"#;
    let (out, seen, _) = survey(&p, Format::Json, body);
    assert_eq!(out, r#"{"note": "139****5678 / li@example.com"}"#);
    assert_eq!(
        seen,
        vec![
            e("$.note", PiiType::CnMobile, None, 1),
            e("$.note", PiiType::Email, None, 1),
        ]
    );
}

#[test]
fn dropped_and_nulled_values_count_as_covered_where_they_were() {
    let p = plan(vec![
        field("secret", &["$..secret"], PiiType::Generic, Operator::Drop),
        field("card", &["$..card"], PiiType::BankCard, Operator::Null),
        field("tags", &["$.tags[*]"], PiiType::Generic, Operator::Drop),
        field("note", &["$..note"], PiiType::FreeText, Operator::Keep),
    ]);
    let body =
        r#"{"secret": "s", "card": {"n": "x"}, "tags": ["a", "b"], "note": "hi", "n2": null}"#;
    let (out, seen, _) = survey(&p, Format::Json, body);
    assert_eq!(
        out,
        // The space after a dropped first member stays (whitespace is kept as it was).
        r#"{ "card": null, "tags": [], "note": "hi", "n2": null}"#
    );
    assert_eq!(
        seen,
        vec![
            e("$.card", PiiType::BankCard, Some("card"), 1),
            e("$.note", PiiType::FreeText, Some("note"), 1),
            e("$.secret", PiiType::Generic, Some("secret"), 1),
            e("$.tags[]", PiiType::Generic, Some("tags"), 2),
        ]
    );
}

#[test]
fn keys_split_across_chunks_or_escaped_are_named() {
    let p = phone_plan();
    let body = r#"{"contact": {"mobile\u0031": "13912345678", "备注": "li@example.com"}}"#;
    let whole = survey(&p, Format::Json, body).1;
    // Fed a byte at a time: the same sightings.
    let mut m = Masker::new(p.clone(), Format::Json);
    m.start_survey();
    feed_chunked(&mut m, body.as_bytes(), &[1], &mut Vec::new()).unwrap();
    let bytewise = sightings(&m);
    assert_eq!(
        whole,
        vec![
            // A key with other letters than ASCII that the policy does not name could be
            // a person's name: it folds.
            e("$.contact.*", PiiType::Email, None, 1),
            e("$.contact.mobile1", PiiType::CnMobile, None, 1),
        ]
    );
    assert_eq!(bytewise, whole);
}

#[test]
fn ndjson_lines_are_roots_and_csv_rows_are_elements() {
    let p = phone_plan();
    let nd =
        "{\"phone\": \"13812345678\", \"n\": \"li@example.com\"}\n{\"phone\": \"13812345679\"}\n";
    assert_eq!(
        survey(&p, Format::Ndjson, nd).1,
        vec![
            e("$.n", PiiType::Email, None, 1),
            e("$.phone", PiiType::CnMobile, Some("phone"), 2),
        ]
    );
    let csv =
        "phone,notes,13900000000\n13812345678,mail li@example.com,x\n13812345679,,13912345678\n";
    let (out, seen, _) = survey(&p, Format::Csv, csv);
    assert_eq!(
        seen,
        vec![
            e("$[].*", PiiType::CnMobile, None, 1),
            e("$[].notes", PiiType::Email, None, 1),
            e("$[].phone", PiiType::CnMobile, Some("phone"), 2),
        ]
    );
    assert!(out.contains("mail li@example.com"));
}

#[test]
fn a_survey_keeps_a_bounded_number_of_entries() {
    let p = phone_plan();
    let mut body = String::from("{");
    for i in 0..400 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!("\"k{}x{}\": \"li@example.com\"", i / 100, i % 100));
    }
    body.push('}');
    let (_, seen, overflow) = survey(&p, Format::Json, &body);
    assert_eq!(seen.len(), privgate_mask::survey::MAX_ENTRIES);
    assert_eq!(overflow, 400 - privgate_mask::survey::MAX_ENTRIES as u64);
}

#[test]
fn keys_the_policy_names_are_kept_whatever_their_letters() {
    let p = plan(vec![field(
        "phone",
        &["$..电话"],
        PiiType::CnMobile,
        partial(),
    )]);
    let body =
        r#"{"电话": "13812345678", "备注": "li@example.com", "张三": {"电话": "13912345678"}}"#;
    assert_eq!(
        survey(&p, Format::Json, body).1,
        vec![
            e("$.*", PiiType::Email, None, 1),
            e("$.*.电话", PiiType::CnMobile, Some("phone"), 1),
            e("$.电话", PiiType::CnMobile, Some("phone"), 1),
        ]
    );
}

#[test]
fn deep_paths_past_the_bound_are_counted_not_kept() {
    let p = phone_plan();
    let key = "k".repeat(privgate_mask::survey::MAX_KEY);
    let depth = privgate_mask::survey::MAX_PATH / key.len() + 2;
    let body = format!(
        "{}\"li@example.com\"{}",
        format!("{{\"{key}\":").repeat(depth),
        "}".repeat(depth)
    );
    let (_, seen, overflow) = survey(&p, Format::Json, &body);
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(overflow, 1);
}
