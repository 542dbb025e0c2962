//! Scope `identity`: pseudonyms unique to the receiving account, consistent for it.

mod common;

use std::sync::Arc;

use common::{field, partial, plan_with, s, secrets};
use privgate_mask::operator::{detokenize, Hash, Scope, Tokenize};
use privgate_mask::{
    mask_to_vec, mask_to_vec_for, DetectRule, Format, MaskError, Masker, Operator, PiiType, Plan,
    PlanSpec,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn scoped_hash() -> Operator {
    Operator::Hash(Hash {
        prefix: "hs_".into(),
        scope: Scope::Identity,
        ..Hash::default()
    })
}

fn scoped_token() -> Operator {
    Operator::Tokenize(Tokenize {
        prefix: "ts_".into(),
        scope: Scope::Identity,
    })
}

fn scoped_plan() -> Arc<Plan> {
    plan_with(PlanSpec {
        fields: vec![
            field("phone", &["$..phone"], PiiType::CnMobile, partial()),
            field("name", &["$..name"], PiiType::PersonName, scoped_token()),
            field("id", &["$..id"], PiiType::Generic, scoped_hash()),
            field(
                "ref",
                &["$..ref"],
                PiiType::Generic,
                Operator::Hash(Hash::default()),
            ),
            field(
                "card",
                &["$..card"],
                PiiType::Generic,
                Operator::Tokenize(Tokenize::default()),
            ),
        ],
        detect: Some(DetectRule {
            types: vec![PiiType::Email],
            operator: partial(),
        }),
        ..Default::default()
    })
}

const BODY: &str = r#"[{"id":17,"name":"张三","ref":"r-1","card":"c-1","phone":"13812345678","note":"z@example.com"},
 {"id":18,"name":"李四","ref":"r-1","card":"c-1","phone":"13912345678","note":"plain"}]"#;

fn masked(plan: &Arc<Plan>, recipient: &str, body: &str) -> Value {
    serde_json::from_slice(
        &mask_to_vec_for(plan, Format::Json, recipient, body.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[test]
fn without_a_recipient_nothing_is_written() {
    let plan = scoped_plan();
    assert!(plan.needs_recipient());
    for recipient in [None, Some("")] {
        let mut m = match recipient {
            None => Masker::new(plan.clone(), Format::Json),
            Some(r) => Masker::with_recipient(plan.clone(), Format::Json, r),
        };
        let mut out = Vec::new();
        assert_eq!(
            m.feed(BODY.as_bytes(), &mut out),
            Err(MaskError::NoRecipient)
        );
        assert!(out.is_empty());
        assert_eq!(m.finish(&mut out), Err(MaskError::Finished));
        // Even an empty body fails: the refusal does not depend on the data.
        let mut m = Masker::new(plan.clone(), Format::Csv);
        assert_eq!(m.finish(&mut out), Err(MaskError::NoRecipient));
        assert!(out.is_empty());
    }
    assert_eq!(
        mask_to_vec(&plan, Format::Ndjson, b"{}\n"),
        Err(MaskError::NoRecipient)
    );
}

#[test]
fn plans_without_identity_scope_ignore_the_recipient() {
    let plan = plan_with(PlanSpec {
        fields: vec![field(
            "id",
            &["$..id"],
            PiiType::Generic,
            Operator::Hash(Hash::default()),
        )],
        ..Default::default()
    });
    assert!(!plan.needs_recipient());
    let global = mask_to_vec(&plan, Format::Json, BODY.as_bytes()).unwrap();
    assert_eq!(
        mask_to_vec_for(&plan, Format::Json, "alice", BODY.as_bytes()).unwrap(),
        global
    );
}

#[test]
fn scoped_fields_differ_by_recipient_and_the_rest_does_not() {
    let plan = scoped_plan();
    let alice = masked(&plan, "alice", BODY);
    let alice_again = masked(&plan, "alice", BODY);
    let bob = masked(&plan, "bob", BODY);
    assert_eq!(alice, alice_again);
    for i in 0..2 {
        let (a, b) = (&alice[i], &bob[i]);
        for k in ["id", "name"] {
            assert_ne!(a[k], b[k], "{k}");
        }
        for k in ["ref", "card", "phone", "note"] {
            assert_eq!(a[k], b[k], "{k}");
        }
    }
    assert_eq!(alice[0]["note"], "***@example.com");
    assert!(alice[0]["id"].as_str().unwrap().starts_with("hs_"));
    // Equal values, equal pseudonyms for one account: joins still work.
    assert_eq!(alice[0]["ref"], alice[1]["ref"]);
    // The recipient's tokens open with the recipient's keys, and only with them.
    let token = alice[0]["name"].as_str().unwrap();
    assert_eq!(
        detokenize(&plan.recipient_secrets("alice"), "ts_", token).unwrap(),
        "张三"
    );
    assert!(detokenize(&plan.recipient_secrets("bob"), "ts_", token).is_err());
    assert!(detokenize(&secrets(), "ts_", token).is_err());
}

#[test]
fn chunking_does_not_matter_with_a_recipient() {
    let plan = scoped_plan();
    let whole = mask_to_vec_for(&plan, Format::Json, "alice", BODY.as_bytes()).unwrap();
    for cut in 0..=BODY.len() {
        let mut m = Masker::with_recipient(plan.clone(), Format::Json, "alice");
        let mut out = Vec::new();
        m.feed(&BODY.as_bytes()[..cut], &mut out).unwrap();
        m.feed(&BODY.as_bytes()[cut..], &mut out).unwrap();
        m.finish(&mut out).unwrap();
        assert_eq!(s(out), s(whole.clone()), "split at {cut}");
    }
}

#[test]
fn csv_and_ndjson_are_scoped_too() {
    let plan = scoped_plan();
    let csv = "id,name,ref\n17,张三,r-1\n";
    let a = s(mask_to_vec_for(&plan, Format::Csv, "alice", csv.as_bytes()).unwrap());
    let b = s(mask_to_vec_for(&plan, Format::Csv, "bob", csv.as_bytes()).unwrap());
    let (a_row, b_row) = (a.lines().nth(1).unwrap(), b.lines().nth(1).unwrap());
    let a_cells: Vec<&str> = a_row.split(',').collect();
    let b_cells: Vec<&str> = b_row.split(',').collect();
    assert!(a_cells[0].starts_with("hs_") && a_cells[1].starts_with("ts_k1."));
    assert_ne!(a_cells[0], b_cells[0]);
    assert_ne!(a_cells[1], b_cells[1]);
    assert_eq!(a_cells[2], b_cells[2]);
    let nd = "{\"name\":\"张三\"}\n{\"name\":\"张三\"}\n";
    let out = s(mask_to_vec_for(&plan, Format::Ndjson, "alice", nd.as_bytes()).unwrap());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], lines[1]);
    assert!(lines[0].contains("\"ts_k1."));
}

#[test]
fn scoped_detectors_need_a_recipient() {
    let plan = plan_with(PlanSpec {
        detect: Some(DetectRule {
            types: vec![PiiType::Email],
            operator: scoped_hash(),
        }),
        ..Default::default()
    });
    assert!(plan.needs_recipient());
    let body = br#"{"note":"mail z@example.com"}"#;
    assert_eq!(
        mask_to_vec(&plan, Format::Json, body),
        Err(MaskError::NoRecipient)
    );
    let a = s(mask_to_vec_for(&plan, Format::Json, "alice", body).unwrap());
    let b = s(mask_to_vec_for(&plan, Format::Json, "bob", body).unwrap());
    assert!(a.contains("mail hs_"), "{a}");
    assert_ne!(a, b);
}

const KEYS: &[&str] = &["id", "name", "ref", "card", "phone", "note", "a", "items"];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z \"\\\\/é张三😀]{0,12}".prop_map(Value::from),
        "1[3-9][0-9]{9}".prop_map(Value::from),
        "[a-z]{1,5}@example\\.com".prop_map(Value::from),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    m.insert(k.to_string(), v);
                }
                Value::Object(m)
            }),
        ]
    })
}

