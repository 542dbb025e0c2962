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
}

const fn denial(status: StatusCode, code: &'static str, title: &'static str) -> Denial {
    Denial {
        status,
        code,
        title,
        challenge: None,
    }
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
    /// The route needs a recent second factor (the flow itself is later work).
    pub const STEP_UP: Denial = Denial {
        status: StatusCode::UNAUTHORIZED,
        code: "step-up-required",
        title: "A recent second factor is required",
        challenge: Some(Cow::Borrowed(
            "Bearer realm=\"privgate\", error=\"insufficient_user_authentication\"",
        )),
    };
    /// No route matches, or none of the caller's roles is allowed (deny by default; the
    /// two are not told apart, so callers cannot map routes).
    pub const FORBIDDEN: Denial = denial(StatusCode::FORBIDDEN, "forbidden", "Forbidden");
    /// The export waits for another person's approval.
    pub const APPROVAL: Denial = denial(
        StatusCode::FORBIDDEN,
        "approval-required",
        "This export requires an approval",
    );
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

    /// The `type` URI.
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_BASE}{}", self.code)
    }

    /// The problem+json body.
    pub fn body(&self) -> String {
        // Codes and titles are fixed ASCII without quotes or backslashes.
        format!(
            "{{\"type\":\"{}\",\"title\":\"{}\",\"status\":{}}}",
            self.type_uri(),
            self.title,
            self.status.as_u16()
        )
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
            Denial::STEP_UP,
            Denial::FORBIDDEN,
            Denial::APPROVAL,
            Denial::BAD_PATH,
            Denial::BAD_GATEWAY,
            Denial::TIMEOUT,
            Denial::ENCODING,
            Denial::CONTENT_TYPE,
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
}
