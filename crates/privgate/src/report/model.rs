//! The report's data: everything `privgate report` shows, computed from the audit records,
//! the chain verification and the policy. The HTML page (`html.rs`) and the JSON output
//! are two renderings of this one [`Report`].
//!
//! Nothing here reads a data subject's value: the trail holds none. Identities shown are
//! the trail's `subject`s (employees and service accounts).

use std::collections::{BTreeMap, BTreeSet};

use privgate_audit::{ApprovalState, Decision, Event, Record, ReloadResult, VerifyReport};
use privgate_mask::Operator;
use privgate_policy::{Policy, RuleSource};
use serde::{Deserialize, Serialize};

/// How many identities the "top identities" table lists.
pub const TOP_IDENTITIES: usize = 10;

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The tool that wrote it.
    pub generator: String,
    /// When it was written (RFC 3339, UTC).
    pub generated_at: String,
    /// The period covered.
    pub period: Period,
    /// The chain check over every file given.
    pub chain: Chain,
    /// The policy directory the report was made against.
    pub policy: PolicyInfo,
    /// Policy versions seen in the trail (startup and reload events).
    pub policy_versions: Vec<PolicyVersion>,
    /// Totals over the period.
    pub totals: Totals,
    /// Requests and records per day and role (served requests).
    pub access_by_day: Vec<DayRole>,
    /// Personal values served, by PII type.
    pub pii: Vec<PiiRow>,
    /// Exports and their approvals.
    pub exports: Vec<ExportRow>,
    /// Requests to export routes served without an approval id (shadow mode).
    pub unapproved_exports: Vec<ExportRequest>,
    /// Refused requests and step-up challenges.
    pub denials: Denials,
    /// Anomaly alerts.
    pub alerts: Vec<AlertRow>,
    /// Streams cut before their end.
    pub stream_aborts: Vec<AbortRow>,
    /// Revocations added or removed.
    pub revocations: Vec<RevocationRow>,
    /// Identities by personal values served, largest first.
    pub top_identities: Vec<IdentityRow>,
    /// Inventory coverage, when an inventory was given.
    pub inventory: Option<Inventory>,
    /// Uncovered personal data first seen in the period (the trail's discovery events).
    pub discoveries: Vec<DiscoveryRow>,
    /// Records of processing: role × route × field with its de-identification.
    pub processing: Vec<ProcessingRow>,
    /// PIPL Art. 51 measures with their status.
    pub controls: Vec<Control>,
}

/// The period covered.
#[derive(Debug, Serialize)]
pub struct Period {
    /// `--from` (a date, inclusive), if given.
    pub from: Option<String>,
    /// `--to` (a date, inclusive), if given.
    pub to: Option<String>,
    /// The first event in the period.
    pub first_event: Option<String>,
    /// The last event in the period.
    pub last_event: Option<String>,
    /// Events in the period.
    pub events: u64,
}

/// The chain verification.
#[derive(Debug, Serialize)]
pub struct Chain {
    /// Whether the chain verified.
    pub intact: bool,
    /// The verifier's one-line summary.
    pub summary: String,
    /// Events checked.
    pub events: u64,
    /// First `seq` and time checked.
    pub first_seq: Option<u64>,
    /// Last `seq` and time checked.
    pub last_seq: Option<u64>,
    /// The first problem: kind, file, line, detail.
    pub problem: Option<ChainProblem>,
    /// The files checked.
    pub files: Vec<String>,
    /// Lines that could not be read as records (shown, not counted).
    pub unreadable_lines: u64,
}

/// The first problem of a broken chain.
#[derive(Debug, Serialize)]
pub struct ChainProblem {
    /// What kind (`edited`, `deleted`, …).
    pub kind: String,
    /// The file.
    pub file: String,
    /// Its line, from 1.
    pub line: u64,
    /// The verifier's detail.
    pub detail: String,
}

/// The policy the report was made against.
#[derive(Debug, Serialize)]
pub struct PolicyInfo {
    /// The directory.
    pub dir: String,
    /// Its content hash.
    pub hash: String,
    /// Policy files.
    pub files: usize,
    /// Classification levels, lowest first.
    pub levels: Vec<String>,
    /// The field catalogue.
    pub fields: Vec<FieldInfo>,
    /// Roles.
    pub roles: Vec<String>,
    /// Routes.
    pub routes: Vec<RouteInfo>,
    /// Whether the newest version in force in the trail is this one.
    pub matches_trail: Option<bool>,
}

/// A catalogue field.
#[derive(Debug, Serialize)]
pub struct FieldInfo {
    /// Its name.
    pub name: String,
    /// Its PII type.
    pub pii_type: String,
    /// Its level.
    pub level: String,
    /// Its description.
    pub description: Option<String>,
}

