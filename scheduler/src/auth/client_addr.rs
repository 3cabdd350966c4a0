//! Which address a request came from, for the login throttle and the audit log: the TCP peer,
//! or, when that peer is a proxy listed in `CRONY_TRUSTED_PROXIES`, the address that proxy saw
//! (the right-most `X-Forwarded-For` entry that is not itself a trusted proxy).
//!
//! Hand-written on `ipnet` rather than taken from `axum-client-ip`: that crate reads the
//! right-most entry of a header unconditionally (it trusts whoever connects), while the rule
//! here needs the peer gate and the walk past several trusted hops; both fit in a few lines.
//!
//! Only `X-Forwarded-For` is read, never `Forwarded` (RFC 7239) or `X-Real-IP`: a proxy that
//! appends to one header usually passes the others through as the client sent them, so
//! honouring a second header would let the client choose which one is believed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// Entries read from the right of the chain at most, so a long header costs bounded work.
const MAX_HOPS: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyListError {
    #[error("{0:?} is not an IP address or CIDR network (e.g. 10.0.0.5 or 10.0.0.0/24)")]
    BadEntry(String),
}

/// The networks whose connections may say, in `X-Forwarded-For`, whom they forward for.
/// Empty (the default): nobody; the TCP peer is always the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// Comma-separated IP addresses and CIDR networks; an empty list trusts nobody.
    pub fn parse(raw: &str) -> Result<Self, ProxyListError> {
        let mut networks = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || ProxyListError::BadEntry(entry.to_owned());
            let network = if entry.contains('/') {
                entry.parse::<IpNet>().map_err(|_| bad())?.trunc()
            } else {
                IpNet::from(parse_ip(entry).ok_or_else(bad)?)
            };
            networks.push(network);
        }
        Ok(Self { networks })
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether a network of the list covers every address (`0.0.0.0/0`, `::/0`): then any
    /// client can claim any address.
    pub fn trusts_everyone(&self) -> bool {
        self.networks.iter().any(|n| n.prefix_len() == 0)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|n| n.contains(&ip))
    }

    /// The client behind a connection from `peer` that carried these `X-Forwarded-For`
    /// values (in header order). From an untrusted peer the header is ignored. From a trusted
    /// one, entries are read from the right (each was appended by the hop to its right) until
    /// one is not a trusted proxy: that is the client. Every entry to its left was written by
    /// the client itself and proves nothing. When the chain ends, or holds something that is
    /// not an address, before an untrusted entry, the last address read is the client.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a [u8]>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let entries: Vec<&[u8]> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(|b| *b == b','))
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev().take(MAX_HOPS) {
            // Bytes, not `str`: a client's non-UTF-8 garbage on the left must not make the
            // proxy's own entry on the right unreadable (and every client look like the proxy).
            let Some(ip) = std::str::from_utf8(entry).ok().and_then(parse_ip) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.networks.iter().map(IpNet::to_string).collect();
        f.write_str(&list.join(","))
    }
}

/// `10.0.0.5`, `::1`, `[::1]`, or with a port (`10.0.0.5:4711`, `[::1]:4711`), as some
/// proxies write them.
fn parse_ip(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    let ip = raw
        .parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            raw.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(trusted: &str, peer: &str, headers: &[&str]) -> IpAddr {
        TrustedProxies::parse(trusted)
            .unwrap()
            .client_address(ip(peer), headers.iter().map(|h| h.as_bytes()))
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(client("", "192.0.2.7", &["198.51.100.1"]), ip("192.0.2.7"));
        assert_eq!(client("", "192.0.2.7", &[]), ip("192.0.2.7"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let forged = &["10.0.0.1, 10.0.0.2"];
        assert_eq!(client("10.0.0.0/8", "192.0.2.7", forged), ip("192.0.2.7"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client() {
        // The client forged the first entry; the proxy appended what it saw.
        let chain = &["198.51.100.1, 192.0.2.7"];
        assert_eq!(client("127.0.0.1", "127.0.0.1", chain), ip("192.0.2.7"));
        // Two proxies: the inner one is trusted too and is skipped.
        let chain = &["198.51.100.1, 192.0.2.7, 10.0.0.5"];
        assert_eq!(
            client("127.0.0.1,10.0.0.0/8", "127.0.0.1", chain),
            ip("192.0.2.7")
        );
        // Several header lines read as one list, in order.
        let lines = &["198.51.100.1", "192.0.2.7"];
        assert_eq!(client("127.0.0.1", "127.0.0.1", lines), ip("192.0.2.7"));
    }

    #[test]
    fn a_chain_of_only_trusted_hops_ends_at_the_left_most_one() {
        assert_eq!(client("10.0.0.0/8", "10.0.0.1", &[]), ip("10.0.0.1"));
        let chain = &["10.0.0.9, 10.0.0.5"];
        assert_eq!(client("10.0.0.0/8", "10.0.0.1", chain), ip("10.0.0.9"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_address_read() {
        let chain = &["unknown, 192.0.2.7"];
        assert_eq!(client("127.0.0.1", "127.0.0.1", chain), ip("192.0.2.7"));
        let chain = &["192.0.2.7, nonsense, 10.0.0.5"];
        assert_eq!(
            client("127.0.0.1,10.0.0.5", "127.0.0.1", chain),
            ip("10.0.0.5")
        );
        // Non-UTF-8 bytes the client sent do not hide the proxy's own entry.
        let value: &[u8] = b"\xff\xfe, 192.0.2.7";
        let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
        assert_eq!(
            trusted.client_address(ip("127.0.0.1"), [value]),
            ip("192.0.2.7")
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_understood() {
        let chain = &["[2001:db8::1]:4711"];
        assert_eq!(client("127.0.0.1", "127.0.0.1", chain), ip("2001:db8::1"));
        let chain = &["192.0.2.7:4711"];
        assert_eq!(client("127.0.0.1", "127.0.0.1", chain), ip("192.0.2.7"));
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
        let chain = &["192.0.2.7"];
        assert_eq!(
            client("127.0.0.1", "::ffff:127.0.0.1", chain),
            ip("192.0.2.7")
        );
    }

    #[test]
    fn only_so_many_hops_are_read() {
        let long = vec!["10.0.0.9"; 100].join(",");
        let chain = [format!("192.0.2.7,{long}")];
        let chain: Vec<&str> = chain.iter().map(String::as_str).collect();
        assert_eq!(client("10.0.0.0/8", "10.0.0.1", &chain), ip("10.0.0.9"));
    }

    #[test]
    fn the_list_parses_addresses_and_networks_and_names_a_bad_entry() {
        let list = TrustedProxies::parse(" 127.0.0.1 , 10.1.2.3/8, ::1 ").unwrap();
        assert_eq!(list.to_string(), "127.0.0.1/32,10.0.0.0/8,::1/128");
        assert!(list.trusts(ip("10.200.0.1")));
        assert!(!list.trusts(ip("11.0.0.1")));
        assert!(!list.trusts_everyone());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .trusts_everyone()
        );
        assert_eq!(
            TrustedProxies::parse("127.0.0.1,proxy.internal"),
            Err(ProxyListError::BadEntry("proxy.internal".into()))
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }
}
