//! Behaviour of the JSON and NDJSON rewriter through the public API.

mod common;

use common::{field, mask_all_ways, partial, plan, plan_with, s};
use privgate_mask::operator::{Generalize, Hash, Redact};
use privgate_mask::{
    mask_to_vec, DetectRule, Format, Limits, MaskError, Masker, OpKind, Operator, PiiType,
    PlanSpec, SyntaxKind,
};

#[test]
fn untouched_documents_come_out_byte_for_byte() {
    let p = plan(vec![field(
        "phone",
        &["$..phone"],
        PiiType::CnMobile,
        partial(),
    )]);
    let doc = r#" { "a" : [ 1.50e+3 , -0 , true,false , null ,"x\u0041\"" ] ,
        "b":{}, "c":[] , "d" : "\ud83d\ude00 张三" }
    "#
    .as_bytes();
    assert_eq!(mask_all_ways(&p, Format::Json, doc).unwrap(), doc.to_vec());
}

#[test]
fn masks_values_at_selected_paths() {
    let p = plan(vec![
        field(
            "phone",
            &["$..phone", "$..mobile"],
            PiiType::CnMobile,
            partial(),
        ),
        field(
            "id",
            &["$.patient['id card']"],
            PiiType::CnIdCard,
            partial(),
        ),
        field("name", &["$.patient.name"], PiiType::PersonName, partial()),
    ]);
    let doc = r#"{"patient":{"name":"张三","id card":"110101199003071234","phone":"13812345678"},
        "contacts":[{"mobile":13912345678},{"ph\u006fne":"13700001111"}]}"#;
    let out = s(mask_all_ways(&p, Format::Json, doc.as_bytes()).unwrap());
    assert_eq!(
        out,
        r#"{"patient":{"name":"张*","id card":"110101********1234","phone":"138****5678"},
        "contacts":[{"mobile":"139****5678"},{"ph\u006fne":"137****1111"}]}"#
    );
}