/// A route.
#[derive(Debug, Serialize)]
pub struct RouteInfo {
    /// Its name.
    pub name: String,
    /// Methods and path template.
    pub request: String,
    /// Its description (the purpose).
    pub description: Option<String>,
    /// Roles allowed.
    pub allow: Vec<String>,
    /// Whether it is an export.
    pub export: bool,
    /// Whether an export needs an approval.
    pub approval_required: bool,
    /// Whether it demands a step-up.
    pub step_up: bool,
}

/// A policy version seen in the trail.
#[derive(Debug, Serialize)]
pub struct PolicyVersion {
    /// When.
    pub time: String,
    /// Its `seq`.
    pub seq: u64,
    /// `startup` or `policy_reload`.
    pub source: String,
    /// `ok` or `error` (for reloads).
    pub result: String,
    /// The hash in force after the event.
    pub hash: Option<String>,
    /// Errors of a rejected reload.
    pub errors: Option<u64>,
    /// Whether this event falls before the period (the version in force at its start).
    pub before_period: bool,
}

/// Totals over the period.
#[derive(Debug, Default, Serialize)]
pub struct Totals {
    /// Request events.
    pub requests: u64,
    /// Served (allow or would_deny).
    pub served: u64,
    /// Refused.
    pub denied: u64,
    /// Served in shadow mode although a control would have refused.
    pub would_deny: u64,
    /// Records served.
    pub records: u64,
    /// Records served per role.
    pub records_by_role: BTreeMap<String, u64>,
    /// Personal values served unmasked.
    pub unmasked: u64,
    /// Personal values served masked.
    pub masked: u64,
    /// Distinct identities.
    pub identities: u64,
}

/// Served requests of one role on one day.
#[derive(Debug, Serialize)]
pub struct DayRole {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The role (`-` when none).
    pub role: String,
    /// Served requests.
    pub requests: u64,
    /// Records served.
    pub records: u64,
}

/// Personal values of one PII type.
#[derive(Debug, Serialize)]
pub struct PiiRow {
    /// The PII type.
    pub pii_type: String,
    /// Values served as they are (`keep`).
    pub unmasked: u64,
    /// Values served masked (any other operator).
    pub masked: u64,
    /// By operator.
    pub by_operator: BTreeMap<String, u64>,
}

/// An export approval and the requests that used it.
#[derive(Debug, Serialize)]
pub struct ExportRow {
    /// The approval id.
    pub approval: String,
    /// The route.
    pub route: String,
    /// Who asked.
    pub requester: String,
    /// Who approved or rejected it.
    pub approvers: Vec<String>,
    /// Its state changes, in order.
    pub states: Vec<StateChange>,
    /// The last state.
    pub final_state: String,
    /// The requests that used it.
    pub requests: Vec<ExportRequest>,
    /// Records served by those requests.
    pub records: u64,
    /// Whether the approver is the requester (four eyes broken).
    pub self_approved: bool,
}

/// An approval's state change.
#[derive(Debug, Serialize)]
pub struct StateChange {
    /// When.
    pub time: String,
    /// The new state.
    pub state: String,
    /// Who.
    pub by: String,
}

/// A request on an export route.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRequest {
    /// When.
    pub time: String,
    /// The request id.
    pub request_id: String,
    /// Who.
    pub subject: String,
    /// The route.
    pub route: String,
    /// HTTP status.
    pub status: u16,
    /// The decision.
    pub decision: String,
    /// Records served.
    pub records: u64,
    /// Why it was cut, if it was.
    pub cut: Option<String>,
}

/// Refused requests.
#[derive(Debug, Default, Serialize)]
pub struct Denials {
    /// Refused requests.
    pub total: u64,
    /// Step-up challenges (refused with reason `step_up`).
    pub step_up: u64,
    /// By reason, largest first.
    pub by_reason: Vec<Count>,
    /// By route (`(no route)` when none matched), largest first.
    pub by_route: Vec<Count>,
    /// Step-up challenges by route.
    pub step_up_by_route: Vec<Count>,
    /// Served in shadow mode although a control would have refused, by reason.
    pub would_deny_by_reason: Vec<Count>,
}

/// A labelled count.
#[derive(Debug, Serialize)]
pub struct Count {
    /// The label.
    pub key: String,
    /// The count.
    pub count: u64,
}

/// An alert.
#[derive(Debug, Serialize)]
pub struct AlertRow {
    /// When.
    pub time: String,
    /// The detector.
    pub alert: String,
    /// About whom.
    pub subject: String,
    /// The route.
    pub route: Option<String>,
    /// The numbers.
    pub details: BTreeMap<String, f64>,
}

