//! Denials and gateway errors as RFC 9457 `application/problem+json` responses.
//!
//! Every refusal the proxy makes is one [`Denial`]: a status, a stable problem code (the
//! `type` URI is `https://privgate.dev/problems/<code>`) and a fixed title. Nothing from
//! the request or the upstream is ever echoed. The phases (`request.rs`, `response.rs`)
//! choose the denial; this module only renders it. A refused credential's code is its
//! [`AuthError::code`] and its challenge is the identity module's, which holds no
//! request data either.

use std::borrow::Cow;

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};

use crate::identity::AuthError;

/// The base of problem `type` URIs.
pub const PROBLEM_BASE: &str = "https://privgate.dev/problems/";

/// Extension members of a problem: names and lists of strings.
pub type Members = [(&'static str, Vec<String>)];

/// A refusal: status, stable code, fixed title, and an optional challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code (the last part of the `type` URI, and the log's `decision`).
    pub code: &'static str,
    /// A short, fixed human title.
    pub title: &'static str,
    /// `WWW-Authenticate` for 401s.
    pub challenge: Option<Cow<'static, str>>,
    /// A fixed explanation (`detail`), never built from request data.
    pub detail: Option<&'static str>,
    /// Further response headers (`Retry-After`, `RateLimit`, …), made of numbers and
    /// policy names only.
    pub headers: Vec<(&'static str, String)>,
    /// Extension members of the problem (RFC 9457 §3.2), each a list of strings: rule
    /// ids and classes of a blocked request, paths of refused fields. Never values.
    /// Boxed: refusals are the rare path, and `Result<_, Denial>` stays small.
    pub members: Option<Box<Members>>,
}

const fn denial(status: StatusCode, code: &'static str, title: &'static str) -> Denial {
    Denial {
        status,
        code,
        title,
        challenge: None,
        detail: None,
        headers: Vec::new(),
        members: None,
    }
}

/// Whole seconds to wait, rounded up (never 0: a client told 0 retries at once).
fn retry_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Denial {
    /// No credential was presented; `challenge` names the schemes a client can use.
    pub fn unauthenticated(challenge: String) -> Denial {
        Denial {
            challenge: Some(Cow::Owned(challenge)),
            ..denial(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            )
        }
    }

    /// A credential was presented and refused: the `type` ends with the error's code;
    /// `challenge` is its `WWW-Authenticate` value. The token or key is never echoed.
    pub fn credential_refused(err: &AuthError, challenge: String) -> Denial {
        Denial {
            challenge: Some(Cow::Owned(challenge)),
            ..denial(
                StatusCode::UNAUTHORIZED,
                err.code(),
                "The credentials were refused",
            )
        }
    }
    /// A refusal of the gateway's own endpoints (`/_privgate/…`), with a fixed detail.
    pub fn own(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: Option<&'static str>,
    ) -> Denial {
        Denial {
            detail,
            ..denial(status, code, title)
        }
    }

    /// The route (or approving) needs a more recent or stronger authentication: RFC 9470's
    /// challenge, with the acceptable `acr` values (when the policy names some) and the
    /// largest age of the authentication in seconds.
    pub fn step_up(acr: &[String], max_age: u64) -> Denial {
        let mut c = String::from(
            "Bearer error=\"insufficient_user_authentication\", \
             error_description=\"A different authentication level is required\"",
        );
        // `acr` values come from the policy, not the request; quotes and backslashes
        // would break the header, so such a value is left out.
        let acr: Vec<&str> = acr
            .iter()
            .map(String::as_str)
            .filter(|a| {
                !a.is_empty()
                    && a.bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            })
            .collect();
        if !acr.is_empty() {
            c.push_str(&format!(", acr_values=\"{}\"", acr.join(" ")));
        }
        c.push_str(&format!(", max_age={max_age}"));
        Denial {
            challenge: Some(Cow::Owned(c)),
            detail: Some("authenticate again with the required method, then retry"),
            ..denial(
                StatusCode::UNAUTHORIZED,
                "step-up-required",
                "A recent second factor is required",
            )
        }
    }

    /// A rate limit was hit: `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit`
    /// headers, the policy named after its scope (`identity`, `role`, `route`).
    pub fn rate_limited(
        scope: &'static str,
        count: u64,
        window: u64,
        retry: std::time::Duration,
    ) -> Denial {
        let t = retry_secs(retry);
        Denial {
            headers: vec![
                ("retry-after", t.to_string()),
                (
                    "ratelimit-policy",
                    format!("\"{scope}\";q={count};w={window}"),
                ),
                ("ratelimit", format!("\"{scope}\";r=0;t={t}")),
            ],
            ..denial(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            )
        }
    }

    /// The identity's record quota on the route is spent until `retry`.
    pub fn quota_exceeded(records: u64, window: u64, retry: std::time::Duration) -> Denial {
        let t = retry_secs(retry);
        Denial {
            headers: vec![
                ("retry-after", t.to_string()),
                (
                    "ratelimit-policy",
                    format!("\"records\";q={records};w={window}"),
                ),
                ("ratelimit", format!("\"records\";r=0;t={t}")),
            ],
            detail: Some("the record quota of this export is spent for the current window"),
            ..denial(
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exceeded",
                "The export quota is spent",
            )
        }
    }

    /// The approval presented cannot be used; `detail` says why in fixed words.
    pub fn approval_invalid(detail: &'static str) -> Denial {
        Denial {
            detail: Some(detail),
            ..denial(
                StatusCode::FORBIDDEN,
                "approval-invalid",
                "The approval cannot be used for this request",
            )
        }
    }

    /// The identity or credential was revoked.
    pub fn revoked(challenge: String) -> Denial {
        Denial {
            challenge: Some(Cow::Owned(challenge)),
            ..denial(
                StatusCode::UNAUTHORIZED,
                "revoked",
                "The credentials were revoked",
            )
        }
    }

    /// The audit trail cannot take events and `audit.on_failure` is `deny`.
    pub const AUDIT_UNAVAILABLE: Denial = denial(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit-unavailable",
        "The audit trail cannot be written; access is refused until it can",
    );

    /// The state backend could not answer and the request needs it.
    pub const STATE_UNAVAILABLE: Denial = denial(
        StatusCode::SERVICE_UNAVAILABLE,
        "state-unavailable",
        "Export control is unavailable; retry later",
    );
    /// No route matches, or none of the caller's roles is allowed (deny by default; the
    /// two are not told apart, so callers cannot map routes).
    pub const FORBIDDEN: Denial = denial(StatusCode::FORBIDDEN, "forbidden", "Forbidden");
    /// The export waits for another person's approval.
    pub const APPROVAL: Denial = Denial {
        status: StatusCode::FORBIDDEN,
        code: "approval-required",
        title: "This export requires an approval",
        challenge: None,
        detail: Some(
            "ask for one with POST /_privgate/approvals, then send its id in Privgate-Approval",
        ),
        headers: Vec::new(),
        members: None,
    };
    /// The path or query could not be normalised safely.
    pub const BAD_PATH: Denial = denial(
        StatusCode::BAD_REQUEST,
        "bad-path",
        "The request path is not acceptable",
    );
    /// The upstream could not be reached or failed.
    pub const BAD_GATEWAY: Denial = denial(
        StatusCode::BAD_GATEWAY,
        "upstream-error",
        "The upstream failed",
    );
    /// The upstream did not answer in time.
    pub const TIMEOUT: Denial = denial(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream-timeout",
        "The upstream did not answer in time",
    );
    /// The upstream used a content encoding the gateway cannot decode.
    pub const ENCODING: Denial = denial(
        StatusCode::BAD_GATEWAY,
        "unsupported-encoding",
        "The upstream response uses an unsupported content encoding",
    );
    /// The upstream's content type is not one the route's policy allows.
    pub const CONTENT_TYPE: Denial = denial(
        StatusCode::BAD_GATEWAY,
        "unexpected-content-type",
        "The upstream response has a content type this route does not allow",
    );

    /// Inspection blocked the request: the signatures' ids and classes that matched
    /// (never the input that matched them).
    pub fn request_blocked(rules: Vec<String>, classes: Vec<String>) -> Denial {
        Denial {
            members: Some(Box::new([("rules", rules), ("classes", classes)])),
            ..denial(
                StatusCode::FORBIDDEN,
                "request-blocked",
                "The request was blocked by the gateway's inspection",
            )
        }
    }

    /// The JSON body has members the route does not accept (their paths, not values).
    pub fn fields_not_accepted(paths: Vec<String>) -> Denial {
        Denial {
            members: Some(Box::new([("fields", paths)])),
            detail: Some("remove the listed fields from the request body and retry"),
            ..denial(
                StatusCode::UNPROCESSABLE_ENTITY,
                "fields-not-accepted",
                "The request body has fields this route does not accept",
            )
        }
    }

    /// The request body is larger than the gateway reads to inspect or minimise it.
    pub const BODY_TOO_LARGE: Denial = denial(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        "The request body is too large for this route",
    );
    /// A route that accepts only listed JSON fields got another kind of body.
    pub const UNSUPPORTED_BODY: Denial = Denial {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported-body",
        title: "The request body cannot be accepted on this route",
        challenge: None,
        detail: Some("this route accepts an application/json request body only"),
        headers: Vec::new(),
        members: None,
    };
    /// A compressed request body on a route that must read it (inspection in `block`
    /// mode, minimisation).
    pub const ENCODED_BODY: Denial = Denial {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported-body",
        title: "The request body cannot be accepted on this route",
        challenge: None,
        detail: Some("send the request body without a Content-Encoding"),
        headers: Vec::new(),
        members: None,
    };
    /// A route that accepts only listed JSON fields got a body that is not JSON.
    pub const MALFORMED_BODY: Denial = denial(
        StatusCode::BAD_REQUEST,
        "malformed-body",
        "The request body is not valid JSON",
    );
    /// The client did not send its request body in time.
    pub const BODY_TIMEOUT: Denial = denial(
        StatusCode::REQUEST_TIMEOUT,
        "body-timeout",
        "The request body was not received in time",
    );

    /// The `type` URI.
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_BASE}{}", self.code)
    }

    /// The problem+json body.
    pub fn body(&self) -> String {
        // Codes and titles are fixed ASCII without quotes; details are fixed text too,
        // but may quote JSON, so the body is built by the JSON serializer.
        let mut body = serde_json::json!({
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status.as_u16(),
        });
        if let Some(d) = self.detail {
            body["detail"] = serde_json::Value::from(d);
        }
        for (name, values) in self.members.iter().flat_map(|m| m.iter()) {
            body[*name] = serde_json::Value::from(values.clone());
        }
        body.to_string()
    }

    /// The whole response.
    pub fn response<B: From<Bytes>>(&self) -> Response<B> {
        let mut r = Response::new(B::from(Bytes::from(self.body())));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            hyper::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(c) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            h.insert(WWW_AUTHENTICATE, c);
        }
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(*name, v);
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_valid_problem_json() {
        for d in [
            Denial::unauthenticated("Bearer realm=\"privgate\"".into()),
            Denial::credential_refused(&AuthError::Expired, "Bearer".into()),
            Denial::step_up(&["mfa".into()], 300),
            Denial::rate_limited("identity", 60, 60, std::time::Duration::from_millis(1500)),
            Denial::quota_exceeded(5000, 86_400, std::time::Duration::from_secs(7)),
            Denial::approval_invalid("the approval was already used"),
            Denial::revoked("Bearer".into()),
            Denial::STATE_UNAVAILABLE,
            Denial::FORBIDDEN,
            Denial::APPROVAL,
            Denial::BAD_PATH,
            Denial::BAD_GATEWAY,
            Denial::TIMEOUT,
            Denial::ENCODING,
            Denial::CONTENT_TYPE,
            Denial::request_blocked(vec!["sqli-union-select".into()], vec!["sqli".into()]),
            Denial::fields_not_accepted(vec!["$.notes".into()]),
            Denial::BODY_TOO_LARGE,
            Denial::UNSUPPORTED_BODY,
            Denial::ENCODED_BODY,
            Denial::MALFORMED_BODY,
            Denial::BODY_TIMEOUT,
        ] {
            let v: serde_json::Value = serde_json::from_str(&d.body()).unwrap();
            assert_eq!(v["status"], d.status.as_u16());
            assert!(v["type"].as_str().unwrap().starts_with(PROBLEM_BASE));
        }
        let r: Response<Bytes> =
            Denial::credential_refused(&AuthError::Expired, "Bearer x".into()).response();
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer x");
        assert!(
            Denial::credential_refused(&AuthError::Expired, String::new())
                .type_uri()
                .ends_with("/token_expired")
        );
    }

    #[test]
    fn the_step_up_challenge_is_rfc_9470s() {
        let r: Response<Bytes> = Denial::step_up(&["mfa".into(), "hwk".into()], 300).response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer error=\"insufficient_user_authentication\", \
             error_description=\"A different authentication level is required\", \
             acr_values=\"mfa hwk\", max_age=300"
        );
        let r: Response<Bytes> = Denial::step_up(&[], 60).response();
        assert!(!r.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("acr_values"));
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let r: Response<Bytes> =
            Denial::rate_limited("identity", 60, 60, std::time::Duration::from_millis(1500))
                .response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(r.headers()["ratelimit-policy"], "\"identity\";q=60;w=60");
        assert_eq!(r.headers()["ratelimit"], "\"identity\";r=0;t=2");
    }
}
