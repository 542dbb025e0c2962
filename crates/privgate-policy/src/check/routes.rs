//! The check stage's routes: matching, roles, formats, export controls, step-up, rate
//! limits, and the `approves` lists of roles that name them.
//!
//! Produces validated [`Route`]s; parsing of templates, durations, quotas and rates is in
//! `crate::route`. The rest of the check stage is in `mod.rs` and `operator.rs`.

use privgate_mask::Format;

use super::{Checker, Model};
use crate::diag::{error, suggest};
use std::sync::Arc;

use crate::raw::{RawAccept, RawInspect, RawPolicyFile, RawRateLimit, RawRoute};
use crate::route::{
    self, Accept, AcceptNode, Export, Extra, Inspect, InspectMode, Mode, OtherContent, Oversize,
    PathTemplate, Rate, RateLimits, Route, StepUp, METHODS,
};
use crate::source::Sp;

impl Checker<'_> {
    pub(super) fn route(&mut self, raw: &RawRoute, model: &Model) -> Option<Route> {
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
                mode: self.mode(e.mode.as_ref(), "export", name),
            }
        });
        let step_up = raw.step_up.as_ref().and_then(|s| {
            let max_age = route::parse_duration(&s.value.max_age.value)
                .map_err(|p| {
                    self.problem(
                        "bad-duration",
                        format!("`max_age` of route `{name}` is not a duration"),
                        &s.value.max_age,
                        p,
                    )
                })
                .ok();
            let mode = self.mode(s.value.mode.as_ref(), "step_up", name);
            max_age.map(|max_age| StepUp {
                max_age,
                acr: s.value.acr.clone(),
                mode,
            })
        });
        let rate_limit = raw.rate_limit.as_ref().map(|r| self.rate_limits(r, name));
        let other_content = self.choice(
            raw.other_content.as_ref(),
            "other_content",
            "route",
            name,
            &[
                ("block", OtherContent::Block),
                ("pass", OtherContent::Pass),
                ("detect", OtherContent::Detect),
            ],
            OtherContent::Block,
        );
        let inspect = raw
            .inspect
            .as_ref()
            .map_or_else(Inspect::default, |i| self.inspect(&i.value, name));
        let accept = raw
            .accept
            .as_ref()
            .map(|a| Arc::new(self.accept(&a.value, name)));
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
            rate_limit,
            other_content,
            inspect,
            accept,
        })
    }

    /// One of a fixed set of words, reported with a did-you-mean when it is not.
    fn choice<T: Copy>(
        &mut self,
        value: Option<&Sp<String>>,
        key: &str,
        section: &str,
        route: &str,
        choices: &[(&'static str, T)],
        default: T,
    ) -> T {
        let Some(v) = value else { return default };
        if let Some((_, t)) = choices.iter().find(|(w, _)| *w == v.value) {
            return *t;
        }
        let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
        let expected = match words.as_slice() {
            [a, b] => format!("expected `{a}` or `{b}`"),
            _ => format!("expected one of: {}", words.join(", ")),
        };
        let d = error(
            "bad-setting",
            format!(
                "unknown `{key}` value `{}` in the `{section}` of route `{route}`",
                v.value
            ),
        )
        .at(self.loc(v.at), expected)
        .help(suggest(&v.value, words.iter().copied()));
        self.push(d);
        default
    }

    /// A route's `inspect`: mode, threshold (at least 1) and oversize policy.
    fn inspect(&mut self, raw: &RawInspect, route: &str) -> Inspect {
        let d = Inspect::default();
        let mode = self.choice(
            raw.mode.as_ref(),
            "mode",
            "inspect",
            route,
            &[
                ("block", InspectMode::Block),
                ("detect", InspectMode::Detect),
                ("off", InspectMode::Off),
            ],
            d.mode,
        );
        let oversize = self.choice(
            raw.oversize.as_ref(),
            "oversize",
            "inspect",
            route,
            &[("block", Oversize::Block), ("pass", Oversize::Pass)],
            d.oversize,
        );
        let threshold = match &raw.threshold {
            None => d.threshold,
            Some(t) if t.value == 0 => {
                let e = error(
                    "bad-setting",
                    format!("the inspection `threshold` of route `{route}` is 0"),
                )
                .at(
                    self.loc(t.at),
                    "expected a score of at least 1 (the default is 5)",
                );
                self.push(e);
                d.threshold
            }
            Some(t) => t.value,
        };
        Inspect {
            mode,
            threshold,
            oversize,
        }
    }

    /// A route's `accept`: each path parsed, duplicates warned about.
    fn accept(&mut self, raw: &RawAccept, route: &str) -> Accept {
        let extra = self.choice(
            raw.extra.as_ref(),
            "extra",
            "accept",
            route,
            &[("strip", Extra::Strip), ("reject", Extra::Reject)],
            Extra::Strip,
        );
        let mut tree = AcceptNode::default();
        let mut seen: Vec<&str> = Vec::new();
        for f in &raw.fields {
            match route::parse_accept_path(&f.value) {
                Ok(steps) => tree.insert(&steps),
                Err(p) => {
                    let d = error(
                        "bad-accept-path",
                        format!("an accepted field of route `{route}` is not a valid path"),
                    )
                    .at(self.inside(f.at, p.offset), format!("expected {}", p.expected))
                    .help(Some(
                        "accepted paths look like `$.doctorId`, `$.patient.name`, `$.items[*].code` or `$['first name']`".into(),
                    ));
                    self.push(d);
                }
            }
            if seen.contains(&f.value.as_str()) {
                let d = error(
                    "duplicate-accept-path",
                    format!("route `{route}` accepts `{}` twice", f.value),
                )
                .warning()
                .at(self.loc(f.at), "listed before");
                self.push(d);
            }
            seen.push(&f.value);
        }
        Accept {
            fields: raw.fields.iter().map(|f| f.value.clone()).collect(),
            tree,
            extra,
        }
    }

    /// The `mode` of a route's `export`, `step_up` or `rate_limit`: `enforce` when absent.
    fn mode(&mut self, mode: Option<&Sp<String>>, section: &str, route: &str) -> Mode {
        match mode.map(|m| (m, m.value.as_str())) {
            None | Some((_, "enforce")) => Mode::Enforce,
            Some((_, "shadow")) => Mode::Shadow,
            Some((m, other)) => {
                let d = error(
                    "bad-setting",
                    format!("unknown `mode` value `{other}` in the `{section}` of route `{route}`"),
                )
                .at(self.loc(m.at), "expected `enforce` or `shadow`")
                .help(suggest(other, ["enforce", "shadow"]));
                self.push(d);
                Mode::Enforce
            }
        }
    }

    /// A route's `rate_limit`: each rate parsed, at least one of them given.
    fn rate_limits(&mut self, raw: &Sp<RawRateLimit>, route: &str) -> RateLimits {
        let r = &raw.value;
        let mut rate = |key: &str, text: &Option<Sp<String>>| -> Option<Rate> {
            let text = text.as_ref()?;
            route::parse_rate(&text.value)
                .map_err(|p| {
                    self.problem(
                        "bad-rate",
                        format!("`{key}` of route `{route}` is not a rate"),
                        text,
                        p,
                    )
                })
                .ok()
        };
        let limits = RateLimits {
            per_identity: rate("per_identity", &r.per_identity),
            per_role: rate("per_role", &r.per_role),
            per_route: rate("per_route", &r.per_route),
            mode: Mode::Enforce,
        };
        if r.per_identity.is_none() && r.per_role.is_none() && r.per_route.is_none() {
            let d = error(
                "empty-rate-limit",
                format!("the `rate_limit` of route `{route}` sets no rate"),
            )
            .at(
                self.loc(raw.at),
                "expected at least one of `per_identity`, `per_role` or `per_route`",
            );
            self.push(d);
        }
        RateLimits {
            mode: self.mode(r.mode.as_ref(), "rate_limit", route),
            ..limits
        }
    }

    pub(super) fn approvals(&mut self, files: &[RawPolicyFile], model: &Model) {
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
}