/// A stream cut before its end.
#[derive(Debug, Serialize)]
pub struct AbortRow {
    /// When.
    pub time: String,
    /// The request id.
    pub request_id: String,
    /// The route.
    pub route: String,
    /// Why.
    pub reason: String,
    /// Records sent before.
    pub records: u64,
}

/// A first sighting of personal data no policy field covers.
#[derive(Debug, Serialize)]
pub struct DiscoveryRow {
    /// When.
    pub time: String,
    /// The route.
    pub route: String,
    /// The normalised path.
    pub path: String,
    /// What was found.
    pub pii_type: String,
}

/// A revocation.
#[derive(Debug, Serialize)]
pub struct RevocationRow {
    /// When.
    pub time: String,
    /// `added` or `removed`.
    pub action: String,
    /// `jti`, `api_key` or `subject`.
    pub target: String,
    /// The identity, for `subject`; the keyed reference otherwise.
    pub what: String,
    /// Who.
    pub by: Option<String>,
}

/// One identity's volume.
#[derive(Debug, Serialize)]
pub struct IdentityRow {
    /// The identity.
    pub subject: String,
    /// Roles it acted under.
    pub roles: Vec<String>,
    /// Requests.
    pub requests: u64,
    /// Refused requests.
    pub denied: u64,
    /// Records served.
    pub records: u64,
    /// Personal values served (masked or not).
    pub pii_values: u64,
    /// Of which unmasked.
    pub unmasked: u64,
}

/// One inventory entry as given (the data discovery's output).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InventoryEntry {
    /// The route.
    #[serde(default)]
    pub route: Option<String>,
    /// Where in the body.
    #[serde(default)]
    pub path: Option<String>,
    /// The PII type found.
    #[serde(default)]
    pub pii_type: Option<String>,
    /// How many values were seen.
    #[serde(default)]
    pub count: u64,
    /// Whether a policy field covers it.
    #[serde(default)]
    pub covered: bool,
}

/// Inventory coverage.
#[derive(Debug, Serialize)]
pub struct Inventory {
    /// The file.
    pub file: String,
    /// Entries.
    pub entries: u64,
    /// Entries covered by a policy field.
    pub covered: u64,
    /// Values seen in covered entries / all values seen, in percent.
    pub value_coverage_pct: f64,
    /// The uncovered entries, largest first.
    pub uncovered: Vec<InventoryEntry>,
}

/// A record of processing: what a role gets of a field on a route.
#[derive(Debug, Serialize)]
pub struct ProcessingRow {
    /// The role.
    pub role: String,
    /// The route.
    pub route: String,
    /// The purpose (the route's description).
    pub purpose: Option<String>,
    /// The field.
    pub field: String,
    /// Its PII type (the category).
    pub pii_type: String,
    /// Its level.
    pub level: String,
    /// The operator.
    pub operator: String,
    /// The de-identification technique it amounts to.
    pub technique: String,
    /// Why the role gets it (`clearance`, `above`, `override`, `default`).
    pub rule: String,
}

/// Status of a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Evidence supports the measure.
    Pass,
    /// Evidence is missing or shows a problem.
    Attention,
    /// The gateway cannot show it.
    OutOfScope,
}

impl Status {
    /// The label.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Attention => "attention",
            Status::OutOfScope => "out of scope",
        }
    }
}

/// A PIPL Art. 51 measure.
#[derive(Debug, Serialize)]
pub struct Control {
    /// The article and item.
    pub reference: String,
    /// The measure.
    pub measure: String,
    /// What privgate shows for it.
    pub evidence: String,
    /// The status.
    pub status: Status,
}

/// What the report is built from besides the records.
pub struct Inputs<'a> {
    /// The records of every file, in `seq` order.
    pub records: &'a [Record],
    /// Lines that were not records.
    pub unreadable_lines: u64,
    /// The files.
    pub files: Vec<String>,
    /// The chain check.
    pub verify: &'a VerifyReport,
    /// The policy.
    pub policy: &'a Policy,
    /// The policy directory.
    pub policy_dir: String,
    /// Descriptions from the policy files: routes, roles, fields.
    pub descriptions: &'a Descriptions,
    /// `--from`, `--to` (dates).
    pub from: Option<String>,
    /// `--to`.
    pub to: Option<String>,
    /// The inventory, if given: its file and entries.
    pub inventory: Option<(String, Vec<InventoryEntry>)>,
    /// Whether the gateway config has an `anomaly:` section (None: no config given).
    pub anomaly_configured: Option<bool>,
    /// When the report is written.
    pub generated_at: String,
}

