//! The compiled policy: masking plans per (role, route), route tables, explanations.
//!
//! [`Policy`] is what the gateway holds: for each route and each role it allows, an
//! engine [`Plan`] built once at load, plus the routes to match requests against, the
//! static decision for a caller, and a content hash of the files it came from. Loading
//! runs the parse stage (`load.rs`) and the check stage (`check.rs`) and only then
//! compiles here; policy tests (`testing.rs`) and `explain` read from the result.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use privgate_mask::operator::Redact;
use privgate_mask::{DetectRule, FieldRule, Limits, Operator, PiiType, Plan, PlanSpec, Secrets};

use crate::check::{self, Model, OpAt, Role};
use crate::diag::{error, Collector, Diagnostics};
use crate::error::PolicyError;
use crate::load;
use crate::raw::RawPolicyFile;
use crate::route::Route;
use crate::source::Sources;

/// The HMAC key of `hash` used by [`Policy::load_for_check`]. Public and not secret: it
/// only makes `check` and policy tests deterministic.
pub const CHECK_HASH_KEY: &[u8; 32] = b"privgate-policy-check-hash-key-0";
/// The `tokenize` master key used by [`Policy::load_for_check`]. Public and not secret.
pub const CHECK_TOKEN_KEY: &[u8; 32] = b"privgate-policy-check-token-key0";
/// The id of [`CHECK_TOKEN_KEY`].
pub const CHECK_TOKEN_KEY_ID: &str = "check";

/// Why a field gets the operator it gets for a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSource {
    /// The field is at or below the role's clearance: kept.
    Clearance,
    /// The role's `above` entry for the field's level.
    Above,
    /// The role's per-field override.
    Override,
    /// Above the clearance with no `above` entry: redacted (fail closed).
    Default,
}

/// One line of "what would role X see on route Y".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainRow {
    /// The field's name.
    pub field: String,
    /// Where it occurs.
    pub selectors: Vec<String>,
    /// Its level.
    pub level: String,
    /// Its PII type.
    pub pii: PiiType,
    /// The operator the role gets.
    pub operator: Operator,
    /// Why.
    pub source: RuleSource,
}

/// What the gateway decides for a caller before any session facts (no recent step-up,
/// no approval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Served.
    Allowed,
    /// The role may not call the route.
    Denied,
    /// The route demands a recent second factor first.
    StepUp,
    /// The route is an export that waits for another person's approval.
    ApprovalRequired,
}

/// A loaded, checked and compiled policy set.
#[derive(Debug)]
pub struct Policy {
    levels: Vec<String>,
    roles: Vec<Role>,
    fields: Vec<String>,
    routes: Vec<Route>,
    files: usize,
    plans: BTreeMap<(String, String), (Arc<Plan>, Vec<ExplainRow>)>,
    hash: String,
    warnings: Diagnostics,
}

/// The fixed, non-secret keys of [`Policy::load_for_check`].
pub fn check_secrets() -> Secrets {
    let s = Secrets::new().with_hash_key(CHECK_HASH_KEY);
    match s
        .clone()
        .with_token_key(CHECK_TOKEN_KEY_ID, CHECK_TOKEN_KEY)
    {
        Ok(s) => s,
        // Unreachable with the constants above; without a token key `tokenize` is
        // reported as missing its key rather than panicking.
        Err(_) => s,
    }
}

impl Policy {
    /// Loads every policy file of `dir` with the gateway's keys.
    pub fn load(dir: impl AsRef<Path>, secrets: Secrets) -> Result<Policy, PolicyError> {
        Policy::load_with(dir, secrets, Limits::default())
    }

    /// Loads every policy file of `dir` with the gateway's keys, compiling each plan with
    /// `limits` (the gateway's `limits:` settings: longest value held, deepest nesting).
    pub fn load_with(
        dir: impl AsRef<Path>,
        secrets: Secrets,
        limits: Limits,
    ) -> Result<Policy, PolicyError> {
        let dir = dir.as_ref();
        let files = load::read_dir(dir, load::is_policy_file)?;
        if files.is_empty() {
            return Err(PolicyError::NoPolicyFiles {
                dir: dir.to_path_buf(),
            });
        }
        Policy::from_sources_with(&files, secrets, limits)
    }

    /// Loads with the fixed keys of [`check_secrets`], so `check` and policy tests are
    /// deterministic and need no secrets.
    pub fn load_for_check(dir: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        Policy::load(dir, check_secrets())
    }

