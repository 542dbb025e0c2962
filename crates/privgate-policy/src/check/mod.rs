//! The check stage: every cross-reference and value of a merged policy set, all at once.
//!
//! Takes the `Raw*` files (`raw.rs`) and produces the validated [`Model`] plus every
//! problem found, each located with a "did you mean" where a known name is close. It
//! does not stop at the first problem, and it does not build masking plans: `compile.rs`
//! turns the model into plans once it is free of errors. Operators are checked in
//! `operator.rs`, routes and approvals in `routes.rs`.

mod operator;
mod routes;

use std::collections::BTreeMap;

use privgate_mask::{Operator, PiiType, Selector};

use crate::diag::{error, suggest, Collector, Diagnostic, Location};
use crate::raw::RawPolicyFile;
use crate::route::{ParseProblem, Route};
use crate::source::{Pos, Sources, Sp};

/// An operator with the place it was written.
#[derive(Debug, Clone)]
pub(crate) struct OpAt {
    pub(crate) op: Operator,
    pub(crate) at: Pos,
}

/// A validated field of the catalogue.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) selectors: Vec<String>,
    pub(crate) pii: PiiType,
    pub(crate) level: usize,
}

/// A validated role.
#[derive(Debug, Clone)]
pub(crate) struct Role {
    pub(crate) name: String,
    pub(crate) clearance: usize,
    /// Operator per level index above the clearance.
    pub(crate) above: BTreeMap<usize, OpAt>,
    /// Operator per field name.
    pub(crate) fields: BTreeMap<String, OpAt>,
    pub(crate) approves: Vec<String>,
}

/// A policy set free of errors.
#[derive(Debug, Clone, Default)]
pub(crate) struct Model {
    pub(crate) levels: Vec<String>,
    pub(crate) fields: Vec<Field>,
    pub(crate) roles: Vec<Role>,
    pub(crate) routes: Vec<Route>,
    pub(crate) unknown: Option<(Vec<PiiType>, OpAt)>,
}

struct Checker<'a> {
    sources: &'a Sources,
    out: &'a mut Collector,
}

/// Checks the merged files, pushing every problem to `out`.
pub(crate) fn check(files: &[RawPolicyFile], sources: &Sources, out: &mut Collector) -> Model {
    let mut c = Checker { sources, out };
    let mut model = Model::default();
    let has_levels = c.levels(files, &mut model);
    c.fields(files, &mut model, has_levels);
    c.roles(files, &mut model, has_levels);
    let mut names: BTreeMap<String, Pos> = BTreeMap::new();
    for file in files {
        for raw in file.routes.iter().flatten() {
            if c.first_definition(&mut names, "route", &raw.name) {
                if let Some(r) = c.route(raw, &model) {
                    model.routes.push(r);
                }
            }
        }
    }
    c.approvals(files, &model);
    c.unknown_fields(files, &mut model);
    c.generalize_warnings(&model);
    model
}

