//! The control phase: what needs the state store before a request may go upstream —
//! revocation, rate limits, and for export routes the approval, the record cap and the
//! quota. It runs after the request phase (`request.rs`: identity, route, role, step-up)
//! and decides how many records the response may carry ([`Admission::record_limit`]);
//! the body phase (`body.rs`) enforces that limit mid-stream and settles the quota.
//!
//! Order: revocation ([`check_revoked`], right after identification, before the route
//! is even matched: a revoked caller learns nothing else), rate limits (identity, role,
//! route), then the export's approval (present, the caller's own, for this route
//! and these parameters, approved, unexpired, and atomically marked used), then the
//! quota reservation. Each control in `shadow` mode computes its decision, counts it as
//! `would_deny` and lets the request through. When the store cannot answer, exports are
//! refused with 503 unless `state.on_unavailable.exports: allow`, and other requests go
//! on unmetered unless `state.on_unavailable.other: deny`.
//!
//! Subjects never appear in store keys in clear: rate-limit and quota keys carry a
//! SHA-256 prefix of the subject.

use privgate_policy::{Mode, Rate};

use super::problem::Denial;
use super::request::Forward;
use super::State;
use crate::identity::Identity;
use crate::store::{ApprovalState, RateDecision, Reservation, RevocationKind, Transition};

/// What the control phase allows.
#[derive(Debug, Default)]
pub struct Admission {
    /// Most records the response may carry (cut there, visibly incomplete).
    pub record_limit: Option<u64>,
    /// The quota reservation to settle when the response ends.
    pub reservation: Option<Reservation>,
    /// A shadow-mode cap: reported as `would_deny` if the response goes over it.
    pub shadow_cap: Option<u64>,
    /// The approval used, if any.
    pub approval: Option<String>,
}

/// A short, stable digest of a subject for store keys.
fn subject_key(subject: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, subject.as_bytes())
        .as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `caller` (or the token or key it presented) is revoked: `Err` is the
/// refusal, a revocation or the store failing (closed for everyone: a caller whose
/// revocation cannot be checked is not let in, unless `on_unavailable.other: allow`).
pub async fn check_revoked(state: &State, caller: &Identity) -> Result<(), Denial> {
    let mut keys = vec![(RevocationKind::Subject, caller.subject.as_str())];
    if let Some(jti) = &caller.jti {
        keys.push((RevocationKind::Jti, jti));
    }
    if let Some(d) = &caller.key_digest {
        keys.push((RevocationKind::ApiKey, d));
    }
    match state.store.is_revoked(&keys).await {
        Ok(false) => Ok(()),
        Ok(true) => {
            state.metrics.control("", "revocation", "denied");
            Err(Denial::revoked(state.identifier.challenge_missing()))
        }
        Err(_) => {
            state.metrics.store_error("is_revoked");
            if state.other_fail_open {
                Ok(())
            } else {
                Err(Denial::STATE_UNAVAILABLE)
            }
        }
    }
}