    /// Loads a policy set from (name, bytes) pairs, e.g. for fuzzing or embedding. The
    /// names are what diagnostics show and what the content hash covers.
    pub fn from_sources(
        files: &[(String, Vec<u8>)],
        secrets: Secrets,
    ) -> Result<Policy, PolicyError> {
        Policy::from_sources_with(files, secrets, Limits::default())
    }

    /// [`Policy::from_sources`] with the engine limits every plan is compiled with.
    pub fn from_sources_with(
        files: &[(String, Vec<u8>)],
        secrets: Secrets,
        limits: Limits,
    ) -> Result<Policy, PolicyError> {
        let mut sources = Sources::new();
        let mut out = Collector::default();
        let parsed: Vec<(usize, RawPolicyFile)> =
            load::parse_all(files, &mut sources, &mut out, false);
        if out.has_errors() {
            // A file that did not parse is missing from the set: checking the rest would
            // only report the consequences (a missing `levels`, unknown names).
            return Err(PolicyError::Invalid(Box::new(Diagnostics::new(
                out.items, sources,
            ))));
        }
        let raws: Vec<RawPolicyFile> = parsed.into_iter().map(|(_, f)| f).collect();
        let model = check::check(&raws, &sources, &mut out);
        if out.has_errors() {
            return Err(PolicyError::Invalid(Box::new(Diagnostics::new(
                out.items, sources,
            ))));
        }
        let plans = compile(&model, &secrets, limits, &sources, &mut out);
        if out.has_errors() {
            return Err(PolicyError::Invalid(Box::new(Diagnostics::new(
                out.items, sources,
            ))));
        }
        Ok(Policy {
            levels: model.levels,
            fields: model.fields.iter().map(|f| f.name.clone()).collect(),
            roles: model.roles,
            routes: model.routes,
            files: files.len(),
            plans,
            hash: content_hash(files),
            warnings: Diagnostics::new(out.items, sources),
        })
    }

    /// The masking plan of `role` on `route`, if the role is allowed there.
    pub fn plan(&self, role: &str, route: &str) -> Option<&Arc<Plan>> {
        self.plans
            .get(&(role.to_owned(), route.to_owned()))
            .map(|(p, _)| p)
    }

    /// What `role` sees of each field on `route`, strictest level first.
    pub fn explain(&self, role: &str, route: &str) -> Result<Vec<ExplainRow>, PolicyError> {
        self.decide(role, route)?;
        self.plans
            .get(&(role.to_owned(), route.to_owned()))
            .map(|(_, rows)| rows.clone())
            .ok_or_else(|| PolicyError::NotAllowed {
                role: role.to_owned(),
                route: route.to_owned(),
            })
    }

    /// The decision for a caller with `role` on `route` before session facts: denied if
    /// the role is not allowed; else a step-up if the route demands one; else an approval
    /// if it is an export that needs one; else allowed. Controls in shadow mode count
    /// too: this is what the policy computes, and whether a step-up or an approval is
    /// enforced is the control's [`Mode`](crate::Mode). Rate limits are not part of it.
    pub fn decide(&self, role: &str, route: &str) -> Result<Decision, PolicyError> {
        if !self.roles.iter().any(|r| r.name == role) {
            return Err(PolicyError::UnknownRole(role.to_owned()));
        }
        let r = self
            .route(route)
            .ok_or_else(|| PolicyError::UnknownRoute(route.to_owned()))?;
        Ok(if !r.allow.iter().any(|a| a == role) {
            Decision::Denied
        } else if r.step_up.is_some() {
            Decision::StepUp
        } else if r.export.as_ref().is_some_and(|e| e.approval_required) {
            Decision::ApprovalRequired
        } else {
            Decision::Allowed
        })
    }

    /// The route named `name`.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// Every route, in file-name then written order (the order requests are matched in).
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route matching a request, with its path parameters.
    pub fn match_route(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Option<(&Route, Vec<(String, String)>)> {
        // The most specific path template wins, whatever the file order (a literal segment
        // beats a parameter, earlier segments first). Among the routes with that template
        // the first whose query conditions hold is taken; when none holds, nothing
        // matches: a request never falls through to a less specific route
        // (`/api/students/export?format=xlsx` must not land on `/api/students/{id}`).
        let candidates = || {
            self.routes
                .iter()
                .filter(|r| r.methods.iter().any(|m| m == method) && r.path.matches(path).is_some())
        };
        let best = candidates().map(|r| r.path.specificity()).max()?;
        candidates()
            .filter(|r| r.path.specificity() == best)
            .find_map(|r| r.matches(method, path, query).map(|p| (r, p)))
    }

    /// Whether `role` may approve exports on `route`.
    pub fn can_approve(&self, role: &str, route: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r.name == role && r.approves.iter().any(|a| a == route))
    }

