//! The masking plans the benches run: pass-through, typical clinic masking, and typical
//! masking with every detector on the strings no rule classifies.
//!
//! Plans are written as [`PlanSpec`]s here, in code, because the benches measure the
//! engine, not the policy compiler. Selectors are chosen so one plan serves all three
//! shapes: `$..phone` matches the JSON members named `phone` at any depth and the CSV
//! column `phone`; CSV-only column names (`patient_name`, `id_card`, `birth_date`) get a
//! selector of their own. Inputs are in `shape/`, the engine run in `chunked.rs`.

use std::sync::Arc;

use privgate_mask::operator::{DateGranularity, Generalize, Partial, Redact};
use privgate_mask::{DetectRule, FieldRule, MaskError, Operator, PiiType, Plan, PlanSpec, Secrets};

/// Which plan a bench case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanKind {
    /// Rules for keys that never occur in the data and no detectors: the engine's floor,
    /// tokenising and copying.
    PassThrough,
    /// Typical clinic masking: names, phones, ID numbers, e-mails and addresses partially
    /// hidden, birth dates cut to the year, notes kept.
    Typical,
    /// [`PlanKind::Typical`] plus every detector, operator `partial`, on each string no
    /// rule classifies. Notes carry no rule here, so the detectors scan them (about a fifth
    /// mention a phone number or e-mail address).
    TypicalWithDetectors,
}

impl PlanKind {
    /// Every plan, cheapest first.
    pub const ALL: [PlanKind; 3] = [
        PlanKind::PassThrough,
        PlanKind::Typical,
        PlanKind::TypicalWithDetectors,
    ];

    /// The plan's name in bench ids and tables.
    pub const fn name(self) -> &'static str {
        match self {
            PlanKind::PassThrough => "pass_through",
            PlanKind::Typical => "typical",
            PlanKind::TypicalWithDetectors => "typical_detectors",
        }
    }
}

fn rule(name: &str, selectors: &[&str], pii: PiiType, operator: Operator) -> FieldRule {
    FieldRule {
        name: name.to_owned(),
        selectors: selectors.iter().map(|s| (*s).to_owned()).collect(),
        pii,
        operator,
    }
}

fn partial() -> Operator {
    Operator::Partial(Partial::default())
}

/// Rules for the fields a clinic masks; `keep_notes` adds the rule that keeps notes as they are.
fn typical_fields(keep_notes: bool) -> Vec<FieldRule> {
    let mut fields = vec![
        rule(
            "patient_name",
            &["$..patient.name", "$..contact.name", "$..patient_name"],
            PiiType::PersonName,
            partial(),
        ),
        rule("phone", &["$..phone"], PiiType::CnMobile, partial()),
        rule(
            "id_card",
            &["$..idCard", "$..id_card"],
            PiiType::CnIdCard,
            partial(),
        ),
        rule("email", &["$..email"], PiiType::Email, partial()),
        rule("address", &["$..address"], PiiType::Address, partial()),
        rule(
            "birth_date",
            &["$..birthDate", "$..birth_date"],
            PiiType::Date,
            Operator::Generalize(Generalize {
                date: DateGranularity::Year,
                ..Generalize::default()
            }),
        ),
    ];
    if keep_notes {
        fields.push(rule(
            "notes",
            &["$..notes"],
            PiiType::FreeText,
            Operator::Keep,
        ));
    }
    fields
}

/// The plan of `kind`, as a spec.
pub fn clinic_plan_spec(kind: PlanKind) -> PlanSpec {
    match kind {
        PlanKind::PassThrough => PlanSpec {
            fields: vec![
                rule(
                    "ssn",
                    &["$..ssn", "$..social_security_number"],
                    PiiType::Generic,
                    Operator::Redact(Redact::default()),
                ),
                rule(
                    "passport",
                    &["$..passportNo", "$..passport_no"],
                    PiiType::CnPassport,
                    partial(),
                ),
                rule(
                    "bank_card",
                    &["$..bankCard", "$..bank_card"],
                    PiiType::BankCard,
                    partial(),
                ),
            ],
            detect: None,
            ..PlanSpec::default()
        },
        PlanKind::Typical => PlanSpec {
            fields: typical_fields(true),
            detect: None,
            ..PlanSpec::default()
        },
        PlanKind::TypicalWithDetectors => PlanSpec {
            fields: typical_fields(false),
            detect: Some(DetectRule {
                types: PiiType::ALL
                    .into_iter()
                    .filter(|t| t.is_detectable())
                    .collect(),
                operator: partial(),
            }),
            ..PlanSpec::default()
        },
    }
}

