//! The check stage's operators: names, settings, and the `generalize` warning.
//!
//! Turns a [`RawOperator`] into an engine [`Operator`], reporting an unknown name with a
//! "did you mean" and settings out of range. The rest of the check stage is in `mod.rs`
//! (levels, fields, roles, unknown fields) and `routes.rs`.

use privgate_mask::operator::{
    DateGranularity, Generalize, Hash, Partial, Redact, Scope, Tokenize,
};
use privgate_mask::{Operator, PiiType};

use super::{Checker, Model, OpAt};
use crate::diag::{error, suggest};
use crate::raw::{RawOperator, RawSettings, OPERATORS};
use crate::source::Pos;
use crate::source::Sp;

impl Checker<'_> {
    /// Converts an operator, checking its name and settings. `field` gives the field it
    /// applies to, for the `generalize` warning.
    pub(super) fn operator(
        &mut self,
        raw: &RawOperator,
        field: Option<(&str, PiiType)>,
    ) -> Option<OpAt> {
        let name = &raw.name;
        let op = match (name.value.as_str(), &raw.settings) {
            ("keep", _) => Operator::Keep,
            ("null", _) => Operator::Null,
            ("drop", _) => Operator::Drop,
            ("redact", s) => {
                let mut r = Redact::default();
                if let RawSettings::Redact(s) = s {
                    if let Some(t) = &s.replacement {
                        r.replacement.clone_from(t);
                    }
                }
                Operator::Redact(r)
            }
            ("partial", s) => {
                let mut p = Partial::default();
                if let RawSettings::Partial(s) = s {
                    p.keep_first = s.keep_first;
                    p.keep_last = s.keep_last;
                    if let Some(m) = &s.mask {
                        let mut chars = m.value.chars();
                        match (chars.next(), chars.next()) {
                            (Some(c), None) => p.mask = c,
                            _ => {
                                let d = error(
                                    "bad-setting",
                                    "`mask` of `partial` must be exactly one character",
                                )
                                .at(self.loc(m.at), "expected one character, e.g. `*` or `#`");
                                self.push(d);
                                return None;
                            }
                        }
                    }
                }
                Operator::Partial(p)
            }
            ("hash", s) => {
                let mut h = Hash::default();
                if let RawSettings::Hash(s) = s {
                    if let Some(p) = &s.prefix {
                        h.prefix.clone_from(p);
                    }
                    if let Some(l) = &s.length {
                        if !(8..=64).contains(&l.value) {
                            let d =
                                error("bad-setting", "`length` of `hash` must be between 8 and 64")
                                    .at(self.loc(l.at), "expected 8 to 64 hex digits");
                            self.push(d);
                            return None;
                        }
                        h.length = l.value;
                    }
                    if let Some(sc) = &s.scope {
                        h.scope = self.scope("hash", sc)?;
                    }
                }
                Operator::Hash(h)
            }
            ("tokenize", s) => {
                let mut t = Tokenize::default();
                if let RawSettings::Tokenize(s) = s {
                    if let Some(p) = &s.prefix {
                        t.prefix.clone_from(p);
                    }
                    if let Some(sc) = &s.scope {
                        t.scope = self.scope("tokenize", sc)?;
                    }
                }
                Operator::Tokenize(t)
            }
            ("generalize", s) => {
                let mut g = Generalize::default();
                if let RawSettings::Generalize(s) = s {
                    if let Some(d) = &s.date {
                        g.date = match d.value.as_str() {
                            "year" => DateGranularity::Year,
                            "year_month" => DateGranularity::YearMonth,
                            other => {
                                let diag = error(
                                    "bad-setting",
                                    format!("unknown `date` granularity `{other}`"),
                                )
                                .at(self.loc(d.at), "expected `year` or `year_month`")
                                .help(suggest(other, ["year", "year_month"]));
                                self.push(diag);
                                return None;
                            }
                        };
                    }
                    if let Some(b) = &s.bucket {
                        if b.value == 0 {
                            let d =
                                error("bad-setting", "`bucket` of `generalize` must be at least 1")
                                    .at(self.loc(b.at), "expected a positive width");
                            self.push(d);
                            return None;
                        }
                        g.bucket = b.value;
                    }
                }
                Operator::Generalize(g)
            }
            (other, _) => {
                let d = error("unknown-operator", format!("unknown operator `{other}`"))
                    .at(
                        self.loc(name.at),
                        format!("expected one of: {}", OPERATORS.join(", ")),
                    )
                    .help(suggest(other, OPERATORS));
                self.push(d);
                return None;
            }
        };
        if let (Operator::Generalize(_), Some((field, pii))) = (&op, field) {
            self.generalize_warning(name.at, field, pii);
        }
        Some(OpAt { op, at: name.at })
    }

    /// The `scope` of `hash` or `tokenize`: `global` or `identity`.
    fn scope(&mut self, operator: &str, scope: &Sp<String>) -> Option<Scope> {
        match scope.value.as_str() {
            "global" => Some(Scope::Global),
            "identity" => Some(Scope::Identity),
            other => {
                let d = error(
                    "bad-setting",
                    format!("unknown `scope` of `{operator}`: `{other}`"),
                )
                .at(self.loc(scope.at), "expected `global` or `identity`")
                .help(suggest(other, ["global", "identity"]));
                self.push(d);
                None
            }
        }
    }

    fn generalize_warning(&mut self, at: Pos, field: &str, pii: PiiType) {
        if !matches!(pii, PiiType::Date | PiiType::Generic) {
            let d = error(
                "suspicious-operator",
                format!("`generalize` on field `{field}` of type `{pii}`"),
            )
            .warning()
            .at(
                self.loc(at),
                "generalize coarsens dates and numbers; other text becomes `***`",
            )
            .help(Some(
                "use `partial`, `redact`, `hash` or `tokenize` for this type".into(),
            ));
            self.push(d);
        }
    }

    /// Warns where a level's `generalize` reaches a field it does not suit.
    pub(super) fn generalize_warnings(&mut self, model: &Model) {
        for role in &model.roles {
            for (level, op) in &role.above {
                if !matches!(op.op, Operator::Generalize(_)) {
                    continue;
                }
                for f in model
                    .fields
                    .iter()
                    .filter(|f| f.level == *level && !role.fields.contains_key(&f.name))
                {
                    self.generalize_warning(op.at, &f.name, f.pii);
                }
            }
        }
    }
}