/// Free-text descriptions read from the policy files.
#[derive(Debug, Default)]
pub struct Descriptions {
    /// By route name.
    pub routes: BTreeMap<String, String>,
    /// By field name.
    pub fields: BTreeMap<String, String>,
}

fn day(time: &str) -> &str {
    time.get(..10).unwrap_or(time)
}

fn in_period(time: &str, from: Option<&str>, to: Option<&str>) -> bool {
    let d = day(time);
    from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t)
}

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
        Decision::WouldDeny => "would_deny",
    }
}

fn state_str(s: ApprovalState) -> &'static str {
    match s {
        ApprovalState::Requested => "requested",
        ApprovalState::Approved => "approved",
        ApprovalState::Rejected => "rejected",
        ApprovalState::Used => "used",
        ApprovalState::Returned => "returned",
        ApprovalState::Expired => "expired",
        ApprovalState::Revoked => "revoked",
    }
}

/// The operator's name as the trail and the policy write it.
pub fn operator_name(op: &Operator) -> &'static str {
    match op {
        Operator::Keep => "keep",
        Operator::Redact(_) => "redact",
        Operator::Partial(_) => "partial",
        Operator::Hash(_) => "hash",
        Operator::Tokenize(_) => "tokenize",
        Operator::Generalize(_) => "generalize",
        Operator::Null => "null",
        Operator::Drop => "drop",
    }
}

/// The de-identification technique an operator amounts to (GB/T 37964 / ISO 20889 terms).
pub fn technique(op: &str) -> &'static str {
    match op {
        "keep" => "none: identified data",
        "redact" => "suppression (replaced by a fixed text)",
        "partial" => "masking (part of the value kept)",
        "hash" => "pseudonymisation (keyed hash, irreversible)",
        "tokenize" => "pseudonymisation (reversible token)",
        "generalize" => "generalisation (coarsened)",
        "null" => "suppression (null)",
        "drop" => "suppression (field removed)",
        _ => "other",
    }
}

fn rule_str(s: RuleSource) -> &'static str {
    match s {
        RuleSource::Clearance => "clearance",
        RuleSource::Above => "above",
        RuleSource::Override => "override",
        RuleSource::Default => "default (fail closed)",
    }
}

fn counts(map: BTreeMap<String, u64>) -> Vec<Count> {
    let mut v: Vec<Count> = map
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v
}

#[derive(Default)]
struct Ident {
    roles: BTreeSet<String>,
    requests: u64,
    denied: u64,
    records: u64,
    pii: u64,
    unmasked: u64,
}

struct Approval {
    route: String,
    requester: String,
    states: Vec<StateChange>,
    approvers: BTreeSet<String>,
    requests: Vec<ExportRequest>,
}

