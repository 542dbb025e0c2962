//! The check stage: every cross-reference and value of a merged policy set, all at once.
//!
//! Takes the `Raw*` files (`raw.rs`) and produces the validated [`Model`] plus every
//! problem found, each located with a "did you mean" where a known name is close. It
//! does not stop at the first problem, and it does not build masking plans: `compile.rs`
//! turns the model into plans once it is free of errors.

use std::collections::BTreeMap;

use privgate_mask::operator::{DateGranularity, Generalize, Hash, Partial, Redact, Tokenize};
use privgate_mask::{Format, Operator, PiiType, Selector};

use crate::diag::{error, suggest, Collector, Diagnostic, Location};
use crate::raw::{RawOperator, RawPolicyFile, RawRoute, RawSettings, OPERATORS};
use crate::route::{self, Export, ParseProblem, PathTemplate, Route, StepUp, METHODS};
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
    c.generalize_warnings(files, &model);
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

    /// Converts an operator, checking its name and settings. `field` gives the field it
    /// applies to, for the `generalize` warning.
    fn operator(&mut self, raw: &RawOperator, field: Option<(&str, PiiType)>) -> Option<OpAt> {
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
                }
                Operator::Hash(h)
            }
            ("tokenize", s) => {
                let mut t = Tokenize::default();
                if let RawSettings::Tokenize(s) = s {
                    if let Some(p) = &s.prefix {
                        t.prefix.clone_from(p);
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
    fn generalize_warnings(&mut self, _files: &[RawPolicyFile], model: &Model) {
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

    fn route(&mut self, raw: &RawRoute, model: &Model) -> Option<Route> {
        let start = self.out.items.len();
        let name = &raw.name.value;
        let m = &raw.matcher.value;
        if m.methods.is_empty() {
            let d = error("empty-methods", format!("route `{name}` matches no method")).at(
                self.loc(raw.matcher.at),
                "expected at least one method in `methods`",
            );
            self.push(d);
        }
        for method in &m.methods {
            if !METHODS.contains(&method.value.as_str()) {
                let d = error(
                    "unknown-method",
                    format!("unknown HTTP method `{}` in route `{name}`", method.value),
                )
                .at(
                    self.loc(method.at),
                    format!("expected one of: {}", METHODS.join(", ")),
                )
                .help(suggest(&method.value, METHODS));
                self.push(d);
            }
        }
        let path = PathTemplate::parse(&m.path.value)
            .map_err(|p| {
                self.problem(
                    "bad-path",
                    format!("the path template of route `{name}` is not valid"),
                    &m.path,
                    p,
                )
            })
            .ok();
        if raw.allow.is_empty() {
            let d = error("empty-allow", format!("route `{name}` allows no role"))
                .warning()
                .at(self.loc(raw.name.at), "every request to it will be denied");
            self.push(d);
        }
        for role in &raw.allow {
            if !model.roles.iter().any(|r| r.name == role.value) {
                let d = error(
                    "unknown-role",
                    format!("route `{name}` allows unknown role `{}`", role.value),
                )
                .at(self.loc(role.at), "not a role of the policy set")
                .help(suggest(
                    &role.value,
                    model.roles.iter().map(|r| r.name.as_str()),
                ));
                self.push(d);
            }
        }
        if let Some(records) = &raw.records {
            self.selector(records, &format!("`records` of route `{name}`"));
        }
        let mut formats = Vec::new();
        for f in raw.formats.iter().flatten() {
            match f.value.as_str() {
                "json" => formats.push(Format::Json),
                "ndjson" => formats.push(Format::Ndjson),
                "csv" => formats.push(Format::Csv),
                other => {
                    let d = error(
                        "unknown-format",
                        format!("unknown format `{other}` in route `{name}`"),
                    )
                    .at(self.loc(f.at), "expected `json`, `ndjson` or `csv`")
                    .help(suggest(other, ["json", "ndjson", "csv"]));
                    self.push(d);
                }
            }
        }
        if raw.formats.is_none() {
            formats = vec![Format::Json, Format::Ndjson, Format::Csv];
        }
        let export = raw.export.as_ref().map(|e| {
            let approval_required = match e.approval.as_ref().map(|a| (a, a.value.as_str())) {
                None | Some((_, "required")) => true,
                Some((_, "not_required")) => false,
                Some((a, other)) => {
                    let d = error(
                        "bad-setting",
                        format!("unknown `approval` value `{other}` in route `{name}`"),
                    )
                    .at(self.loc(a.at), "expected `required` or `not_required`")
                    .help(suggest(other, ["required", "not_required"]));
                    self.push(d);
                    true
                }
            };
            let quota = e.quota.as_ref().and_then(|q| {
                route::parse_quota(&q.value)
                    .map_err(|p| {
                        self.problem(
                            "bad-quota",
                            format!("the export quota of route `{name}` is not valid"),
                            q,
                            p,
                        )
                    })
                    .ok()
            });
            Export {
                approval_required,
                max_records: e.max_records,
                quota,
            }
        });
        let step_up = raw.step_up.as_ref().and_then(|s| {
            route::parse_duration(&s.value.max_age.value)
                .map_err(|p| {
                    self.problem(
                        "bad-duration",
                        format!("`max_age` of route `{name}` is not a duration"),
                        &s.value.max_age,
                        p,
                    )
                })
                .ok()
                .map(|max_age| StepUp {
                    max_age,
                    acr: s.value.acr.clone(),
                })
        });
        if self
            .out
            .items
            .iter()
            .skip(start)
            .any(|d| d.severity == crate::Severity::Error)
        {
            return None;
        }
        Some(Route {
            name: name.clone(),
            methods: m.methods.iter().map(|m| m.value.clone()).collect(),
            path: path?,
            query: m
                .query
                .0
                .iter()
                .map(|(k, v)| (k.value.clone(), v.clone()))
                .collect(),
            allow: raw.allow.iter().map(|a| a.value.clone()).collect(),
            records: raw.records.as_ref().map(|r| r.value.clone()),
            formats,
            export,
            step_up,
        })
    }

    fn approvals(&mut self, files: &[RawPolicyFile], model: &Model) {
        let routes: Vec<&RawRoute> = files
            .iter()
            .flat_map(|f| f.routes.iter().flatten())
            .collect();
        let exports = || {
            routes
                .iter()
                .filter(|r| r.export.is_some())
                .map(|r| r.name.value.as_str())
        };
        for (role, raw) in files
            .iter()
            .flat_map(|f| f.roles.iter().flat_map(|m| m.0.iter()))
        {
            for a in &raw.approves {
                let target = routes.iter().find(|r| r.name.value == a.value);
                let d = match target {
                    None => error(
                        "unknown-route",
                        format!("role `{}` approves unknown route `{}`", role.value, a.value),
                    )
                    .at(self.loc(a.at), "not a route of the policy set")
                    .help(suggest(&a.value, exports())),
                    Some(r) if r.export.is_none() => error(
                        "not-an-export",
                        format!(
                            "role `{}` approves route `{}`, which is not an export route",
                            role.value, a.value
                        ),
                    )
                    .at(
                        self.loc(a.at),
                        "expected the name of a route with an `export:` section",
                    )
                    .related(
                        format!("route `{}` is defined here", a.value),
                        self.loc(r.name.at),
                    ),
                    Some(_) => {
                        let not_required = model.routes.iter().any(|r| {
                            r.name == a.value
                                && r.export.as_ref().is_some_and(|e| !e.approval_required)
                        });
                        if !not_required {
                            continue;
                        }
                        error(
                            "not-an-export",
                            format!(
                                "role `{}` approves route `{}`, whose exports need no approval",
                                role.value, a.value
                            ),
                        )
                        .warning()
                        .at(self.loc(a.at), "approval is `not_required` on this route")
                    }
                };
                self.push(d);
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
