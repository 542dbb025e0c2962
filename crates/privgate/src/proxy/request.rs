//! The request phase: from a client request head to either a [`Forward`] (what to send
//! upstream and how to treat the answer) or a [`Denial`].
//!
//! Order: identify ([`identify`], `identity/`; 401 with a challenge when no credential is
//! presented or one is refused, never echoing it; then the control phase checks
//! revocation before anything else is decided), normalise the path and query
//! (`path.rs`; 400 when ambiguous), match a policy route (deny by default), decide per
//! role, then build the upstream head, without the client's credentials (trusted identity
//! headers, `X-Api-Key`, and `Authorization` when it carried a bearer token or API key).
//! Socket-free and clock-free (the caller passes `now`), so tests call [`on_request`]
//! directly.
//!
//! Several roles: the caller is served with the first of its roles (in the order its
//! identity lists them) that the route allows, and that role's plan alone. A route's
//! step-up demand is checked here against the token's `acr` and `auth_time` (401 with
//! RFC 9470's challenge when it falls short); rate limits, quotas, approvals and
//! revocation need the state store and are checked next, in `control.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::header::{HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, HOST};
use hyper::http::request::Parts;
use hyper::http::uri::{PathAndQuery, Uri};
use hyper::{HeaderMap, Method, Version};
use privgate_mask::{Format, Plan};
use privgate_policy::{Accept, Decision, Export, Inspect, Mode, OtherContent, RateLimits, StepUp};

use super::headers::strip_hop_by_hop;
use super::path::{normalize_path, query_pairs};
use super::problem::Denial;
use super::State;
use crate::identity::{Identity, API_KEY_HEADER};

/// An allowed request: the upstream head and what the response phase needs.
#[derive(Debug)]
pub struct Forward {
    /// The route's name.
    pub route: String,
    /// The role served.
    pub role: String,
    /// That role's plan on the route.
    pub plan: Arc<Plan>,
    /// The body formats the route allows.
    pub formats: Vec<Format>,
    /// The request method.
    pub method: Method,
    /// The upstream URI (normalised path, query as sent).
    pub uri: Uri,
    /// The upstream headers.
    pub headers: HeaderMap,
    /// The request as an approval names it ([`canonical_target`]).
    pub target: String,
    /// The route's export controls, when it is an export route.
    pub export: Option<Export>,
    /// The route's rate limits.
    pub rate_limit: Option<RateLimits>,
    /// What happens to other content types than `formats` (`other_content`).
    pub other_content: OtherContent,
    /// The `Privgate-Approval` header's value.
    pub approval_id: Option<String>,
    /// Controls in shadow mode that would have refused the request.
    pub shadow: Vec<&'static str>,
    /// Who is asking.
    pub caller: Identity,
    /// The route's request inspection.
    pub inspect: Inspect,
    /// The route's accepted request body fields, if it minimises them.
    pub accept: Option<Arc<Accept>>,
}

/// The header an export presents its approval id in.
pub const APPROVAL_HEADER: &str = "privgate-approval";

/// A refused request, with what the log should say.
#[derive(Debug)]
pub struct Refusal {
    /// The response (boxed: refusals are the rare path).
    pub denial: Box<Denial>,
    /// The route, when one matched.
    pub route: Option<String>,
    /// The caller's role the decision was about, when it is a policy role (for metrics:
    /// names outside the policy never become labels).
    pub role: Option<String>,
}

impl From<Denial> for Refusal {
    fn from(denial: Denial) -> Refusal {
        Refusal {
            denial: Box::new(denial),
            route: None,
            role: None,
        }
    }
}

/// Who is asking: the verified identity, or the 401 to answer (a challenge when no
/// credential was presented, the refusal's code when one was refused); `now` is Unix
/// seconds (for token expiry).
pub fn identify(
    state: &State,
    parts: &Parts,
    peer: SocketAddr,
    now: u64,
) -> Result<Identity, Denial> {
    let identifier = &state.identifier;
    match identifier.identify(&parts.headers, peer.ip(), now) {
        Ok(Some(identity)) => Ok(identity),
        Ok(None) => Err(Denial::unauthenticated(identifier.challenge_missing())),
        Err(e) => Err(Denial::credential_refused(&e, identifier.challenge(&e))),
    }
}