/// Builds the report.
#[allow(
    clippy::too_many_lines,
    reason = "one pass over the events, section by section"
)]
pub fn build(inp: &Inputs<'_>) -> Report {
    let from = inp.from.as_deref();
    let to = inp.to.as_deref();
    let policy = inp.policy;

    let mut period = Period {
        from: inp.from.clone(),
        to: inp.to.clone(),
        first_event: None,
        last_event: None,
        events: 0,
    };
    let mut versions: Vec<PolicyVersion> = Vec::new();
    let mut totals = Totals::default();
    let mut by_day: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let mut pii: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut approvals: BTreeMap<String, Approval> = BTreeMap::new();
    let mut approval_order: Vec<String> = Vec::new();
    let mut unapproved = Vec::new();
    let mut denials = Denials::default();
    let mut deny_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut deny_route: BTreeMap<String, u64> = BTreeMap::new();
    let mut step_route: BTreeMap<String, u64> = BTreeMap::new();
    let mut would_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut alerts = Vec::new();
    let mut aborts = Vec::new();
    let mut discoveries = Vec::new();
    let mut revocations = Vec::new();
    let mut idents: BTreeMap<String, Ident> = BTreeMap::new();
    let mut last_hash_before: Option<usize> = None;
    let mut newest_hash: Option<String> = None;

    for r in inp.records {
        let inside = in_period(&r.time, from, to);
        // Policy versions: every one in the period, and the last one before it.
        let version = match &r.event {
            Event::Startup(s) => Some(("startup", "ok", s.policy_hash.clone(), None)),
            Event::PolicyReload(p) => Some((
                "policy_reload",
                match p.result {
                    ReloadResult::Ok => "ok",
                    ReloadResult::Error => "error",
                },
                p.hash.clone(),
                p.errors,
            )),
            _ => None,
        };
        if let Some((source, result, hash, errors)) = version {
            let before = from.is_some_and(|f| day(&r.time) < f);
            let after = to.is_some_and(|t| day(&r.time) > t);
            if !after {
                if result == "ok" && hash.is_some() {
                    newest_hash.clone_from(&hash);
                }
                let v = PolicyVersion {
                    time: r.time.clone(),
                    seq: r.seq,
                    source: source.to_owned(),
                    result: result.to_owned(),
                    hash,
                    errors,
                    before_period: before,
                };
                if before {
                    if v.result == "ok" {
                        last_hash_before = Some(versions.len());
                        versions.push(v);
                    }
                } else {
                    versions.push(v);
                }
            }
        }
        if !inside {
            continue;
        }
        period.events += 1;
        if period.first_event.is_none() {
            period.first_event = Some(r.time.clone());
        }
        period.last_event = Some(r.time.clone());
        match &r.event {
            Event::Request(q) => {
                totals.requests += 1;
                let role = q.role.clone().unwrap_or_else(|| "-".to_owned());
                let id = idents.entry(q.subject.clone()).or_default();
                id.requests += 1;
                if let Some(role) = &q.role {
                    id.roles.insert(role.clone());
                }
                let route = q.route.clone().unwrap_or_else(|| "(no route)".to_owned());
                let reason = q.reason.clone().unwrap_or_else(|| "-".to_owned());
                if q.decision == Decision::Deny {
                    totals.denied += 1;
                    id.denied += 1;
                    denials.total += 1;
                    *deny_reason.entry(reason.clone()).or_default() += 1;
                    *deny_route.entry(route.clone()).or_default() += 1;
                    if reason == "step_up" {
                        denials.step_up += 1;
                        *step_route.entry(route.clone()).or_default() += 1;
                    }
                } else {
                    totals.served += 1;
                    if q.decision == Decision::WouldDeny {
                        totals.would_deny += 1;
                        *would_reason.entry(reason.clone()).or_default() += 1;
                    }
                    totals.records += q.records;
                    *totals.records_by_role.entry(role.clone()).or_default() += q.records;
                    let e = by_day
                        .entry((day(&r.time).to_owned(), role.clone()))
                        .or_default();
                    e.0 += 1;
                    e.1 += q.records;
                    id.records += q.records;
                }
                for (t, ops) in &q.pii {
                    let row = pii.entry(t.clone()).or_default();
                    for (op, n) in ops {
                        *row.entry(op.clone()).or_default() += n;
                        id.pii += n;
                        if op == "keep" {
                            id.unmasked += n;
                            totals.unmasked += n;
                        } else {
                            totals.masked += n;
                        }
                    }
                }
                let is_export = q
                    .route
                    .as_deref()
                    .and_then(|n| policy.route(n))
                    .is_some_and(privgate_policy::Route::is_export);
                let req = ExportRequest {
                    time: r.time.clone(),
                    request_id: q.request_id.clone(),
                    subject: q.subject.clone(),
                    route: route.clone(),
                    status: q.status,
                    decision: decision_str(q.decision).to_owned(),
                    records: q.records,
                    cut: q.cut.clone(),
                };
                if let Some(a) = &q.approval {
                    let entry = approvals.entry(a.clone()).or_insert_with(|| {
                        approval_order.push(a.clone());
                        Approval {
                            route: route.clone(),
                            requester: "-".to_owned(),
                            states: Vec::new(),
                            approvers: BTreeSet::new(),
                            requests: Vec::new(),
                        }
                    });
                    entry.requests.push(req);
                } else if is_export && q.decision != Decision::Deny {
                    unapproved.push(req);
                }
            }
            Event::Approval(a) => {
                let entry = approvals.entry(a.id.clone()).or_insert_with(|| {
                    approval_order.push(a.id.clone());
                    Approval {
                        route: a.route.clone(),
                        requester: a.requester.clone(),
                        states: Vec::new(),
                        approvers: BTreeSet::new(),
                        requests: Vec::new(),
                    }
                });
                entry.requester.clone_from(&a.requester);
                entry.route.clone_from(&a.route);
                if matches!(a.state, ApprovalState::Approved | ApprovalState::Rejected) {
                    entry.approvers.insert(a.by.clone());
                }
                entry.states.push(StateChange {
                    time: r.time.clone(),
                    state: state_str(a.state).to_owned(),
                    by: a.by.clone(),
                });
            }
            Event::Alert(a) => alerts.push(AlertRow {
                time: r.time.clone(),
                alert: a.alert.clone(),
                subject: a.subject.clone(),
                route: a.route.clone(),
                details: a.details.clone(),
            }),
            Event::StreamAbort(s) => aborts.push(AbortRow {
                time: r.time.clone(),
                request_id: s.request_id.clone(),
                route: s.route.clone(),
                reason: s.reason.clone(),
                records: s.records,
            }),
            Event::Revocation(v) => {
                let json = serde_json::to_value(v).unwrap_or_default();
                let s = |k: &str| {
                    json.get(k)
                        .and_then(|x| x.as_str())
                        .unwrap_or("-")
                        .to_owned()
                };
                revocations.push(RevocationRow {
                    time: r.time.clone(),
                    action: s("action"),
                    target: s("target"),
                    what: v
                        .subject
                        .clone()
                        .or_else(|| v.value_ref.clone())
                        .unwrap_or_else(|| "-".to_owned()),
                    by: v.by.clone(),
                });
            }
            Event::Discovery(d) => discoveries.push(DiscoveryRow {
                time: r.time.clone(),
                route: d.route.clone(),
                path: d.path.clone(),
                pii_type: d.pii_type.clone(),
            }),
            Event::PolicyReload(_) | Event::Startup(_) | Event::Shutdown(_) => {}
        }
    }
    // Only the last version before the period is kept from before it.
    let versions: Vec<PolicyVersion> = versions
        .into_iter()
        .enumerate()
        .filter(|(i, v)| !v.before_period || Some(*i) == last_hash_before)
        .map(|(_, v)| v)
        .collect();
    totals.identities = idents.len() as u64;

    let access_by_day = by_day
        .into_iter()
        .map(|((day, role), (requests, records))| DayRole {
            day,
            role,
            requests,
            records,
        })
        .collect();
    let pii: Vec<PiiRow> = pii
        .into_iter()
        .map(|(t, ops)| PiiRow {
            pii_type: t,
            unmasked: ops.get("keep").copied().unwrap_or(0),
            masked: ops
                .iter()
                .filter(|(o, _)| *o != "keep")
                .map(|(_, n)| n)
                .sum(),
            by_operator: ops,
        })
        .collect();
    let exports = approval_order
        .into_iter()
        .filter_map(|id| approvals.remove(&id).map(|a| (id, a)))
        .map(|(id, a)| ExportRow {
            final_state: a
                .states
                .last()
                .map_or_else(|| "(not in period)".to_owned(), |s| s.state.clone()),
            self_approved: a.approvers.contains(&a.requester),
            records: a.requests.iter().map(|q| q.records).sum(),
            approval: id,
            route: a.route,
            requester: a.requester,
            approvers: a.approvers.into_iter().collect(),
            states: a.states,
            requests: a.requests,
        })
        .collect::<Vec<_>>();
    denials.by_reason = counts(deny_reason);
    denials.by_route = counts(deny_route);
    denials.step_up_by_route = counts(step_route);
    denials.would_deny_by_reason = counts(would_reason);

    let mut top: Vec<IdentityRow> = idents
        .into_iter()
        .map(|(subject, i)| IdentityRow {
            subject,
            roles: i.roles.into_iter().collect(),
            requests: i.requests,
            denied: i.denied,
            records: i.records,
            pii_values: i.pii,
            unmasked: i.unmasked,
        })
        .collect();
    top.sort_by(|a, b| {
        b.pii_values
            .cmp(&a.pii_values)
            .then_with(|| b.records.cmp(&a.records))
            .then_with(|| a.subject.cmp(&b.subject))
    });
    top.truncate(TOP_IDENTITIES);

    let inventory = inp.inventory.as_ref().map(|(file, entries)| {
        let covered = entries.iter().filter(|e| e.covered).count() as u64;
        let all: u64 = entries.iter().map(|e| e.count).sum();
        let cov: u64 = entries.iter().filter(|e| e.covered).map(|e| e.count).sum();
        let mut uncovered: Vec<InventoryEntry> =
            entries.iter().filter(|e| !e.covered).cloned().collect();
        uncovered.sort_by_key(|e| std::cmp::Reverse(e.count));
        Inventory {
            file: file.clone(),
            entries: entries.len() as u64,
            covered,
            value_coverage_pct: if all == 0 {
                100.0
            } else {
                (cov as f64) * 100.0 / (all as f64)
            },
            uncovered,
        }
    });

    let processing = processing_rows(policy, inp.descriptions);
    let policy_info = policy_info(inp, newest_hash.as_deref());
    let chain = chain(inp);

    let mut report = Report {
        generator: format!("privgate {}", env!("CARGO_PKG_VERSION")),
        generated_at: inp.generated_at.clone(),
        period,
        chain,
        policy: policy_info,
        policy_versions: versions,
        totals,
        access_by_day,
        pii,
        exports,
        unapproved_exports: unapproved,
        denials,
        alerts,
        stream_aborts: aborts,
        revocations,
        top_identities: top,
        inventory,
        discoveries,
        processing,
        controls: Vec::new(),
    };
    report.controls = controls(&report, inp.anomaly_configured);
    report
}