#[test]
fn drop_removes_members_and_elements_keeping_json_valid() {
    let p = plan(vec![
        field("secret", &["$..secret"], PiiType::Generic, Operator::Drop),
        field("tags", &["$.tags[*]"], PiiType::Generic, Operator::Drop),
    ]);
    for (doc, want) in [
        (r#"{"secret":1,"a":2}"#, r#"{"a":2}"#),
        (r#"{"a":2,"secret":1}"#, r#"{"a":2}"#),
        (
            r#"{"a":1, "secret": {"x":[1,2]}, "b":2}"#,
            r#"{"a":1, "b":2}"#,
        ),
        (r#"{ "secret" : 1 , "secret":2 }"#, r#"{   }"#),
        (
            r#"{"tags":[1,2,3],"n":{"secret":"x","k":true}}"#,
            r#"{"tags":[],"n":{"k":true}}"#,
        ),
    ] {
        let out = s(mask_all_ways(&p, Format::Json, doc.as_bytes()).unwrap());
        assert_eq!(out, want, "{doc}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }
}

#[test]
fn container_rules_apply_to_every_leaf_and_deeper_rules_win() {
    let p = plan(vec![
        field(
            "public",
            &["$.patient.public"],
            PiiType::Generic,
            Operator::Keep,
        ),
        field(
            "patient",
            &["$.patient"],
            PiiType::Generic,
            Operator::Redact(Redact::default()),
        ),
        field("gone", &["$.gone"], PiiType::Generic, Operator::Null),
    ]);
    let doc = r#"{"patient":{"a":"x","b":[1,true,null],"public":"ok"},"gone":{"z":[1]}}"#;
    let out = s(mask_all_ways(&p, Format::Json, doc.as_bytes()).unwrap());
    assert_eq!(
        out,
        r#"{"patient":{"a":"***","b":["***","***",null],"public":"ok"},"gone":null}"#
    );
}

#[test]
fn hash_generalize_and_numbers_become_strings() {
    let p = plan(vec![
        field(
            "id",
            &["$.id"],
            PiiType::Generic,
            Operator::Hash(Hash::default()),
        ),
        field(
            "age",
            &["$.age"],
            PiiType::Generic,
            Operator::Generalize(Generalize::default()),
        ),
        field(
            "dob",
            &["$.dob"],
            PiiType::Date,
            Operator::Generalize(Generalize::default()),
        ),
    ]);
    let out = s(mask_all_ways(
        &p,
        Format::Json,
        br#"{"id":42,"age":34,"dob":"1990-05-17"}"#,
    )
    .unwrap());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("h_"));
    assert_eq!(v["age"], "30-39");
    assert_eq!(v["dob"], "1990");
}

#[test]
fn stats_count_records_and_values_by_type_and_operator() {
    let p = plan_with(PlanSpec {
        fields: vec![field("phone", &["$..phone"], PiiType::CnMobile, partial())],
        records: Some("$.data.items[*]".into()),
        ..Default::default()
    });
    let doc = br#"{"data":{"items":[{"phone":"13812345678"},{"phone":"13912345678"},{}]}}"#;
    let mut m = Masker::new(p, Format::Json);
    let mut out = Vec::new();
    m.feed(doc, &mut out).unwrap();
    m.finish(&mut out).unwrap();
    assert_eq!(m.stats().records, 3);
    assert_eq!(m.stats().masked(PiiType::CnMobile, OpKind::Partial), 2);
    assert_eq!(m.stats().bytes_in, doc.len() as u64);
    assert_eq!(m.stats().bytes_out, out.len() as u64);
}

#[test]
fn default_records_are_top_level_elements_or_the_top_level_object() {
    let p = plan(vec![]);
    for (doc, records) in [
        (&br#"{"a":1,"b":{"c":2},"d":[3,4]}"#[..], 1),
        (br#"[{"a":[1,2]},{},3]"#, 3),
        (br#"[]"#, 0),
        (br#""x""#, 0),
    ] {
        let mut m = Masker::new(p.clone(), Format::Json);
        m.set_record_limit(Some(1));
        m.feed(doc, &mut Vec::new())
            .and_then(|_| m.finish(&mut Vec::new()))
            .ok();
        let mut m2 = Masker::new(p.clone(), Format::Json);
        m2.feed(doc, &mut Vec::new()).unwrap();
        m2.finish(&mut Vec::new()).unwrap();
        assert_eq!(
            m2.stats().records,
            records,
            "{}",
            String::from_utf8_lossy(doc)
        );
    }
    // A limit of one lets a whole single object through.
    let mut m = Masker::new(p, Format::Json);
    m.set_record_limit(Some(1));
    let mut out = Vec::new();
    m.feed(br#"{"a":{"b":[1,2,3]}}"#, &mut out).unwrap();
    m.finish(&mut out).unwrap();
    assert_eq!(out, br#"{"a":{"b":[1,2,3]}}"#);
}

#[test]
fn empty_strings_stay_empty() {
    let p = plan(vec![
        field(
            "id",
            &["$.id"],
            PiiType::Generic,
            Operator::Hash(Hash::default()),
        ),
        field(
            "r",
            &["$.r"],
            PiiType::Generic,
            Operator::Redact(Redact::default()),
        ),
        field("n", &["$.n"], PiiType::Generic, Operator::Null),
    ]);
    let out = mask_all_ways(&p, Format::Json, br#"{"id":"","r":"","n":""}"#).unwrap();
    assert_eq!(s(out), r#"{"id":"","r":"","n":null}"#);
}

#[test]
fn record_limit_stops_before_the_next_record() {
    let p = plan(vec![]);
    let mut m = Masker::new(p, Format::Json);
    m.set_record_limit(Some(2));
    let mut out = Vec::new();
    let err = m
        .feed(br#"[{"a":1},{"a":2},{"a":3}]"#, &mut out)
        .unwrap_err();
    assert!(
        matches!(err, MaskError::RecordLimit { limit: 2, .. }),
        "{err}"
    );
    assert_eq!(out, br#"[{"a":1},{"a":2},"#);
    assert_eq!(m.feed(b"", &mut out), Err(MaskError::Finished));
}

#[test]
fn detectors_mask_pii_in_free_text_and_numbers() {
    let p = plan_with(PlanSpec {
        detect: Some(DetectRule {
            types: vec![PiiType::CnMobile],
            operator: partial(),
        }),
        ..Default::default()
    });
    let doc = r#"{"note":"请回电 13812345678 谢谢","tel":13912345678,"n":5,"k":"plain"}"#;
    let out = s(mask_all_ways(&p, Format::Json, doc.as_bytes()).unwrap());
    assert_eq!(
        out,
        r#"{"note":"请回电 138****5678 谢谢","tel":"139****5678","n":5,"k":"plain"}"#
    );
}

#[test]
fn ndjson_lines_are_records() {
    let p = plan(vec![field(
        "phone",
        &["$.phone"],
        PiiType::CnMobile,
        partial(),
    )]);
    let doc = b"{\"phone\":\"13812345678\"}\n\n{\"phone\":\"13912345678\"}\r\n[1]\n";
    let out = s(mask_all_ways(&p, Format::Ndjson, doc).unwrap());
    assert_eq!(
        out,
        "{\"phone\":\"138****5678\"}\n\n{\"phone\":\"139****5678\"}\r\n[1]\n"
    );
    let mut m = Masker::new(plan(vec![]), Format::Ndjson);
    m.feed(doc, &mut Vec::new()).unwrap();
    m.finish(&mut Vec::new()).unwrap();
    assert_eq!(m.stats().records, 3);
    assert!(mask_to_vec(&plan(vec![]), Format::Ndjson, b"{} {}").is_err());
    assert_eq!(
        mask_to_vec(&plan(vec![]), Format::Ndjson, b"").unwrap(),
        b""
    );
}

#[test]
fn malformed_input_is_an_error_with_offset_and_no_body_bytes() {
    let p = plan(vec![field(
        "phone",
        &["$..phone"],
        PiiType::CnMobile,
        partial(),
    )]);
    let cases: &[(&[u8], u64)] = &[
        (br#"{"phone":"13812345678""#, 22),
        (br#"{"phone":"1381234\x5678"}"#, 18),
        (b"{\"phone\":\"13812\xff345678\"}", 15),
        (br#"{"a":1} x"#, 8),
        (br#"{"a":01}"#, 6),
        (br#"{"a" 1}"#, 5),
        (br#"[1,]"#, 3),
        (b"", 0),
        (br#"{"phone":"\ud800"}"#, 16),
        (b"{\"phone\":\"a\nb\"}", 11),
    ];
    for (doc, offset) in cases {
        let err = mask_all_ways(&p, Format::Json, doc).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains("1381234"), "{msg}");
        match err {
            MaskError::Syntax { at, .. } => {
                assert_eq!(
                    at.offset,
                    *offset,
                    "{} -> {msg}",
                    String::from_utf8_lossy(doc)
                )
            }
            other => panic!("{other}"),
        }
    }
}

#[test]
fn errors_name_only_keys_the_plan_knows() {
    let p = plan(vec![field(
        "phone",
        &["$..phone"],
        PiiType::CnMobile,
        partial(),
    )]);
    let err = mask_to_vec(&p, Format::Json, br#"{"13812345678":{"phone":[1,2,x]}}"#).unwrap_err();
    let MaskError::Syntax { at, kind } = err else {
        panic!()
    };
    assert_eq!(at.path, "$.*.phone[2]");
    assert!(matches!(kind, SyntaxKind::UnexpectedByte(_)));
}

#[test]
fn limits_bound_held_values_and_depth() {
    let p = plan_with(PlanSpec {
        fields: vec![field("phone", &["$..phone"], PiiType::CnMobile, partial())],
        limits: Limits {
            max_value_len: 16,
            max_depth: 3,
        },
        ..Default::default()
    });
    let long = br#"{"phone":"138123456781381234567813812345678"}"#;
    assert!(matches!(
        mask_all_ways(&p, Format::Json, long),
        Err(MaskError::ValueTooLong { .. })
    ));
    // Values nobody needs to see are streamed whatever their length.
    let free = br#"{"note":"138123456781381234567813812345678"}"#;
    assert_eq!(
        mask_all_ways(&p, Format::Json, free).unwrap(),
        free.to_vec()
    );
    assert!(matches!(
        mask_all_ways(&p, Format::Json, b"[[[[1]]]]"),
        Err(MaskError::TooDeep { .. })
    ));
    assert!(mask_all_ways(&p, Format::Json, b"[[[1]]]").is_ok());
    // The same bound for values only the detectors look at.
    let p = plan_with(PlanSpec {
        detect: Some(DetectRule {
            types: vec![PiiType::Email],
            operator: partial(),
        }),
        limits: Limits {
            max_value_len: 16,
            max_depth: 3,
        },
        ..Default::default()
    });
    let long = br#"{"note":"a long note without anything personal"}"#;
    assert!(matches!(
        mask_all_ways(&p, Format::Json, long),
        Err(MaskError::ValueTooLong { .. })
    ));
}