/// Fixed keys for the benches; no plan here hashes or tokenises, but compiling needs them.
pub fn bench_secrets() -> Secrets {
    Secrets::new().with_hash_key(b"privgate-benches-fixed-hash-key!")
}

/// The compiled plan of `kind`.
pub fn clinic_plan(kind: PlanKind) -> Result<Arc<Plan>, MaskError> {
    Plan::compile(&clinic_plan_spec(kind), bench_secrets()).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunked::{mask_chunked, CHUNK};
    use crate::shape::Shape;

    fn masked(kind: PlanKind, shape: Shape) -> (Vec<u8>, Vec<u8>) {
        let input = shape.generate(32 * 1024, 21);
        let mut out = Vec::new();
        mask_chunked(&clinic_plan(kind).unwrap(), shape, &input, CHUNK, &mut out).unwrap();
        (input, out)
    }

    fn has_mobile(text: &str) -> bool {
        text.as_bytes().windows(11).any(|w| {
            w[0] == b'1' && (b'3'..=b'9').contains(&w[1]) && w.iter().all(u8::is_ascii_digit)
        })
    }

    /// `(phone, birth date, notes)` of every record, whatever the shape.
    fn fields(shape: Shape, body: &[u8]) -> Vec<(String, String, String)> {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        match shape {
            Shape::Json | Shape::Ndjson => {
                let items: Vec<serde_json::Value> = if shape == Shape::Json {
                    let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
                    doc["data"]["items"].as_array().unwrap().clone()
                } else {
                    serde_json::Deserializer::from_slice(body)
                        .into_iter()
                        .collect::<Result<_, _>>()
                        .unwrap()
                };
                items
                    .iter()
                    .map(|i| {
                        let p = &i["patient"];
                        (text(&p["phone"]), text(&p["birthDate"]), text(&i["notes"]))
                    })
                    .collect()
            }
            Shape::Csv => ::csv::Reader::from_reader(body)
                .records()
                .map(|r| {
                    let r = r.unwrap();
                    (r[2].to_owned(), r[5].to_owned(), r[11].to_owned())
                })
                .collect(),
        }
    }

    #[test]
    fn typical_masks_the_classified_fields_in_every_shape() {
        for shape in Shape::ALL {
            let (input, out) = masked(PlanKind::Typical, shape);
            let (before, after) = (fields(shape, &input), fields(shape, &out));
            assert_eq!(before.len(), after.len());
            for ((_, _, notes_in), (phone, birth, notes)) in before.iter().zip(&after) {
                assert!(
                    phone.contains("****") && !has_mobile(phone),
                    "{}: {phone}",
                    shape.name()
                );
                assert_eq!(birth.len(), 4, "{}: {birth}", shape.name());
                assert_eq!(notes, notes_in, "{}: notes are kept", shape.name());
            }
        }
    }

    #[test]
    fn detectors_find_the_numbers_in_notes_and_pass_through_changes_nothing() {
        for shape in Shape::ALL {
            let (input, out) = masked(PlanKind::TypicalWithDetectors, shape);
            let before = fields(shape, &input);
            assert!(before.iter().any(|(_, _, notes)| has_mobile(notes)));
            for (_, _, notes) in fields(shape, &out) {
                assert!(!has_mobile(&notes), "{}: {notes}", shape.name());
            }
            let (input, out) = masked(PlanKind::PassThrough, shape);
            assert_eq!(
                fields(shape, &input),
                fields(shape, &out),
                "{}",
                shape.name()
            );
        }
    }
}
