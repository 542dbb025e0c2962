//! A non-streaming reference masker over `serde_json` values (feature `reference`).
//!
//! It parses the whole body, walks the tree matching every selector naively against the
//! full path of every node, and applies the same operators and detectors. It is what
//! gateway plugins do today, so it is the benches' baseline; and because it shares no
//! lexing or matching code with the streaming engine, it is the oracle of the
//! differential fuzz target and property tests. Not for production: it buffers
//! everything and re-serialises (changing whitespace and number spelling).

use serde_json::Value;

use crate::operator::Operator;
use crate::plan::Plan;
use crate::selector::{Step, Test};
use crate::stats::Stats;
use crate::value::{self, Rendered, Scalar};

/// One step of a node's path.
enum Label {
    Key(String),
    Element,
}

/// Masks a parsed document in place and returns what was done.
pub fn mask_value(plan: &Plan, value: &mut Value) -> Stats {
    let mut walk = Walk {
        plan,
        path: Vec::new(),
        stats: Stats::default(),
        text: String::new(),
    };
    if walk.visit(value, None) {
        // `drop` on the root leaves nothing to drop from: the document becomes null.
        *value = Value::Null;
    }
    walk.stats
}

/// Parses, masks and re-serialises one JSON document.
pub fn mask_json(plan: &Plan, input: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let mut value: Value = serde_json::from_slice(input)?;
    mask_value(plan, &mut value);
    serde_json::to_vec(&value)
}

/// Parses, masks and re-serialises NDJSON, line by line.
pub fn mask_ndjson(plan: &Plan, input: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(input.len());
    for line in input.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut value: Value = serde_json::from_slice(line)?;
        mask_value(plan, &mut value);
        serde_json::to_writer(&mut out, &value)?;
        out.push(b'\n');
    }
    Ok(out)
}

struct Walk<'p> {
    plan: &'p Plan,
    path: Vec<Label>,
    stats: Stats,
    text: String,
}

impl Walk<'_> {
    /// The first rule whose selector matches the current path.
    fn own_rule(&self) -> Option<u32> {
        self.plan
            .selectors
            .iter()
            .filter(|(sel, _)| matches(&sel.steps, &self.path))
            .map(|(_, r)| *r)
            .min()
    }

    /// Masks `v`; returns true if it must be removed.
    fn visit(&mut self, v: &mut Value, inherited: Option<u32>) -> bool {
        let own = self.own_rule();
        if let Some(rule) = own.and_then(|r| self.plan.rules.get(r as usize)) {
            match rule.operator {
                Operator::Drop => {
                    self.stats.count_masked(rule.pii, rule.operator.kind());
                    return true;
                }
                Operator::Null if !v.is_null() && (v.is_object() || v.is_array()) => {
                    self.stats.count_masked(rule.pii, rule.operator.kind());
                    *v = Value::Null;
                    return false;
                }
                _ => {}
            }
        }
        let effective = own.or(inherited);
        match v {
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    self.path.push(Label::Key(k.clone()));
                    let remove = map
                        .get_mut(&k)
                        .is_some_and(|child| self.visit(child, effective));
                    self.path.pop();
                    if remove {
                        map.shift_remove(&k);
                    }
                }
            }
            Value::Array(items) => {
                items.retain_mut(|child| {
                    self.path.push(Label::Element);
                    let remove = self.visit(child, effective);
                    self.path.pop();
                    !remove
                });
            }
            Value::String(s) => {
                let s = s.clone();
                self.scalar(v, &s, Scalar::Str, effective);
            }
            Value::Number(n) => {
                let s = n.to_string();
                self.scalar(v, &s, Scalar::Num, effective);
            }
            Value::Bool(b) => {
                let s = if *b { "true" } else { "false" };
                self.scalar(v, s, Scalar::Bool, effective);
            }
            Value::Null => {}
        }
        false
    }

    fn scalar(&mut self, v: &mut Value, text: &str, kind: Scalar, rule: Option<u32>) {
        let rendered = match rule.and_then(|r| self.plan.rules.get(r as usize)) {
            Some(rule) => {
                self.stats.count_masked(rule.pii, rule.operator.kind());
                value::mask(self.plan, None, rule, kind, text, &mut self.text)
            }
            None if kind != Scalar::Bool => {
                let mut detections = Vec::new();
                value::detect(
                    self.plan,
                    None,
                    text,
                    &mut self.stats,
                    &mut self.text,
                    &mut detections,
                )
            }
            None => Rendered::Unchanged,
        };
        match rendered {
            Rendered::Unchanged => {}
            Rendered::Null => *v = Value::Null,
            Rendered::Text => *v = Value::String(std::mem::take(&mut self.text)),
        }
    }
}

/// Whether `steps` match exactly `path`, tried naively (exponential in the number of
/// `..` steps, which is fine for an oracle).
fn matches(steps: &[Step], path: &[Label]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return path.is_empty();
    };
    let test = |label: &Label| match (&step.test, label) {
        (Test::Any, _) => true,
        (Test::Name(n), Label::Key(k)) => **n == **k,
        (Test::Name(_), Label::Element) => false,
    };
    if step.descendant {
        (0..path.len()).any(|k| {
            path.get(k).is_some_and(test) && matches(rest, path.get(k + 1..).unwrap_or_default())
        })
    } else {
        path.split_first()
            .is_some_and(|(label, tail)| test(label) && matches(rest, tail))
    }
}
