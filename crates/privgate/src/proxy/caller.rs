//! Who is calling: for now only the trusted headers of an authenticating proxy in front
//! (`X-Forwarded-User`, `X-Forwarded-Groups`), believed only from configured networks.
//!
//! This is the seam the identity module (JWT, API keys, trusted headers; being written in
//! `identity/`) will replace: the proxy asks [`identify`] for a [`Caller`] and nothing
//! else. Headers from an untrusted peer are ignored here and stripped before forwarding
//! by `request.rs`.

use std::net::IpAddr;

use hyper::header::HeaderMap;

use crate::config::TrustedHeaders;

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The subject (user id).
    pub subject: String,
    /// The roles, in the order given.
    pub roles: Vec<String>,
}

/// The caller, if `peer` is trusted and sent a non-empty user header.
pub fn identify(
    trusted: Option<&TrustedHeaders>,
    headers: &HeaderMap,
    peer: IpAddr,
) -> Option<Caller> {
    let trusted = trusted?;
    if !trusted.cidrs.iter().any(|c| c.contains(peer)) {
        return None;
    }
    let mut users = headers.get_all(&trusted.user);
    let mut it = users.iter();
    let user = it.next()?;
    if it.next().is_some() {
        return None; // two user headers: ambiguous, believe neither
    }
    let subject = user.to_str().ok()?.trim();
    if subject.is_empty() {
        return None;
    }
    users = headers.get_all(&trusted.groups);
    let roles = users
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    Some(Caller {
        subject: subject.to_owned(),
        roles,
    })
}

#[cfg(test)]
mod tests {
    use hyper::header::{HeaderName, HeaderValue};

    use super::*;
    use crate::config::Cidr;

    fn trusted() -> TrustedHeaders {
        TrustedHeaders {
            cidrs: vec![Cidr::parse("10.0.0.0/8").unwrap()],
            user: HeaderName::from_static("x-forwarded-user"),
            groups: HeaderName::from_static("x-forwarded-groups"),
        }
    }

    fn headers(user: &'static str, groups: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-user", HeaderValue::from_static(user));
        h.insert("x-forwarded-groups", HeaderValue::from_static(groups));
        h
    }

    #[test]
    fn trusted_peers_are_believed() {
        let c = identify(
            Some(&trusted()),
            &headers("u1", "doctor, auditor"),
            "10.2.3.4".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(c.subject, "u1");
        assert_eq!(c.roles, ["doctor", "auditor"]);
    }

    #[test]
    fn others_are_not() {
        let h = headers("u1", "admin");
        assert_eq!(
            identify(Some(&trusted()), &h, "192.168.1.1".parse().unwrap()),
            None
        );
        assert_eq!(identify(None, &h, "10.0.0.1".parse().unwrap()), None);
        assert_eq!(
            identify(
                Some(&trusted()),
                &headers(" ", "admin"),
                "10.0.0.1".parse().unwrap()
            ),
            None
        );
        let mut two = headers("u1", "admin");
        two.append("x-forwarded-user", HeaderValue::from_static("u2"));
        assert_eq!(
            identify(Some(&trusted()), &two, "10.0.0.1".parse().unwrap()),
            None
        );
    }
}