/// Walks two outputs of the same input side by side: scoped pseudonyms (`hs_`, `ts_`)
/// must differ, everything else must be equal. Returns the number of scoped leaves.
fn compare(a: &Value, b: &Value, plan: &Plan) -> Result<usize, TestCaseError> {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            prop_assert_eq!(x.len(), y.len());
            x.iter()
                .zip(y)
                .try_fold(0, |n, (x, y)| Ok(n + compare(x, y, plan)?))
        }
        (Value::Object(x), Value::Object(y)) => {
            prop_assert!(x.keys().eq(y.keys()));
            x.values()
                .zip(y.values())
                .try_fold(0, |n, (x, y)| Ok(n + compare(x, y, plan)?))
        }
        (Value::String(x), Value::String(y)) if x.starts_with("hs_") || x.starts_with("ts_") => {
            prop_assert_eq!(&x[..3], &y[..3]);
            prop_assert_ne!(x, y);
            if x.starts_with("ts_") {
                let from_a = detokenize(&plan.recipient_secrets("alice"), "ts_", x).unwrap();
                let from_b = detokenize(&plan.recipient_secrets("bob"), "ts_", y).unwrap();
                prop_assert_eq!(from_a, from_b);
            }
            Ok(1)
        }
        _ => {
            prop_assert_eq!(a, b);
            Ok(0)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn recipients_differ_exactly_on_scoped_fields(doc in document(), cut in 0usize..4096) {
        let plan = scoped_plan();
        let body = serde_json::to_vec(&doc).unwrap();
        let a = mask_to_vec_for(&plan, Format::Json, "alice", &body).unwrap();
        let b = mask_to_vec_for(&plan, Format::Json, "bob", &body).unwrap();
        let (va, vb): (Value, Value) =
            (serde_json::from_slice(&a).unwrap(), serde_json::from_slice(&b).unwrap());
        compare(&va, &vb, &plan)?;
        // Consistent: the same recipient again, in two chunks anywhere.
        let cut = cut % (body.len() + 1);
        let mut m = Masker::with_recipient(plan.clone(), Format::Json, "alice");
        let mut again = Vec::new();
        m.feed(&body[..cut], &mut again).unwrap();
        m.feed(&body[cut..], &mut again).unwrap();
        m.finish(&mut again).unwrap();
        prop_assert_eq!(again, a);
    }
}