fn chain(inp: &Inputs<'_>) -> Chain {
    let v = inp.verify;
    Chain {
        intact: v.is_intact(),
        summary: v.to_string(),
        events: v.events,
        first_seq: v.first.as_ref().map(|e| e.seq),
        last_seq: v.last.as_ref().map(|e| e.seq),
        problem: v.problem.as_ref().map(|p| ChainProblem {
            kind: p.kind.to_string(),
            file: p.file.display().to_string(),
            line: p.line,
            detail: p.detail.clone(),
        }),
        files: inp.files.clone(),
        unreadable_lines: inp.unreadable_lines,
    }
}

fn policy_info(inp: &Inputs<'_>, newest: Option<&str>) -> PolicyInfo {
    let policy = inp.policy;
    let mut fields: BTreeMap<String, FieldInfo> = BTreeMap::new();
    // The catalogue's types and levels come from the explain rows (every field a route
    // can serve appears in them).
    for route in policy.routes() {
        for role in &route.allow {
            for row in policy.explain(role, &route.name).unwrap_or_default() {
                fields
                    .entry(row.field.clone())
                    .or_insert_with(|| FieldInfo {
                        description: inp.descriptions.fields.get(&row.field).cloned(),
                        name: row.field,
                        pii_type: row.pii.to_string(),
                        level: row.level,
                    });
            }
        }
    }
    let fields = policy
        .fields()
        .map(|f| {
            fields.remove(f).unwrap_or_else(|| FieldInfo {
                name: f.to_owned(),
                pii_type: "-".to_owned(),
                level: "-".to_owned(),
                description: inp.descriptions.fields.get(f).cloned(),
            })
        })
        .collect();
    PolicyInfo {
        dir: inp.policy_dir.clone(),
        hash: policy.hash().to_owned(),
        files: policy.file_count(),
        levels: policy.levels().to_vec(),
        fields,
        roles: policy.roles().map(str::to_owned).collect(),
        routes: policy
            .routes()
            .iter()
            .map(|r| RouteInfo {
                name: r.name.clone(),
                request: format!("{} {}", r.methods.join(","), r.path.source),
                description: inp.descriptions.routes.get(&r.name).cloned(),
                allow: r.allow.clone(),
                export: r.is_export(),
                approval_required: r.export.as_ref().is_some_and(|e| e.approval_required),
                step_up: r.step_up.is_some(),
            })
            .collect(),
        matches_trail: newest.map(|h| hash_eq(h, policy.hash())),
    }
}

