//! What happens to one scalar value, whatever the format around it.
//!
//! The JSON and CSV rewriters find values and decide whether they are held; this module
//! turns a held value into its masked text: through the field rule that covers it, or
//! through the detectors when no rule does. Encoding the text back (JSON string, CSV
//! field) is the format's job.
//!
//! How operators treat kinds of values:
//! - strings and numbers: the operator works on the text (a number's spelling as
//!   written); the result is always a string (`13812345678` → `"138****5678"`);
//! - booleans: `partial` and `generalize` redact (there is no part to keep), `hash` and
//!   `tokenize` work on `true` / `false`;
//! - `null` stays `null` (there is nothing to hide) unless the rule is `drop`;
//! - `null` (the operator) gives JSON `null` / an empty CSV field;
//! - an empty string stays empty under every operator but `null` and `drop`.

use crate::detect::Detection;
use crate::operator::{mask_text, Keys, Operator, Redact, Secrets};
use crate::plan::{Plan, Rule};
use crate::stats::Stats;

/// What kind of scalar a held value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    Str,
    Num,
    Bool,
}

/// The outcome for one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rendered {
    /// Write the value as it was.
    Unchanged,
    /// Write null (an empty CSV field).
    Null,
    /// Write the text left in the caller's buffer.
    Text,
}

/// Applies a field rule to a value, leaving any new text in `text`.
pub(crate) fn mask(
    plan: &Plan,
    recipient: Option<&Secrets>,
    rule: &Rule,
    kind: Scalar,
    value: &str,
    text: &mut String,
) -> Rendered {
    let op = match (&rule.operator, kind) {
        (Operator::Keep, _) => return Rendered::Unchanged,
        (Operator::Null | Operator::Drop, _) => return Rendered::Null,
        // An empty value holds nothing to hide; a pseudonym of it would link unrelated
        // records and a redaction would invent content.
        (_, Scalar::Str) if value.is_empty() => return Rendered::Unchanged,
        (Operator::Partial(_) | Operator::Generalize(_), Scalar::Bool) => {
            &Operator::Redact(Redact::default())
        }
        (op, _) => op,
    };
    text.clear();
    mask_text(op, rule.pii, value, keys(plan, recipient), text);
    Rendered::Text
}

/// Runs the detectors over a value no rule covers, leaving any new text in `text`.
pub(crate) fn detect(
    plan: &Plan,
    recipient: Option<&Secrets>,
    value: &str,
    stats: &mut Stats,
    text: &mut String,
    detections: &mut Vec<Detection>,
) -> Rendered {
    let Some((detectors, op)) = &plan.detectors else {
        return Rendered::Unchanged;
    };
    // `find` runs the detectors' prefilter itself.
    detections.clear();
    detectors.find(value, detections);
    for d in detections.iter() {
        stats.count_detected(d.kind);
        stats.count_masked(d.kind, op.kind());
    }
    if detections.is_empty() || matches!(op, Operator::Keep) {
        return Rendered::Unchanged;
    }
    text.clear();
    let mut last = 0;
    for d in detections.iter() {
        text.push_str(value.get(last..d.range.start).unwrap_or_default());
        let found = value.get(d.range.clone()).unwrap_or_default();
        mask_text(op, d.kind, found, keys(plan, recipient), text);
        last = d.range.end;
    }
    text.push_str(value.get(last..).unwrap_or_default());
    Rendered::Text
}

fn keys<'a>(plan: &'a Plan, recipient: Option<&'a Secrets>) -> Keys<'a> {
    Keys {
        global: &plan.secrets,
        recipient,
    }
}