/// Runs the controls for an allowed request at `now` (Unix seconds).
pub async fn admit(state: &State, f: &Forward, now: u64) -> Result<Admission, Denial> {
    let metrics = &state.metrics;
    let route = f.route.as_str();
    let is_export = f.export.is_some();
    let fail_open = if is_export {
        state.exports_fail_open
    } else {
        state.other_fail_open
    };
    let unavailable = |operation: &str| {
        metrics.store_error(operation);
        metrics.control(route, "state", "unavailable");
        tracing::warn!(route, operation, "state backend unavailable");
    };

    for control in &f.shadow {
        metrics.control(route, control, "would_deny");
    }
    // Only rate limits and quotas need it; computed at most once.
    let who = if f.rate_limit.is_some() || f.export.is_some() {
        subject_key(&f.caller.subject)
    } else {
        String::new()
    };

    // Rate limits.
    if let Some(limits) = f.rate_limit {
        let scopes: [(&'static str, Option<Rate>, &str); 3] = [
            ("identity", limits.per_identity, &who),
            ("role", limits.per_role, &f.role),
            ("route", limits.per_route, ""),
        ];
        for (scope, rate, key) in scopes {
            let Some(rate) = rate else { continue };
            let key = format!("rl:{route}:{scope}:{key}");
            match state.store.rate(&key, rate).await {
                Ok(RateDecision::Allowed) => {}
                Ok(RateDecision::Limited { retry_after }) => match limits.mode {
                    Mode::Enforce => {
                        metrics.control(route, "rate_limit", "denied");
                        return Err(Denial::rate_limited(
                            scope,
                            rate.count,
                            rate.per.as_secs().max(1),
                            retry_after,
                        ));
                    }
                    Mode::Shadow => metrics.control(route, "rate_limit", "would_deny"),
                },
                Err(_) if fail_open => unavailable("rate"),
                Err(_) => {
                    unavailable("rate");
                    return Err(Denial::STATE_UNAVAILABLE);
                }
            }
        }
    }

    let Some(export) = &f.export else {
        return Ok(Admission::default());
    };
    let enforce = export.mode == Mode::Enforce;
    let mut admission = Admission::default();
    let refuse = |control: &str, denial: Denial| {
        if enforce {
            metrics.control(route, control, "denied");
            Err(denial)
        } else {
            metrics.control(route, control, "would_deny");
            Ok(())
        }
    };

    // Approval: checked first (read only), spent only once the quota let the export
    // through, so a refused export keeps its approval.
    let mut cap = export.max_records;
    let mut approval = None;
    if export.approval_required {
        match &f.approval_id {
            None => refuse("approval", Denial::APPROVAL)?,
            Some(id) => match check_approval(state, f, id, now).await {
                Ok(Ok(max)) => {
                    cap = Some(cap.map_or(max, |c| c.min(max)));
                    approval = Some(id.clone());
                }
                Ok(Err(why)) => refuse("approval", Denial::approval_invalid(why))?,
                Err(()) if state.exports_fail_open => unavailable("approval"),
                Err(()) => {
                    unavailable("approval");
                    return Err(Denial::STATE_UNAVAILABLE);
                }
            },
        }
    }

    // Quota: reserve what this response may serve. One counter per identity and window
    // length, shared by every export route with that window (the clinic's CSV, NDJSON
    // and JSON exports draw on one daily allowance, not three).
    let mut granted = None;
    if let Some(quota) = export.quota {
        let key = format!("q:{}:{who}", quota.window.as_secs());
        let want = cap.unwrap_or(quota.records).min(quota.records);
        match state.store.quota_reserve(&key, quota, want).await {
            Ok(r) if r.granted == 0 => {
                let retry = std::time::Duration::from_secs(r.window_end.saturating_sub(now).max(1));
                refuse(
                    "quota",
                    Denial::quota_exceeded(quota.records, quota.window.as_secs(), retry),
                )?;
            }
            Ok(r) => {
                granted = Some(r.granted);
                admission.reservation = Some(r);
            }
            Err(_) if state.exports_fail_open => unavailable("quota_reserve"),
            Err(_) => {
                unavailable("quota_reserve");
                return Err(Denial::STATE_UNAVAILABLE);
            }
        }
    }

    // Spend the approval (atomically: two requests racing for it, one wins).
    if let Some(id) = approval {
        let spent = state
            .store
            .approval_transition(&id, ApprovalState::Approved, ApprovalState::Used, None, now)
            .await;
        let why = match spent {
            Ok(Transition::Done(a)) => {
                state
                    .audit
                    .record(super::audit::approval_event(&a, &f.caller.subject));
                None
            }
            Ok(Transition::NotFound) => Some("no approval has this id"),
            Ok(Transition::Conflict(_)) => Some("the approval was already used"),
            Err(_) if state.exports_fail_open => {
                unavailable("approval_transition");
                None
            }
            Err(_) => {
                unavailable("approval_transition");
                release(state, admission.reservation.take());
                return Err(Denial::STATE_UNAVAILABLE);
            }
        };
        match why {
            None => {
                metrics.control(route, "approval", "accepted");
                metrics.approval(ApprovalState::Used.as_str());
                tracing::info!(route, approval = %id, "approval used");
                admission.approval = Some(id);
            }
            Some(why) => {
                if enforce {
                    release(state, admission.reservation.take());
                }
                refuse("approval", Denial::approval_invalid(why))?;
            }
        }
    }
    let limit = match (cap, granted) {
        (Some(c), Some(g)) => Some(c.min(g)),
        (c, g) => c.or(g),
    };
    if enforce {
        admission.record_limit = limit;
    } else {
        admission.shadow_cap = limit;
    }
    Ok(admission)
}

/// Gives a spent approval back (its export failed before serving anything: the upstream
/// did not answer, or its answer was refused), in the background: `used` → `approved`,
/// audited as `returned`. It can then be used again until it expires.
pub(super) fn give_back(state: &std::sync::Arc<State>, id: Option<&str>) {
    let (Some(id), Ok(rt)) = (id, tokio::runtime::Handle::try_current()) else {
        return;
    };
    let (state, id) = (std::sync::Arc::clone(state), id.to_owned());
    rt.spawn(async move {
        let now = super::unix_now();
        let moved = state
            .store
            .approval_transition(&id, ApprovalState::Used, ApprovalState::Approved, None, now)
            .await;
        match moved {
            Ok(Transition::Done(a)) => {
                let mut event = super::audit::approval_event(&a, "privgate");
                if let privgate_audit::Event::Approval(e) = &mut event {
                    e.state = privgate_audit::ApprovalState::Returned;
                }
                state.audit.record(event);
                state.metrics.approval("returned");
                tracing::info!(approval = %id, "approval given back: its export served nothing");
            }
            Ok(_) => {}
            Err(_) => {
                state.metrics.store_error("approval_transition");
                tracing::warn!(approval = %id, "cannot give an approval back; it stays used");
            }
        }
    });
}

/// Gives a reservation back whole (the request was refused after it was made).
pub(super) fn release(state: &State, r: Option<Reservation>) {
    if let Some(r) = r {
        super::body::settle(std::sync::Arc::clone(&state.store), r, 0);
    }
}

/// Checks the approval `id` against the request, without spending it: its cap, or the
/// fixed reason it cannot be used; the outer error means the store did not answer.
async fn check_approval(
    state: &State,
    f: &Forward,
    id: &str,
    now: u64,
) -> Result<Result<u64, &'static str>, ()> {
    let Some(a) = state.store.approval_get(id).await.map_err(|_| ())? else {
        return Ok(Err("no approval has this id"));
    };
    if a.requester != f.caller.subject {
        return Ok(Err("the approval was asked for by someone else"));
    }
    if a.route != f.route {
        return Ok(Err("the approval is for another route"));
    }
    if a.target != f.target {
        return Ok(Err("the approval is for other parameters"));
    }
    if a.expired(now) {
        return Ok(Err("the approval has expired"));
    }
    match a.state {
        ApprovalState::Approved => Ok(Ok(a.max_records)),
        ApprovalState::Pending => Ok(Err("the approval is still pending")),
        ApprovalState::Rejected => Ok(Err("the approval was rejected")),
        ApprovalState::Used => Ok(Err("the approval was already used")),
    }
}