/// Whether two policy hashes are the same, with or without a `sha256:` prefix.
pub fn hash_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("sha256:") == b.trim_start_matches("sha256:")
}

fn processing_rows(policy: &Policy, d: &Descriptions) -> Vec<ProcessingRow> {
    let mut rows = Vec::new();
    for role in policy.roles() {
        for route in policy.routes() {
            let Ok(explain) = policy.explain(role, &route.name) else {
                continue;
            };
            for row in explain {
                let op = operator_name(&row.operator);
                rows.push(ProcessingRow {
                    role: role.to_owned(),
                    route: route.name.clone(),
                    purpose: d.routes.get(&route.name).cloned(),
                    field: row.field,
                    pii_type: row.pii.to_string(),
                    level: row.level,
                    operator: op.to_owned(),
                    technique: technique(op).to_owned(),
                    rule: rule_str(row.source).to_owned(),
                });
            }
        }
    }
    rows
}

#[allow(
    clippy::too_many_lines,
    reason = "one entry per measure, each with its evidence"
)]
fn controls(r: &Report, anomaly: Option<bool>) -> Vec<Control> {
    let mut out = Vec::new();
    let p = &r.policy;
    let trail_hashes: BTreeSet<&str> = r
        .policy_versions
        .iter()
        .filter_map(|v| v.hash.as_deref())
        .collect();
    out.push(Control {
        reference: "PIPL Art. 51(1)".to_owned(),
        measure: "Internal management rules and operating procedures".to_owned(),
        evidence: format!(
            "{} policy file(s) in {}, hash {}; {} version(s) in force during the period{}",
            p.files,
            p.dir,
            p.hash,
            trail_hashes.len(),
            match p.matches_trail {
                Some(true) => "; the newest version in the trail is this policy".to_owned(),
                Some(false) =>
                    "; the newest version in the trail is NOT this policy (report made against another version)"
                        .to_owned(),
                None => "; no policy version recorded in the trail".to_owned(),
            }
        ),
        status: if p.matches_trail == Some(true) {
            Status::Pass
        } else {
            Status::Attention
        },
    });
    out.push(Control {
        reference: "PIPL Art. 51(2)".to_owned(),
        measure: "Classified management of personal information".to_owned(),
        evidence: format!(
            "{} classification level(s) ({}); {} field(s) in the catalogue",
            p.levels.len(),
            p.levels.join(" < "),
            p.fields.len()
        ),
        status: if p.levels.len() >= 2 && !p.fields.is_empty() {
            Status::Pass
        } else {
            Status::Attention
        },
    });
    let ops: BTreeSet<&str> = r
        .processing
        .iter()
        .map(|row| row.operator.as_str())
        .filter(|o| *o != "keep")
        .collect();
    let share = if r.totals.masked + r.totals.unmasked == 0 {
        0.0
    } else {
        (r.totals.unmasked as f64) * 100.0 / ((r.totals.masked + r.totals.unmasked) as f64)
    };
    out.push(Control {
        reference: "PIPL Art. 51(3)".to_owned(),
        measure: "Encryption, de-identification and other security techniques".to_owned(),
        evidence: format!(
            "de-identification operators in the policy: {}; in the period {} personal value(s) served masked, {} unmasked ({share:.1}% unmasked)",
            if ops.is_empty() {
                "none".to_owned()
            } else {
                ops.iter().copied().collect::<Vec<_>>().join(", ")
            },
            r.totals.masked,
            r.totals.unmasked
        ),
        status: if ops.is_empty() {
            Status::Attention
        } else {
            Status::Pass
        },
    });
    let open_routes: Vec<&str> = p
        .routes
        .iter()
        .filter(|x| !p.roles.is_empty() && p.roles.iter().all(|role| x.allow.contains(role)))
        .map(|x| x.name.as_str())
        .collect();
    let unapproved_exports = p
        .routes
        .iter()
        .filter(|x| x.export && !x.approval_required)
        .count();
    let mut evidence = format!(
        "deny by default: a request no route matches is refused; {} role(s), {} route(s); {} request(s) refused in the period",
        p.roles.len(),
        p.routes.len(),
        r.denials.total
    );
    if !open_routes.is_empty() {
        evidence.push_str(&format!(
            "; route(s) open to every role: {}",
            open_routes.join(", ")
        ));
    }
    if unapproved_exports > 0 {
        evidence.push_str(&format!(
            "; {unapproved_exports} export route(s) without a required approval"
        ));
    }
    if r.totals.would_deny > 0 {
        evidence.push_str(&format!(
            "; {} request(s) served in shadow mode that a control would have refused",
            r.totals.would_deny
        ));
    }
    let self_approved = r.exports.iter().filter(|e| e.self_approved).count();
    if self_approved > 0 {
        evidence.push_str(&format!("; {self_approved} self-approved export(s)"));
    }
    out.push(Control {
        reference: "PIPL Art. 51(4)".to_owned(),
        measure: "Operating permissions for personal information processing".to_owned(),
        evidence,
        status: if r.totals.would_deny == 0 && unapproved_exports == 0 && self_approved == 0 {
            Status::Pass
        } else {
            Status::Attention
        },
    });
    out.push(Control {
        reference: "PIPL Art. 51(4)".to_owned(),
        measure: "Regular security education and training of staff".to_owned(),
        evidence: "Not visible to the gateway: keep training records elsewhere.".to_owned(),
        status: Status::OutOfScope,
    });
    let (status, evidence) = match anomaly {
        Some(true) => (
            Status::Pass,
            format!(
                "anomaly detection is configured (`anomaly:`); {} alert(s) in the period",
                r.alerts.len()
            ),
        ),
        Some(false) => (
            Status::Attention,
            format!(
                "the gateway config has no `anomaly:` section; {} alert(s) in the period",
                r.alerts.len()
            ),
        ),
        None if !r.alerts.is_empty() => (
            Status::Pass,
            format!(
                "{} alert(s) in the period show anomaly detection at work (pass --config to check its configuration)",
                r.alerts.len()
            ),
        ),
        None => (
            Status::Attention,
            "no alert in the period and no gateway config given: alerting cannot be shown"
                .to_owned(),
        ),
    };
    out.push(Control {
        reference: "PIPL Art. 51(5)".to_owned(),
        measure: "Emergency plans for personal information security incidents".to_owned(),
        evidence,
        status,
    });
    out.push(Control {
        reference: "PIPL Art. 51(6), Art. 54".to_owned(),
        measure: "Audit of processing (other measures; compliance audits)".to_owned(),
        evidence: format!(
            "{}{}",
            r.chain.summary,
            if r.chain.intact {
                ""
            } else {
                " — THE AUDIT TRAIL DOES NOT VERIFY"
            }
        ),
        status: if r.chain.intact && r.chain.events > 0 {
            Status::Pass
        } else {
            Status::Attention
        },
    });
    out
}