impl Checker<'_> {
    fn loc(&self, at: Pos) -> Option<Location> {
        Collector::locate(self.sources, at)
    }

    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    /// Records a name's first definition; reports a second one pointing at both.
    fn first_definition(
        &mut self,
        seen: &mut BTreeMap<String, Pos>,
        what: &str,
        name: &Sp<String>,
    ) -> bool {
        if let Some(first) = seen.get(&name.value) {
            let first = self.loc(*first);
            let d = error(
                "duplicate-name",
                format!("{what} `{}` is defined twice", name.value),
            )
            .at(self.loc(name.at), "defined again here")
            .related(
                format!("{what} `{}` is first defined here", name.value),
                first,
            )
            .help(Some(format!(
                "names are shared by every file of the set: rename or remove one `{}`",
                name.value
            )));
            self.push(d);
            false
        } else {
            seen.insert(name.value.clone(), name.at);
            true
        }
    }

    fn levels(&mut self, files: &[RawPolicyFile], model: &mut Model) -> bool {
        let mut definer: Option<Pos> = None;
        for file in files {
            let Some(levels) = &file.levels else { continue };
            if let Some(first) = definer {
                let d = error(
                    "duplicate-name",
                    "`levels` is defined in more than one place",
                )
                .at(self.loc(levels.at), "defined again here")
                .related("`levels` is first defined here", self.loc(first))
                .help(Some(
                    "exactly one file of the set defines the levels".into(),
                ));
                self.push(d);
                continue;
            }
            definer = Some(levels.at);
            if levels.value.is_empty() {
                let d = error("empty-levels", "`levels` is empty")
                    .at(self.loc(levels.at), "expected at least one level")
                    .help(Some(
                        "list the levels lowest to highest, e.g. `[L1, L2, L3, L4]`".into(),
                    ));
                self.push(d);
            }
            for l in &levels.value {
                if l.value.is_empty() {
                    let d =
                        error("bad-name", "a level name is empty").at(self.loc(l.at), "empty name");
                    self.push(d);
                } else if model.levels.contains(&l.value) {
                    let d = error(
                        "duplicate-name",
                        format!("level `{}` is listed twice", l.value),
                    )
                    .at(self.loc(l.at), "listed again here");
                    self.push(d);
                } else {
                    model.levels.push(l.value.clone());
                }
            }
        }
        if definer.is_none() {
            let d = error(
                "missing-levels",
                "no file of the policy set defines `levels`",
            )
            .help(Some(
                "add `levels: [L1, L2, L3, L4]` (lowest to highest) to exactly one file".into(),
            ));
            self.push(d);
        }
        definer.is_some()
    }

    fn level(
        &mut self,
        name: &Sp<String>,
        model: &Model,
        has_levels: bool,
        what: &str,
    ) -> Option<usize> {
        if let Some(i) = model.levels.iter().position(|l| *l == name.value) {
            return Some(i);
        }
        if has_levels {
            let d = error(
                "unknown-level",
                format!("unknown level `{}` in {what}", name.value),
            )
            .at(
                self.loc(name.at),
                format!("expected one of: {}", model.levels.join(", ")),
            )
            .help(suggest(
                &name.value,
                model.levels.iter().map(String::as_str),
            ));
            self.push(d);
        }
        None
    }

    fn fields(&mut self, files: &[RawPolicyFile], model: &mut Model, has_levels: bool) {
        let mut seen = BTreeMap::new();
        for file in files {
            for (name, raw) in file.fields.iter().flat_map(|m| m.0.iter()) {
                if !self.first_definition(&mut seen, "field", name) {
                    continue;
                }
                let pii = match raw.pii.value.parse::<PiiType>() {
                    Ok(t) => Some(t),
                    Err(_) => {
                        let d = error(
                            "unknown-type",
                            format!(
                                "unknown type `{}` for field `{}`",
                                raw.pii.value, name.value
                            ),
                        )
                        .at(self.loc(raw.pii.at), "not a PII type")
                        .help(Some(pii_help(&raw.pii.value, PiiType::ALL.iter().copied())));
                        self.push(d);
                        None
                    }
                };
                let level = self.level(
                    &raw.level,
                    model,
                    has_levels,
                    &format!("field `{}`", name.value),
                );
                if raw.paths.is_empty() {
                    let d = error(
                        "empty-paths",
                        format!("field `{}` has no paths", name.value),
                    )
                    .at(
                        self.loc(name.at),
                        "expected at least one selector in `paths`",
                    );
                    self.push(d);
                }
                let mut ok = true;
                for p in &raw.paths {
                    ok &= self.selector(p, &format!("path of field `{}`", name.value));
                }
                if let (Some(pii), Some(level), true) = (pii, level, ok) {
                    model.fields.push(Field {
                        name: name.value.clone(),
                        selectors: raw.paths.iter().map(|p| p.value.clone()).collect(),
                        pii,
                        level,
                    });
                }
            }
        }
    }

    /// Checks a selector, pointing at the exact character where it goes wrong.
    fn selector(&mut self, sel: &Sp<String>, what: &str) -> bool {
        let Err(e) = Selector::parse(&sel.value) else {
            return true;
        };
        let at = self.inside(sel.at, e.offset);
        let d = error(
            "bad-selector",
            format!("the {what} is not a valid selector"),
        )
        .at(at, format!("expected {}", e.expected))
        .help(Some(
            "selectors look like `$..phone`, `$.data[*].mobile` or `$..['id card']`".into(),
        ));
        self.push(d);
        false
    }

    /// The location `offset` bytes into the scalar at `at` (after its opening quote).
    fn inside(&self, at: Pos, offset: usize) -> Option<Location> {
        let file = self.sources.get(at.file)?;
        let start = file.offset(at.line, at.col);
        let quoted = matches!(file.text.as_bytes().get(start), Some(b'"' | b'\''));
        let o = start + usize::from(quoted) + offset;
        let len = file
            .text
            .get(o..)
            .and_then(|s| s.chars().next())
            .map_or(1, char::len_utf8);
        Collector::locate_range(self.sources, at.file, o, len)
    }

    fn problem(&mut self, kind: &'static str, what: String, sp: &Sp<String>, p: ParseProblem) {
        let d = error(kind, what).at(
            self.inside(sp.at, p.offset),
            format!("expected {}", p.expected),
        );
        self.push(d);
    }

    fn roles(&mut self, files: &[RawPolicyFile], model: &mut Model, has_levels: bool) {
        let mut seen = BTreeMap::new();
        for file in files {
            for (name, raw) in file.roles.iter().flat_map(|m| m.0.iter()) {
                if !self.first_definition(&mut seen, "role", name) {
                    continue;
                }
                let what = format!("the clearance of role `{}`", name.value);
                let clearance = self.level(&raw.clearance, model, has_levels, &what);
                let mut above = BTreeMap::new();
                for (level, op) in &raw.above.0 {
                    let what = format!("`above` of role `{}`", name.value);
                    let l = self.level(level, model, has_levels, &what);
                    if let (Some(l), Some(c)) = (l, clearance) {
                        if l <= c {
                            let d = error(
                                "not-above-clearance",
                                format!(
                                    "level `{}` is not above the clearance `{}` of role `{}`",
                                    level.value, raw.clearance.value, name.value
                                ),
                            )
                            .at(
                                self.loc(level.at),
                                "fields at or below the clearance are kept",
                            )
                            .help(Some(format!(
                                "list only levels above `{}` here, or lower the clearance",
                                raw.clearance.value
                            )));
                            self.push(d);
                        }
                    }
                    if let (Some(op), Some(l)) = (self.operator(op, None), l) {
                        above.insert(l, op);
                    }
                }
                let mut fields = BTreeMap::new();
                for (field, op) in &raw.fields.0 {
                    let known = model.fields.iter().find(|f| f.name == field.value);
                    if known.is_none() && !defined_field(files, &field.value) {
                        let d = error(
                            "unknown-field",
                            format!(
                                "role `{}` overrides unknown field `{}`",
                                name.value, field.value
                            ),
                        )
                        .at(self.loc(field.at), "not a field of the catalogue")
                        .help(suggest(&field.value, all_fields(files)));
                        self.push(d);
                    }
                    if let Some(op) = self.operator(op, known.map(|f| (f.name.as_str(), f.pii))) {
                        fields.insert(field.value.clone(), op);
                    }
                }
                if let Some(clearance) = clearance {
                    model.roles.push(Role {
                        name: name.value.clone(),
                        clearance,
                        above,
                        fields,
                        approves: raw.approves.iter().map(|a| a.value.clone()).collect(),
                    });
                }
            }
        }
    }

    fn unknown_fields(&mut self, files: &[RawPolicyFile], model: &mut Model) {
        let mut definer: Option<Pos> = None;
        for file in files {
            let Some(u) = &file.unknown_fields else {
                continue;
            };
            if let Some(first) = definer {
                let d = error(
                    "duplicate-name",
                    "`unknown_fields` is defined in more than one place",
                )
                .at(self.loc(u.at), "defined again here")
                .related("`unknown_fields` is first defined here", self.loc(first));
                self.push(d);
                continue;
            }
            definer = Some(u.at);
            let mut types = Vec::new();
            for t in &u.value.detect {
                match t.value.parse::<PiiType>() {
                    Ok(p) if p.is_detectable() => types.push(p),
                    parsed => {
                        let msg = if parsed.is_ok() {
                            format!("type `{}` has no detector", t.value)
                        } else {
                            format!("unknown type `{}` in `unknown_fields.detect`", t.value)
                        };
                        let d = error("not-detectable", msg)
                            .at(self.loc(t.at), "expected a detectable type")
                            .help(Some(pii_help(
                                &t.value,
                                PiiType::ALL.iter().copied().filter(|p| p.is_detectable()),
                            )));
                        self.push(d);
                    }
                }
            }
            let Some(action) = self.operator(&u.value.action, None) else {
                continue;
            };
            if matches!(action.op, Operator::Null | Operator::Drop) {
                let d = error(
                    "bad-operator",
                    format!(
                        "`unknown_fields` cannot use `{}`",
                        action.op.kind().as_str()
                    ),
                )
                .at(
                    self.loc(action.at),
                    "a finding is part of a string: it can be masked, not removed",
                )
                .help(Some(
                    "use `partial`, `redact`, `hash`, `tokenize` or `keep`".into(),
                ));
                self.push(d);
                continue;
            }
            model.unknown = Some((types, action));
        }
    }
}

fn pii_help(word: &str, types: impl Iterator<Item = PiiType> + Clone) -> String {
    let names: Vec<&str> = types.clone().map(PiiType::as_str).collect();
    match suggest(word, names.iter().copied()) {
        Some(s) => s,
        None => format!("expected one of: {}", names.join(", ")),
    }
}

fn defined_field(files: &[RawPolicyFile], name: &str) -> bool {
    all_fields(files).any(|f| f == name)
}

fn all_fields(files: &[RawPolicyFile]) -> impl Iterator<Item = &str> + '_ {
    files
        .iter()
        .flat_map(|f| f.fields.iter().flat_map(|m| m.0.iter()))
        .map(|(n, _)| n.value.as_str())
}
