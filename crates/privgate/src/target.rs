//! Which role and route a command is about, resolved against a loaded policy.
//!
//! `policy explain` and `mask` both take a role and a route, the route either by name or
//! by the request that would reach it (method, path, query), as the gateway matches it.
//! This module turns those arguments into names the policy knows, or into an error that
//! suggests the closest known name. It prints nothing; the commands do (`policy_cmd.rs`,
//! `mask_cmd.rs`).

use anyhow::{anyhow, Result};
use privgate_policy::{did_you_mean, Policy, Route};

use crate::cli::RouteChoice;

/// A route found for a command, and how.
#[derive(Debug)]
pub struct Target<'p> {
    /// The route.
    pub route: &'p Route,
    /// The request it was matched by (`GET /api/patients/42?x=1`), if given by path.
    pub request: Option<String>,
    /// Path parameters captured by the match.
    pub params: Vec<(String, String)>,
}

/// Checks that `role` is a role of the policy, suggesting a close name when it is not.
pub fn role(policy: &Policy, role: &str) -> Result<()> {
    if policy.roles().any(|r| r == role) {
        return Ok(());
    }
    Err(anyhow!(
        "unknown role `{role}`{}",
        hint(role, &policy.roles().collect::<Vec<_>>())
    ))
}

/// Finds the route named by `choice`, or the first route matching its request.
pub fn route<'p>(
    policy: &'p Policy,
    choice: &RouteChoice,
    method: &str,
    query: &[(String, String)],
) -> Result<Target<'p>> {
    if let Some(name) = &choice.route {
        let route = policy.route(name).ok_or_else(|| {
            anyhow!(
                "unknown route `{name}`{}",
                hint(
                    name,
                    &policy
                        .routes()
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                )
            )
        })?;
        return Ok(Target {
            route,
            request: None,
            params: Vec::new(),
        });
    }
    let full = choice.path.as_deref().unwrap_or("/");
    let (path, inline_query) = full.split_once('?').unwrap_or((full, ""));
    let mut pairs: Vec<(&str, &str)> = inline_query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| q.split_once('=').unwrap_or((q, "")))
        .collect();
    pairs.extend(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let method = method.to_ascii_uppercase();
    let request = if pairs.is_empty() {
        format!("{method} {path}")
    } else {
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{method} {path}?{}", q.join("&"))
    };
    match policy.match_route(&method, path, &pairs) {
        Some((route, params)) => Ok(Target {
            route,
            request: Some(request),
            params,
        }),
        None => Err(anyhow!(
            "no route matches `{request}`: the gateway denies requests no route matches \
             (routes: {})",
            policy
                .routes()
                .iter()
                .map(|r| format!("{} {}", r.methods.join("|"), r.path.source))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// "; did you mean `x`?" and the known names, for an unknown `word`.
fn hint(word: &str, known: &[&str]) -> String {
    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    match did_you_mean(word, known.iter().copied()) {
        Some(k) => format!("; did you mean `{k}`? (known: {})", list.join(", ")),
        None => format!(" (known: {})", list.join(", ")),
    }
}
