//! The four-eyes approval API, served by the gateway itself under `/_privgate/` (never
//! forwarded):
//!
//! - `POST /_privgate/approvals` — a caller allowed on an export route asks for one export:
//!   `{"path": "/api/appointments/export?format=csv", "reason": "…", "max_records": 500}`
//!   (optional `method`, default `GET`, and `route`, checked against the route the path
//!   matches). The answer (201) carries the approval's `id`.
//! - `GET /_privgate/approvals[?state=pending]` — the approvals the caller asked for, and
//!   those the caller may decide (an approver role of their route).
//! - `GET /_privgate/approvals/{id}` — one of those.
//! - `POST /_privgate/approvals/{id}/approve` and `…/reject` — by an identity holding a
//!   role that `approves` the route, never the requester, with a fresh second factor: the
//!   route's `step_up` demand, or at least an authentication of the last 15 minutes.
//!
//! An approval is bound to its requester, its route and its request (normalised path and
//! canonical query: [`canonical_target`]), expires `state.approval_ttl` after it is asked
//! for, caps the export's records, and is used once (`control.rs` checks and spends it).
//! Every state change is counted and logged with the approval id and route, never the
//! reason or a subject.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use privgate_policy::{Decision, Mode, Policy, StepUp};
use serde::Deserialize;
use serde_json::json;

use super::control::check_revoked;
use super::path::{normalize_path, query_pairs};
use super::problem::Denial;
use super::request::{canonical_target, identify, step_up_met};
use super::{ProxyBody, State};
use crate::identity::Identity;
use crate::store::{new_approval_id, Approval, ApprovalState, Transition};

/// The prefix of the gateway's own endpoints.
pub const PREFIX: &str = "/_privgate";

/// The largest request body the API reads.
const MAX_BODY: usize = 16 * 1024;
/// The longest reason accepted, in characters.
const MAX_REASON: usize = 500;
/// What approving demands when the route has no `step_up` of its own.
const DEFAULT_APPROVER_MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// Whether `path` is one of the gateway's own (after normalisation, so `//_privgate/..`
/// or `/x/../_privgate` cannot reach the upstream under this name either).
pub fn is_ours(path: &str) -> bool {
    normalize_path(path, false).is_ok_and(|p| p == PREFIX || p.starts_with("/_privgate/"))
}

