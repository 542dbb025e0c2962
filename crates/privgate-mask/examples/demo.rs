//! Masks one clinic appointment list as three roles would see it.
//!
//! `cargo run -p privgate-mask --example demo` prints the original body and what a
//! receptionist, a doctor and an auditor receive, with what was counted. The plans here
//! are written by hand in Rust; the gateway builds the same plans from the YAML policies
//! in `policies/`.

#![expect(clippy::print_stdout, reason = "a demo prints its result")]

use std::sync::Arc;

use privgate_mask::operator::{DateGranularity, Generalize, Hash, Partial, Redact};
use privgate_mask::{
    DetectRule, FieldRule, Format, MaskError, Masker, Operator, PiiType, Plan, PlanSpec, Secrets,
};

const BODY: &str = r#"{"code":0,"data":{"page":1,"total":2,"items":[
  {"id":"A-1001","time":"2026-12-01T09:30:00+08:00","department":"内科",
   "patient":{"name":"张三","phone":"13812345678","idCard":"11010519491231002X",
              "birthDate":"1949-12-31","email":"zhangsan@example.com"},
   "notes":"患者要求改约，请回电 13912345678"},
  {"id":1002,"time":"2026-12-01T10:00:00+08:00","department":"Dermatology",
   "patient":{"name":"John Smith","phone":13700001111,"idCard":"110101199003071230",
              "birthDate":"1990-03-07","email":"john.smith@example.org"},
   "notes":"Prefers e-mail: john.smith@example.org"}
]}}"#;

fn field(name: &str, selectors: &[&str], pii: PiiType, operator: Operator) -> FieldRule {
    FieldRule {
        name: name.into(),
        selectors: selectors.iter().map(|s| (*s).to_owned()).collect(),
        pii,
        operator,
    }
}

fn role_plan(role: &str) -> PlanSpec {
    let partial = || Operator::Partial(Partial::default());
    let fields = match role {
        "receptionist" => vec![
            field("id_card", &["$..idCard"], PiiType::CnIdCard, partial()),
            field("name", &["$..patient.name"], PiiType::PersonName, partial()),
            field("phone", &["$..phone"], PiiType::CnMobile, partial()),
            field("email", &["$..email"], PiiType::Email, partial()),
            field(
                "birth_date",
                &["$..birthDate"],
                PiiType::Date,
                Operator::Generalize(Generalize {
                    date: DateGranularity::Year,
                    bucket: 10,
                }),
            ),
        ],
        "doctor" => vec![
            field("id_card", &["$..idCard"], PiiType::CnIdCard, partial()),
            field(
                "name",
                &["$..patient.name"],
                PiiType::PersonName,
                Operator::Keep,
            ),
            field("phone", &["$..phone"], PiiType::CnMobile, Operator::Keep),
        ],
        _ => vec![
            field("id_card", &["$..idCard"], PiiType::CnIdCard, Operator::Drop),
            field(
                "name",
                &["$..patient.name"],
                PiiType::PersonName,
                Operator::Hash(Hash::default()),
            ),
            field(
                "contact",
                &["$..phone", "$..email"],
                PiiType::Generic,
                Operator::Redact(Redact::default()),
            ),
            field(
                "birth_date",
                &["$..birthDate"],
                PiiType::Date,
                Operator::Generalize(Generalize {
                    date: DateGranularity::YearMonth,
                    bucket: 10,
                }),
            ),
        ],
    };
    PlanSpec {
        fields,
        detect: Some(DetectRule {
            types: vec![PiiType::CnMobile, PiiType::Email, PiiType::CnIdCard],
            operator: partial(),
        }),
        records: Some("$.data.items[*]".into()),
        ..Default::default()
    }
}

fn main() -> Result<(), MaskError> {
    let secrets = Secrets::new().with_hash_key(b"demo key: never use in production!");
    println!("== upstream body\n{BODY}\n");
    for role in ["receptionist", "doctor", "auditor"] {
        let plan = Arc::new(Plan::compile(&role_plan(role), secrets.clone())?);
        let mut masker = Masker::new(plan, Format::Json);
        let mut out = Vec::new();
        // Feed in small chunks, as a proxy would receive them.
        for chunk in BODY.as_bytes().chunks(64) {
            masker.feed(chunk, &mut out)?;
        }
        masker.finish(&mut out)?;
        println!("== {role} sees\n{}", String::from_utf8_lossy(&out));
        let stats = masker.stats();
        let counts: Vec<String> = stats
            .masked_counts()
            .map(|(pii, op, n)| format!("{pii}/{op}={n}", op = op.as_str()))
            .collect();
        println!(
            "   records {}, values {}\n",
            stats.records,
            counts.join(" ")
        );
    }
    Ok(())
}