    /// The classification levels, lowest first.
    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    /// The role names, in written order.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(|r| r.name.as_str())
    }

    /// The field names of the catalogue, in written order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(String::as_str)
    }

    /// How many policy files the set was loaded from.
    pub fn file_count(&self) -> usize {
        self.files
    }

    /// The SHA-256 (hex) of the loaded files: their names (without the directory) and
    /// bytes, in name order.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Warnings found while loading (the set loaded despite them).
    pub fn warnings(&self) -> &Diagnostics {
        &self.warnings
    }
}

/// The operator `role` gets for a field at `level`, and why.
fn operator_for(role: &Role, field: &str, level: usize) -> (Operator, RuleSource) {
    if let Some(o) = role.fields.get(field) {
        (o.op.clone(), RuleSource::Override)
    } else if level <= role.clearance {
        (Operator::Keep, RuleSource::Clearance)
    } else if let Some(o) = role.above.get(&level) {
        (o.op.clone(), RuleSource::Above)
    } else {
        (Operator::Redact(Redact::default()), RuleSource::Default)
    }
}

type Plans = BTreeMap<(String, String), (Arc<Plan>, Vec<ExplainRow>)>;

fn compile(
    model: &Model,
    secrets: &Secrets,
    limits: Limits,
    sources: &Sources,
    out: &mut Collector,
) -> Plans {
    // Keys first: a missing key is reported where the operator is written.
    let used = model
        .roles
        .iter()
        .flat_map(|r| r.above.values().chain(r.fields.values()))
        .chain(model.unknown.iter().map(|(_, o)| o));
    let mut reported = Vec::new();
    for OpAt { op, at } in used {
        let missing = match op {
            Operator::Hash(_) => !secrets.has_hash_key(),
            Operator::Tokenize(_) => !secrets.has_token_key(),
            _ => false,
        };
        if missing && !reported.contains(at) {
            reported.push(*at);
            let name = op.kind().as_str();
            out.push(
                error(
                    "missing-key",
                    format!("`{name}` needs a {name} key, and none is configured"),
                )
                .at(Collector::locate(sources, *at), "used here")
                .help(Some(
                    "keys live in the gateway configuration, never in policy files".into(),
                )),
            );
        }
    }
    let mut fields: Vec<&check::Field> = model.fields.iter().collect();
    fields.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.name.cmp(&b.name)));
    let detect = model.unknown.as_ref().map(|(types, o)| DetectRule {
        types: types.clone(),
        operator: o.op.clone(),
    });
    let mut plans = Plans::new();
    for route in &model.routes {
        for role in model.roles.iter().filter(|r| route.allow.contains(&r.name)) {
            let rows: Vec<ExplainRow> = fields
                .iter()
                .map(|f| {
                    let (operator, source) = operator_for(role, &f.name, f.level);
                    ExplainRow {
                        field: f.name.clone(),
                        selectors: f.selectors.clone(),
                        level: model.levels.get(f.level).cloned().unwrap_or_default(),
                        pii: f.pii,
                        operator,
                        source,
                    }
                })
                .collect();
            let spec = PlanSpec {
                fields: rows
                    .iter()
                    .map(|r| FieldRule {
                        name: r.field.clone(),
                        selectors: r.selectors.clone(),
                        pii: r.pii,
                        operator: r.operator.clone(),
                    })
                    .collect(),
                detect: detect.clone(),
                records: route.records.clone(),
                limits,
            };
            match Plan::compile(&spec, secrets.clone()) {
                Ok(plan) => {
                    plans.insert(
                        (role.name.clone(), route.name.clone()),
                        (Arc::new(plan), rows),
                    );
                }
                Err(e) if out.has_errors() => drop(e),
                Err(e) => out.push(error(
                    "plan",
                    format!(
                        "the plan of role `{}` on route `{}` does not compile: {e}",
                        role.name, route.name
                    ),
                )),
            }
        }
    }
    plans
}

/// SHA-256 over the files in name order (names without their directory): each name, a NUL, the length (u64 BE), the bytes.
pub(crate) fn content_hash(files: &[(String, Vec<u8>)]) -> String {
    let base = |name: &str| {
        Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name)
            .to_owned()
    };
    let mut sorted: Vec<(String, &Vec<u8>)> = files.iter().map(|(n, b)| (base(n), b)).collect();
    sorted.sort();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for (name, bytes) in sorted {
        ctx.update(name.as_bytes());
        ctx.update(&[0]);
        ctx.update(&(bytes.len() as u64).to_be_bytes());
        ctx.update(bytes);
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