/// `POST /_privgate/approvals`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApproval {
    path: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    route: Option<String>,
    reason: String,
    #[serde(default)]
    max_records: Option<u64>,
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<ProxyBody> {
    let mut r = Response::new(ProxyBody::from(Bytes::from(value.to_string())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn problem(
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: &'static str,
) -> Denial {
    Denial::own(status, code, title, Some(detail))
}

fn bad_request(detail: &'static str) -> Denial {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "approval-request-invalid",
        "The approval request is not valid",
        detail,
    )
}

const NOT_FOUND: &str = "no approval with this id is visible to you";

/// The JSON view of an approval at `now`.
fn view(a: &Approval, now: u64) -> serde_json::Value {
    json!({
        "id": a.id,
        "state": a.state.as_str(),
        "expired": a.expired(now),
        "route": a.route,
        "request": a.target,
        "reason": a.reason,
        "max_records": a.max_records,
        "requester": a.requester,
        "created_at": a.created_at,
        "expires_at": a.expires_at,
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
        "used_at": a.used_at,
    })
}

/// Whether `caller` may see `a`: its requester, or an approver of its route.
fn visible(policy: &Policy, caller: &Identity, a: &Approval) -> bool {
    a.requester == caller.subject || can_approve(policy, caller, &a.route)
}

fn can_approve(policy: &Policy, caller: &Identity, route: &str) -> bool {
    caller.roles.iter().any(|r| policy.can_approve(r, route))
}

/// Serves one request under `/_privgate/`.
pub async fn handle(
    state: &State,
    parts: &Parts,
    body: Incoming,
    peer: SocketAddr,
    now: u64,
) -> Response<ProxyBody> {
    let caller = match identify(state, parts, peer, now) {
        Ok(c) => c,
        Err(d) => return d.response(),
    };
    if let Err(d) = check_revoked(state, &caller).await {
        return d.response();
    }
    let path = normalize_path(parts.uri.path(), false).unwrap_or_default();
    let segments: Vec<&str> = path
        .trim_start_matches(PREFIX)
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let result = match (&parts.method, segments.as_slice()) {
        (&Method::POST, ["approvals"]) => create(state, &caller, body, now).await,
        (&Method::GET, ["approvals"]) => list(state, &caller, parts.uri.query(), now).await,
        (&Method::GET, ["approvals", id]) => show(state, &caller, id, now).await,
        (&Method::POST, ["approvals", id, "approve"]) => {
            decide(state, &caller, id, ApprovalState::Approved, now).await
        }
        (&Method::POST, ["approvals", id, "reject"]) => {
            decide(state, &caller, id, ApprovalState::Rejected, now).await
        }
        _ => Err(problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such endpoint",
            "the approval API is POST/GET /_privgate/approvals, GET /_privgate/approvals/{id}, POST /_privgate/approvals/{id}/approve or reject",
        )),
    };
    result.unwrap_or_else(|d| d.response())
}

async fn create(
    state: &State,
    caller: &Identity,
    body: Incoming,
    now: u64,
) -> Result<Response<ProxyBody>, Denial> {
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| bad_request("the body must be JSON of at most 16 KiB"))?
        .to_bytes();
    let req: NewApproval = serde_json::from_slice(&bytes).map_err(|_| {
        bad_request("expected {\"path\": \"/export?...\", \"reason\": \"...\", \"max_records\": N} (optional: method, route)")
    })?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(bad_request("`reason` must say why, in 1 to 500 characters"));
    }
    let method = req.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let (raw_path, raw_query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let path = normalize_path(raw_path, state.fold_case)
        .map_err(|_| bad_request("`path` must be an absolute request path"))?;
    let pairs =
        query_pairs(raw_query).map_err(|_| bad_request("the query of `path` is malformed"))?;
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let live = state.policy.current();
    let policy = &live.policy;
    let (route, _) = policy
        .match_route(&method, &path, &pairs)
        .ok_or_else(|| bad_request("no policy route matches this request"))?;
    if req.route.as_deref().is_some_and(|r| r != route.name) {
        return Err(bad_request("`route` is not the route this request matches"));
    }
    let Some(export) = route.export.as_ref().filter(|e| e.approval_required) else {
        return Err(bad_request("this route needs no approval"));
    };
    let allowed = caller
        .roles
        .iter()
        .any(|r| matches!(policy.decide(r, &route.name), Ok(d) if d != Decision::Denied));
    if !allowed {
        return Err(Denial::FORBIDDEN);
    }
    let cap = export.max_records.or(export.quota.map(|q| q.records));
    let max_records = match (req.max_records, cap) {
        (Some(0), _) => return Err(bad_request("`max_records` must be at least 1")),
        (Some(n), Some(c)) if n > c => {
            return Err(bad_request("`max_records` is over the route's own cap"))
        }
        (Some(n), _) => n,
        (None, Some(c)) => c,
        (None, None) => return Err(bad_request("`max_records` is required on this route")),
    };
    let id = new_approval_id().ok_or(Denial::STATE_UNAVAILABLE)?;
    let approval = Approval {
        id,
        requester: caller.subject.clone(),
        route: route.name.clone(),
        target: canonical_target(&path, &pairs),
        reason: reason.to_owned(),
        max_records,
        state: ApprovalState::Pending,
        created_at: now,
        expires_at: now + state.approval_ttl.as_secs(),
        decided_by: None,
        decided_at: None,
        used_at: None,
    };
    state.store.approval_create(&approval).await.map_err(|_| {
        state.metrics.store_error("approval_create");
        Denial::STATE_UNAVAILABLE
    })?;
    state.metrics.approval(ApprovalState::Pending.as_str());
    state
        .audit
        .record(super::audit::approval_event(&approval, &caller.subject));
    tracing::info!(approval = %approval.id, route = %approval.route, max_records, "approval requested");
    Ok(json_response(StatusCode::CREATED, &view(&approval, now)))
}

