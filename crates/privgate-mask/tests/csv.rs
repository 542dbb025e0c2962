//! Behaviour of the CSV rewriter through the public API.

mod common;

use common::{field, mask_all_ways, partial, plan, plan_with, s};
use privgate_mask::operator::Redact;
use privgate_mask::{
    DetectRule, Format, MaskError, Masker, OpKind, Operator, PiiType, PlanSpec, SyntaxKind,
};

fn clinic() -> std::sync::Arc<privgate_mask::Plan> {
    plan(vec![
        field("phone", &["$..phone"], PiiType::CnMobile, partial()),
        field("name", &["$[*].name"], PiiType::PersonName, partial()),
        field("id", &["$..id_card"], PiiType::CnIdCard, Operator::Drop),
        field("note", &["$..note"], PiiType::FreeText, Operator::Null),
    ])
}

#[test]
fn unmasked_csv_is_byte_for_byte() {
    let doc = "a,b,c\r\n1,\"x, \"\"y\"\"\nz\",3\r\n,,\r\n";
    assert_eq!(
        s(mask_all_ways(&clinic(), Format::Csv, doc.as_bytes()).unwrap()),
        doc
    );
}

#[test]
fn masks_columns_by_name_quotes_when_needed_and_drops_columns() {
    let doc = "id_card,name,phone,note,city\n\
               110101199003071234,张三,13812345678,\"call, me\",北京\n\
               110101199003071235,\"John Smith\",\"13912345678\",,\"Shang\nhai\"\n";
    let out = s(mask_all_ways(&clinic(), Format::Csv, doc.as_bytes()).unwrap());
    assert_eq!(
        out,
        "name,phone,note,city\n张*,138****5678,,北京\nJ*** Smith,139****5678,,\"Shang\nhai\"\n"
    );
}

#[test]
fn dropping_the_last_column_keeps_crlf_and_dropping_a_middle_one_keeps_commas() {
    let p = plan(vec![field(
        "secret",
        &["$..secret"],
        PiiType::Generic,
        Operator::Drop,
    )]);
    let doc = "a,secret\r\n1,x\r\n2,\"y\"\r\n";
    assert_eq!(
        s(mask_all_ways(&p, Format::Csv, doc.as_bytes()).unwrap()),
        "a\r\n1\r\n2\r\n"
    );
    let doc = "a,secret,b\n1,x,2\n3,\"y,z\",4\n";
    assert_eq!(
        s(mask_all_ways(&p, Format::Csv, doc.as_bytes()).unwrap()),
        "a,b\n1,2\n3,4\n"
    );
    let doc = "secret,a\nx,1";
    assert_eq!(
        s(mask_all_ways(&p, Format::Csv, doc.as_bytes()).unwrap()),
        "a\n1"
    );
}

#[test]
fn rows_are_records_and_stats_count_values() {
    let mut m = Masker::new(clinic(), Format::Csv);
    let mut out = Vec::new();
    m.feed(b"name,phone\nA,13812345678\n\nB,13912345678\n", &mut out)
        .unwrap();
    m.finish(&mut out).unwrap();
    assert_eq!(m.stats().records, 2);
    assert_eq!(m.stats().masked(PiiType::CnMobile, OpKind::Partial), 2);
    assert_eq!(m.stats().masked(PiiType::PersonName, OpKind::Partial), 2);

    let mut m = Masker::new(clinic(), Format::Csv);
    m.set_record_limit(Some(1));
    let mut out = Vec::new();
    let err = m.feed(b"name,x\nA,1\nB,2\n", &mut out).unwrap_err();
    assert!(matches!(err, MaskError::RecordLimit { limit: 1, .. }));
    assert_eq!(out, b"name,x\n*,1\n");
}

#[test]
fn detectors_run_on_unclassified_fields() {
    let p = plan_with(PlanSpec {
        detect: Some(DetectRule {
            types: vec![PiiType::CnMobile],
            operator: Operator::Redact(Redact::default()),
        }),
        ..Default::default()
    });
    let doc = "notes\n\"请回电 13812345678, 谢谢\"\nplain\n";
    let out = s(mask_all_ways(&p, Format::Csv, doc.as_bytes()).unwrap());
    assert_eq!(out, "notes\n\"请回电 ***, 谢谢\"\nplain\n");
}

#[test]
fn malformed_csv_fails_closed() {
    for (doc, kind) in [
        ("a,b\n1,2,3\n", SyntaxKind::CsvExtraField),
        ("a\nx\"y\n", SyntaxKind::CsvQuote),
        ("a\n\"x\"y\n", SyntaxKind::CsvQuote),
        ("a\n\"unterminated\n", SyntaxKind::Truncated),
    ] {
        match mask_all_ways(&clinic(), Format::Csv, doc.as_bytes()) {
            Err(MaskError::Syntax { kind: k, .. }) => assert_eq!(k, kind, "{doc:?}"),
            other => panic!("{doc:?}: {other:?}"),
        }
    }
    let bad = b"phone\n\"138\xff12345678\"\n";
    assert!(matches!(
        mask_all_ways(&clinic(), Format::Csv, bad),
        Err(MaskError::Syntax {
            kind: SyntaxKind::InvalidUtf8,
            ..
        })
    ));
}
