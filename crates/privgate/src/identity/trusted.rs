//! Identity headers set by an authenticating proxy in front (`X-Forwarded-User`,
//! `X-Forwarded-Groups`), believed only from peers inside configured CIDRs.
//!
//! From any other peer the headers are ignored here; the proxy strips them before
//! forwarding (`Identifier::trusted_header_names` tells it which). CIDRs are parsed by
//! hand: IPv4 and IPv6 prefixes are a few lines of integer masking, not worth a dependency.
//! An IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`, as a dual-stack listener reports it) is
//! matched as the IPv4 address it is.

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName};

use super::config::TrustedConfig;
use super::error::{AuthError, IdentityError};
use super::{Identity, Source};

/// An address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/8` or a single address; host bits must be zero.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a prefix length outside 0..={max}"))?,
        };
        if prefix == 0 {
            return Err(format!(
                "`{text}` trusts every address; name the auth proxy's addresses"
            ));
        }
        let cidr = Self { addr, prefix };
        let network = cidr.network();
        if network != addr {
            return Err(format!(
                "`{text}` has host bits set; did you mean `{network}/{prefix}`?"
            ));
        }
        Ok(cidr)
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(self.prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(self.prefix)).into()),
        }
    }

    /// Whether `peer` is inside this prefix.
    pub fn contains(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, peer) {
            (IpAddr::V4(net), IpAddr::V4(p)) => {
                u32::from(p) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(p)) => {
                u128::from(p) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// The trusted-header source, checked.
#[derive(Debug)]
pub struct TrustedHeaders {
    pub(super) user: HeaderName,
    pub(super) groups: HeaderName,
    separator: String,
    cidrs: Vec<Cidr>,
}

impl TrustedHeaders {
    /// Checks the configuration: header names, separator and CIDRs.
    pub fn from_config(config: &TrustedConfig) -> Result<Self, IdentityError> {
        let header = |field: &str, name: &str| {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| IdentityError::Trusted {
                field: field.to_owned(),
                problem: format!("`{name}` is not a valid header name"),
            })
        };
        let user = header("user_header", &config.user_header)?;
        let groups = header("groups_header", &config.groups_header)?;
        if user == groups {
            return Err(IdentityError::Trusted {
                field: "groups_header".to_owned(),
                problem: "must differ from `user_header`".to_owned(),
            });
        }
        if config.separator.is_empty() {
            return Err(IdentityError::Trusted {
                field: "separator".to_owned(),
                problem: "must not be empty".to_owned(),
            });
        }
        if config.trusted_cidrs.is_empty() {
            return Err(IdentityError::Trusted {
                field: "trusted_cidrs".to_owned(),
                problem: "name at least one address or CIDR of the auth proxy".to_owned(),
            });
        }
        let cidrs = config
            .trusted_cidrs
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Cidr::parse(text).map_err(|problem| IdentityError::Trusted {
                    field: format!("trusted_cidrs[{i}]"),
                    problem,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            user,
            groups,
            separator: config.separator.clone(),
            cidrs,
        })
    }

    /// The identity the headers carry, if `peer` is trusted and the user header is present.
    pub fn identify(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<Option<Identity>, AuthError> {
        if !self.cidrs.iter().any(|c| c.contains(peer)) {
            return Ok(None);
        }
        let Some(user) = single(headers, &self.user)? else {
            return Ok(None);
        };
        if user.is_empty() {
            return Err(AuthError::InvalidTrustedHeader(self.user.to_string()));
        }
        let roles = single(headers, &self.groups)?
            .map(|groups| {
                groups
                    .split(self.separator.as_str())
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(Identity {
            subject: user.to_owned(),
            roles,
            source: Source::TrustedHeaders,
            acr: None,
            amr: Vec::new(),
            auth_time: None,
            jti: None,
            key_digest: None,
            expires_at: None,
        }))
    }
}

/// The one value of `name`, trimmed; repeated or non-text values are refused.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidTrustedHeader(name.to_string()));
    }
    value
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| AuthError::InvalidTrustedHeader(name.to_string()))
}