async fn list(
    state: &State,
    caller: &Identity,
    query: Option<&str>,
    now: u64,
) -> Result<Response<ProxyBody>, Denial> {
    let wanted = query
        .and_then(|q| query_pairs(q).ok())
        .and_then(|p| p.into_iter().find(|(k, _)| k == "state").map(|(_, v)| v));
    let all = state.store.approval_list().await.map_err(|_| {
        state.metrics.store_error("approval_list");
        Denial::STATE_UNAVAILABLE
    })?;
    let live = state.policy.current();
    let items: Vec<serde_json::Value> = all
        .iter()
        .filter(|a| visible(&live.policy, caller, a))
        .filter(|a| wanted.as_deref().is_none_or(|w| w == a.state.as_str()))
        .map(|a| view(a, now))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "approvals": items }),
    ))
}

async fn show(
    state: &State,
    caller: &Identity,
    id: &str,
    now: u64,
) -> Result<Response<ProxyBody>, Denial> {
    let a = state.store.approval_get(id).await.map_err(|_| {
        state.metrics.store_error("approval_get");
        Denial::STATE_UNAVAILABLE
    })?;
    let live = state.policy.current();
    match a {
        Some(a) if visible(&live.policy, caller, &a) => {
            Ok(json_response(StatusCode::OK, &view(&a, now)))
        }
        _ => Err(problem(
            StatusCode::NOT_FOUND,
            "approval-not-found",
            "No such approval",
            NOT_FOUND,
        )),
    }
}

async fn decide(
    state: &State,
    caller: &Identity,
    id: &str,
    to: ApprovalState,
    now: u64,
) -> Result<Response<ProxyBody>, Denial> {
    let unavailable = |op: &str| {
        state.metrics.store_error(op);
        Denial::STATE_UNAVAILABLE
    };
    let a = state
        .store
        .approval_get(id)
        .await
        .map_err(|_| unavailable("approval_get"))?;
    let live = state.policy.current();
    let policy = &live.policy;
    let Some(a) = a.filter(|a| visible(policy, caller, a)) else {
        return Err(problem(
            StatusCode::NOT_FOUND,
            "approval-not-found",
            "No such approval",
            NOT_FOUND,
        ));
    };
    if !can_approve(policy, caller, &a.route) {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "not-an-approver",
            "You may not decide approvals of this route",
            "only an identity with a role that `approves` the route may",
        ));
    }
    if a.requester == caller.subject {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "self-approval",
            "An export cannot be approved by its requester",
            "four eyes: another approver must decide",
        ));
    }
    let demand = policy
        .route(&a.route)
        .and_then(|r| r.step_up.clone())
        .filter(|s| s.mode == Mode::Enforce)
        .unwrap_or(StepUp {
            max_age: DEFAULT_APPROVER_MAX_AGE,
            acr: Vec::new(),
            mode: Mode::Enforce,
        });
    if !step_up_met(caller, &demand, now) {
        state.metrics.control(&a.route, "step_up", "challenged");
        return Err(Denial::step_up(&demand.acr, demand.max_age.as_secs()));
    }
    let t = state
        .store
        .approval_transition(id, ApprovalState::Pending, to, Some(&caller.subject), now)
        .await
        .map_err(|_| unavailable("approval_transition"))?;
    match t {
        Transition::Done(a) => {
            state.metrics.approval(to.as_str());
            state
                .audit
                .record(super::audit::approval_event(&a, &caller.subject));
            tracing::info!(approval = %a.id, route = %a.route, state = to.as_str(), "approval decided");
            Ok(json_response(StatusCode::OK, &view(&a, now)))
        }
        Transition::NotFound => Err(problem(
            StatusCode::NOT_FOUND,
            "approval-not-found",
            "No such approval",
            NOT_FOUND,
        )),
        Transition::Conflict(_) => Err(problem(
            StatusCode::CONFLICT,
            "approval-not-pending",
            "The approval is no longer pending",
            "it was already decided or used, or it has expired",
        )),
    }
}
