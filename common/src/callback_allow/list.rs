//! The parsed list and its decisions: by name, by address, and for a name's resolved
//! addresses.

use std::net::IpAddr;

use ipnet::IpNet;

use super::refusal::{Refusal, ResolveError};
use crate::settings::Setting;

pub const CALLBACK_ALLOW: Setting = Setting::new(
    "callback_allow",
    "CRONY_CALLBACK_ALLOW",
    "hosts job targets and alert webhooks may call: names, *.suffixes, IPs, CIDR networks, comma-separated [default: any]",
);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AllowError {
    #[error("{0:?} is not a host name, *.suffix, IP address or CIDR network")]
    BadEntry(String),
    #[error("the list is empty (leave it unset to allow every host)")]
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Exact(String),
    /// `.example.com` for `*.example.com`.
    Suffix(String),
}

/// A parsed allow-list. `None` where it is used means "no list": every host is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAllow {
    names: Vec<Name>,
    networks: Vec<IpNet>,
}

/// What can be decided about a host before connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused,
    /// A name matched by no name entry: allowed only if every address it resolves to is in a
    /// network entry, which only the caller, at connect time, can know.
    ByAddress,
}

impl CallbackAllow {
    pub fn parse(raw: &str) -> Result<Self, AllowError> {
        let mut names = Vec::new();
        let mut networks = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || AllowError::BadEntry(entry.to_owned());
            if entry.contains('/') {
                networks.push(entry.parse::<IpNet>().map_err(|_| bad())?.trunc());
            } else if let Ok(ip) = unbracket(entry).parse::<IpAddr>() {
                networks.push(IpNet::from(ip));
            } else if let Some(suffix) = entry.strip_prefix("*.") {
                if !is_host_name(suffix) {
                    return Err(bad());
                }
                names.push(Name::Suffix(format!(".{}", normalise(suffix))));
            } else if is_host_name(entry) {
                names.push(Name::Exact(normalise(entry)));
            } else {
                return Err(bad());
            }
        }
        if names.is_empty() && networks.is_empty() {
            return Err(AllowError::Empty);
        }
        Ok(Self { names, networks })
    }

    /// The decision for `host` as it appears in a URL (an IPv6 address may be bracketed).
    pub fn check_host(&self, host: &str) -> Verdict {
        if let Ok(ip) = unbracket(host).parse::<IpAddr>() {
            return if self.allows_ip(ip) {
                Verdict::Allowed
            } else {
                Verdict::Refused
            };
        }
        if self.allows_name(host) {
            Verdict::Allowed
        } else if self.networks.is_empty() {
            Verdict::Refused
        } else {
            Verdict::ByAddress
        }
    }

    pub fn allows_name(&self, host: &str) -> bool {
        let host = normalise(host);
        self.names.iter().any(|name| match name {
            Name::Exact(exact) => *exact == host,
            Name::Suffix(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        })
    }

    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        // `::ffff:127.0.0.1` is 127.0.0.1 on the wire; judge it as such.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// `host` resolved to `addresses`: allowed when the name itself is, or when every address
    /// is; the error says which address is not (for the execution's error).
    pub fn check_resolved(&self, host: &str, addresses: &[IpAddr]) -> Result<(), ResolveError> {
        if self.allows_name(host) {
            return Ok(());
        }
        match addresses.iter().find(|ip| !self.allows_ip(**ip)) {
            Some(ip) => Err(Refusal::Address {
                host: host.to_owned(),
                ip: *ip,
            }
            .into()),
            None if addresses.is_empty() => Err(ResolveError::NoAddress(host.to_owned())),
            None => Ok(()),
        }
    }

    /// The error for a host refused outright.
    pub fn refusal(host: &str) -> String {
        Refusal::Host(host.to_owned()).to_string()
    }
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn is_host_name(raw: &str) -> bool {
    let raw = raw.trim_end_matches('.');
    !raw.is_empty()
        && raw.len() <= 253
        && raw.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_parse_or_are_named() {
        let list =
            CallbackAllow::parse(" billing.internal, *.svc.local ,10.0.0.0/8,::1/128,192.168.1.7 ")
                .unwrap();
        assert_eq!(list.names.len(), 2);
        assert_eq!(list.networks.len(), 3);
        for bad in ["http://x", "10.0.0.0/33", "*.", "a b", "-x.com", "*.*.x"] {
            assert_eq!(
                CallbackAllow::parse(bad),
                Err(AllowError::BadEntry(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(CallbackAllow::parse(" , "), Err(AllowError::Empty));
    }

    #[test]
    fn names_match_exactly_or_by_suffix() {
        let list = CallbackAllow::parse("Billing.Internal,*.svc.local").unwrap();
        assert_eq!(list.check_host("billing.internal"), Verdict::Allowed);
        assert_eq!(list.check_host("BILLING.internal."), Verdict::Allowed);
        assert_eq!(list.check_host("a.svc.local"), Verdict::Allowed);
        assert_eq!(list.check_host("a.b.svc.local"), Verdict::Allowed);
        // The suffix entry is for names under it, not the name itself or look-alikes.
        assert_eq!(list.check_host("svc.local"), Verdict::Refused);
        assert_eq!(list.check_host("evilsvc.local"), Verdict::Refused);
        assert_eq!(
            list.check_host("billing.internal.evil.com"),
            Verdict::Refused
        );
        // No networks: addresses are refused, even ones a listed name might resolve to.
        assert_eq!(list.check_host("127.0.0.1"), Verdict::Refused);
    }

    #[test]
    fn addresses_match_networks() {
        let list = CallbackAllow::parse("10.0.0.0/8,::1,fd00::/8").unwrap();
        assert_eq!(list.check_host("10.1.2.3"), Verdict::Allowed);
        assert_eq!(list.check_host("11.0.0.1"), Verdict::Refused);
        assert_eq!(list.check_host("[::1]"), Verdict::Allowed);
        assert_eq!(list.check_host("[fd12::1]"), Verdict::Allowed);
        assert_eq!(list.check_host("[::2]"), Verdict::Refused);
        assert!(list.allows_ip(ip("::ffff:10.0.0.1")));
        assert!(!list.allows_ip(ip("::ffff:127.0.0.1")));
        // A name is left to its addresses when the list has networks.
        assert_eq!(list.check_host("anything.example"), Verdict::ByAddress);
    }

    #[test]
    fn resolved_names_need_every_address_allowed() {
        let list = CallbackAllow::parse("10.0.0.0/8,trusted.internal").unwrap();
        assert!(
            list.check_resolved("svc.example", &[ip("10.0.0.1")])
                .is_ok()
        );
        // DNS rebinding: the same name now also (or only) points at loopback.
        let err = list
            .check_resolved("svc.example", &[ip("10.0.0.1"), ip("127.0.0.1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("127.0.0.1") && err.contains("CRONY_CALLBACK_ALLOW"),
            "{err}"
        );
        assert!(list.check_resolved("svc.example", &[]).is_err());
        // A name the operator listed is trusted wherever it points.
        assert!(
            list.check_resolved("trusted.internal", &[ip("127.0.0.1")])
                .is_ok()
        );
    }
}