/// Decides about one request head from an identified (and not revoked) `caller`; `now`
/// is Unix seconds (for step-up).
pub fn on_request(
    state: &State,
    parts: &Parts,
    caller: Identity,
    now: u64,
) -> Result<Forward, Refusal> {
    let path = normalize_path(parts.uri.path(), state.fold_case).map_err(|_| Denial::BAD_PATH)?;
    let raw_query = parts.uri.query();
    let pairs = query_pairs(raw_query.unwrap_or_default()).map_err(|_| Denial::BAD_PATH)?;
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Taken once: the request (and its body, through the plan's `Arc`) is served with
    // this policy even if a reload swaps another in meanwhile.
    let live = state.policy.current();
    let policy = &live.policy;
    let (route, _params) = policy
        .match_route(parts.method.as_str(), &path, &pairs)
        .ok_or(Denial::FORBIDDEN)?;
    let refuse = |denial, role: Option<&String>| Refusal {
        denial: Box::new(denial),
        route: Some(route.name.clone()),
        role: role.cloned().or_else(|| {
            caller
                .roles
                .iter()
                .find(|r| policy.roles().any(|p| p == r.as_str()))
                .cloned()
        }),
    };
    let chosen = caller
        .roles
        .iter()
        .find(|role| matches!(policy.decide(role, &route.name), Ok(d) if d != Decision::Denied));
    let Some(role) = chosen else {
        return Err(refuse(Denial::FORBIDDEN, None));
    };
    let plan = policy
        .plan(role, &route.name)
        .ok_or_else(|| refuse(Denial::FORBIDDEN, Some(role)))?;
    // Step-up (RFC 9470): the token must carry an accepted `acr` and a recent enough
    // `auth_time`. In shadow mode a shortfall is only reported.
    let mut shadow = Vec::new();
    if let Some(step_up) = &route.step_up {
        if !step_up_met(&caller, step_up, now) {
            match step_up.mode {
                Mode::Enforce => {
                    return Err(refuse(
                        Denial::step_up(&step_up.acr, step_up.max_age.as_secs()),
                        Some(role),
                    ))
                }
                Mode::Shadow => shadow.push("step_up"),
            }
        }
    }

    let target = canonical_target(&path, &pairs);
    let path_and_query = match raw_query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let uri = Uri::builder()
        .scheme(if state.upstream_https {
            "https"
        } else {
            "http"
        })
        .authority(state.upstream.clone())
        .path_and_query(
            PathAndQuery::try_from(path_and_query)
                .map_err(|_| refuse(Denial::BAD_PATH, Some(role)))?,
        )
        .build()
        .map_err(|_| refuse(Denial::BAD_PATH, Some(role)))?;
    let mut headers = parts.headers.clone();
    upstream_headers(state, &mut headers);
    let value = |s: &str| HeaderValue::from_str(s).ok();
    if let (Some(name), Some(v)) = (&state.forward_user, value(&caller.subject)) {
        headers.insert(name, v);
    }
    if let (Some(name), Some(v)) = (&state.forward_role, value(role)) {
        headers.insert(name, v);
    }
    let approval_id = parts
        .headers
        .get(APPROVAL_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned());
    Ok(Forward {
        route: route.name.clone(),
        role: role.clone(),
        plan: Arc::clone(plan),
        formats: route.formats.clone(),
        method: parts.method.clone(),
        uri,
        headers,
        target,
        export: route.export.clone(),
        rate_limit: route.rate_limit,
        other_content: route.other_content,
        approval_id,
        shadow,
        caller,
        inspect: route.inspect,
        accept: route.accept.clone(),
    })
}

/// Whether `caller`'s authentication satisfies `step_up` at `now` (Unix seconds): an
/// accepted `acr` (any, when the policy lists none) and an `auth_time` no older than
/// `max_age`. Credentials without these claims (API keys, trusted headers) never do.
pub fn step_up_met(caller: &Identity, step_up: &StepUp, now: u64) -> bool {
    let acr_ok = step_up.acr.is_empty()
        || caller
            .acr
            .as_ref()
            .is_some_and(|a| step_up.acr.iter().any(|x| x == a));
    let fresh = caller
        .auth_time
        .is_some_and(|t| t <= now + 60 && now.saturating_sub(t) <= step_up.max_age.as_secs());
    acr_ok && fresh
}

/// The request an approval is bound to: the normalised path, then the query pairs
/// (decoded) sorted and re-encoded, so `?b=2&a=1` and `?a=%31&b=2` are the same request.
pub fn canonical_target(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = pairs.to_vec();
    sorted.sort_unstable();
    let mut out = path.to_owned();
    for (i, (k, v)) in sorted.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        encode_component(k, &mut out);
        out.push('=');
        encode_component(v, &mut out);
    }
    out
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode_component(text: &str, out: &mut String) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The client's headers made fit for the upstream: hop-by-hop headers gone, identity
/// headers and credentials gone (the client's, trusted or not: the upstream learns the
/// identity only from the `forward_identity` headers the gateway sets, and never sees a
/// token or key), `Host` the upstream's, and an uncompressed body asked for.
/// `Authorization` with another scheme (`Basic`, …) is not the gateway's and passes.
pub fn upstream_headers(state: &State, headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    for name in &state.trusted_headers {
        headers.remove(name);
    }
    headers.remove(API_KEY_HEADER);
    if carries_our_credential(headers) {
        headers.remove(AUTHORIZATION);
    }
    for name in [&state.forward_user, &state.forward_role]
        .into_iter()
        .flatten()
    {
        headers.remove(name);
    }
    if let Ok(host) = HeaderValue::from_str(state.upstream.as_str()) {
        headers.insert(HOST, host);
    }
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
}

/// Whether any `Authorization` value uses a scheme the gateway verifies (`Bearer`,
/// `ApiKey`), or cannot be read (and so is not passed on either).
fn carries_our_credential(headers: &HeaderMap) -> bool {
    headers.get_all(AUTHORIZATION).iter().any(|v| {
        let Ok(v) = v.to_str() else { return true };
        let scheme = v.trim().split(' ').next().unwrap_or_default();
        scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey")
    })
}

/// The version the upstream is spoken to with (HTTP/2 clients included).
pub const UPSTREAM_VERSION: Version = Version::HTTP_11;
