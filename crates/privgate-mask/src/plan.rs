//! Plans: what to mask where, compiled once and shared by every stream.
//!
//! A [`PlanSpec`] is the plain description (fields with selectors, a PII type and an
//! operator; detectors for values no field covers; where records are; limits).
//! [`Plan::compile`] checks it and builds the selector automaton, the detectors and the
//! keys into a [`Plan`] that many maskers can use at once (share it in an `Arc`).
//!
//! Precedence: when several fields match the same value, the one listed first wins (the
//! policy compiler lists stricter fields first). A field on an object or array applies
//! its operator to every scalar inside, except where a field matches deeper (the most
//! specific match wins); `null` and `drop` replace or remove the whole value.

use crate::automaton::{Automaton, Target, NO_RULE};
use crate::detect::{DetectorSet, Detectors};
use crate::error::MaskError;
use crate::operator::{Operator, Scope, Secrets};
use crate::pii::PiiType;
use crate::selector::Selector;

/// One classified field: where it is, what it is, what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRule {
    /// The field's name in the policy's catalogue (used in errors, never body data).
    pub name: String,
    /// Selectors naming where the field occurs (see [`Selector`]).
    pub selectors: Vec<String>,
    /// What kind of personal data it is.
    pub pii: PiiType,
    /// The operator applied to it.
    pub operator: Operator,
}

/// Detectors for string (and long integer) values that no field covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectRule {
    /// Which detectors run.
    pub types: Vec<PiiType>,
    /// The operator applied to each finding (`keep` only counts it).
    pub operator: Operator,
}

/// Bounds that keep memory proportional to the largest value, not the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest value (in raw bytes) the engine holds while deciding about it.
    pub max_value_len: usize,
    /// Deepest nesting of objects and arrays.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value_len: 1 << 20,
            max_depth: 128,
        }
    }
}

/// Everything a plan is made of, before checking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSpec {
    /// The classified fields, strictest first.
    pub fields: Vec<FieldRule>,
    /// Detectors for unclassified values, if any.
    pub detect: Option<DetectRule>,
    /// Where records are in a JSON body (e.g. `$.data.items[*]`). Without it the
    /// elements of a top-level array are records, and a top-level object is one.
    /// NDJSON lines and CSV rows are always the records.
    pub records: Option<String>,
    /// Memory bounds.
    pub limits: Limits,
}

/// A field rule as the engine uses it.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The field's name (for surveys).
    pub(crate) name: Box<str>,
    pub(crate) pii: PiiType,
    pub(crate) operator: Operator,
}

/// A compiled plan. Build once, share in an `Arc`, use from many streams.
#[derive(Debug)]
pub struct Plan {
    pub(crate) rules: Vec<Rule>,
    /// Every field selector with its rule index (the reference masker walks these).
    #[cfg_attr(not(feature = "reference"), allow(dead_code))]
    pub(crate) selectors: Vec<(Selector, u32)>,
    pub(crate) automaton: Automaton,
    pub(crate) detectors: Option<(Detectors, Operator)>,
    pub(crate) records_given: bool,
    pub(crate) limits: Limits,
    pub(crate) secrets: Secrets,
    /// Some operator has scope `identity`: bodies need a recipient.
    pub(crate) needs_recipient: bool,
}

impl Plan {
    /// Checks and compiles a plan.
    ///
    /// Fails on a selector that does not parse, on `hash` or `tokenize` without a key,
    /// and on `null` or `drop` for detectors (a finding is part of a string; it can be
    /// masked or counted, not removed).
    pub fn compile(spec: &PlanSpec, secrets: Secrets) -> Result<Plan, MaskError> {
        let mut selectors = Vec::new();
        let mut rules = Vec::new();
        for (i, field) in spec.fields.iter().enumerate() {
            check_keys(&field.name, &field.operator, &secrets)?;
            for s in &field.selectors {
                let sel = Selector::parse(s).map_err(|source| MaskError::Selector {
                    field: field.name.clone(),
                    source,
                })?;
                selectors.push((sel, Target::Rule(i as u32)));
            }
            rules.push(Rule {
                name: field.name.as_str().into(),
                pii: field.pii,
                operator: field.operator.clone(),
            });
        }
        let field_selectors = selectors
            .iter()
            .filter_map(|(s, t)| match t {
                Target::Rule(r) => Some((s.clone(), *r)),
                Target::Record => None,
            })
            .collect();
        if let Some(records) = &spec.records {
            let sel = Selector::parse(records).map_err(|source| MaskError::Selector {
                field: "records".into(),
                source,
            })?;
            selectors.push((sel, Target::Record));
        }

        let mut automaton = Automaton::compile(&selectors)?;
        automaton.mark_drops(|r| {
            rules
                .get(r as usize)
                .is_some_and(|rule| matches!(rule.operator, Operator::Drop))
        });

        let detectors = match &spec.detect {
            Some(d) if !d.types.is_empty() => {
                if matches!(d.operator, Operator::Null | Operator::Drop) {
                    return Err(MaskError::DetectOperator {
                        operator: d.operator.kind().as_str(),
                    });
                }
                check_keys("unknown_fields", &d.operator, &secrets)?;
                let set = d.types.iter().fold(DetectorSet::empty(), |s, t| s.with(*t));
                Some((Detectors::new(set), d.operator.clone()))
            }
            _ => None,
        };
        let needs_recipient = rules
            .iter()
            .map(|r| &r.operator)
            .chain(detectors.as_ref().map(|(_, op)| op))
            .any(|op| op.scope() == Scope::Identity);
        Ok(Plan {
            needs_recipient,
            rules,
            selectors: field_selectors,
            automaton,
            detectors,
            records_given: spec.records.is_some(),
            limits: spec.limits,
            secrets,
        })
    }

    /// The rule with index `r`, if `r` is not [`NO_RULE`].
    #[inline]
    pub(crate) fn rule(&self, r: u32) -> Option<&Rule> {
        if r == NO_RULE {
            None
        } else {
            self.rules.get(r as usize)
        }
    }

    /// The plan's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether some `hash` or `tokenize` of the plan has scope `identity`, so that its
    /// bodies can only be masked for a known recipient ([`Masker::with_recipient`]).
    ///
    /// [`Masker::with_recipient`]: crate::Masker::with_recipient
    pub fn needs_recipient(&self) -> bool {
        self.needs_recipient
    }

    /// Every operator of the plan: its fields' (in field order), then its detectors'.
    pub fn operators(&self) -> impl Iterator<Item = &Operator> {
        self.rules
            .iter()
            .map(|r| &r.operator)
            .chain(self.detectors.as_ref().map(|(_, op)| op))
    }

    /// The keys of the plan's identity-scoped operators for `recipient` (see
    /// [`Secrets::for_recipient`]): what opens the recipient's tokens.
    pub fn recipient_secrets(&self, recipient: &str) -> Secrets {
        self.secrets.for_recipient(recipient)
    }
}

fn check_keys(field: &str, op: &Operator, secrets: &Secrets) -> Result<(), MaskError> {
    let missing = match op {
        Operator::Hash(_) => !secrets.has_hash_key(),
        Operator::Tokenize(_) => !secrets.has_token_key(),
        _ => false,
    };
    if missing {
        return Err(MaskError::MissingKey {
            field: field.to_owned(),
            operator: op.kind().as_str(),
        });
    }
    Ok(())
}
