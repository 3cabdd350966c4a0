//! The cluster credential (design §3 guarantee 8): the shared secret every scheduler and agent
//! presents on gRPC calls, required by both binaries. Running without one is an explicit,
//! loudly logged choice whose gRPC services listen on loopback only, so that no other machine
//! can push jobs to an agent or forge reports to a scheduler.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use crate::settings::{ConfigError, Setting, Sources, parse_bool};

pub const CLUSTER_TOKEN: Setting = Setting::secret(
    "cluster_token",
    "CRONY_CLUSTER_TOKEN",
    "shared secret of every scheduler and agent of the cluster, at least 32 characters (e.g. `openssl rand -hex 32`); keys async report tokens too [required, unless --insecure-no-cluster-token]",
);
pub const INSECURE_NO_CLUSTER_TOKEN: Setting = Setting::switch(
    "insecure_no_cluster_token",
    "CRONY_INSECURE_NO_CLUSTER_TOKEN",
    "run without a cluster token, for a local experiment only: gRPC accepts any caller, so it listens on loopback only, and async results are refused [default: off]",
);

/// Shorter tokens are refused: a report token handed to a job's target is an HMAC under a key
/// derived from this secret, so whoever runs a target can try guesses offline, as fast as
/// they can compute HMACs; 32 random hex characters (128 bits) put that out of reach.
pub const MIN_TOKEN_LEN: usize = 32;
/// Longer than any sensible secret; it travels in the metadata of every gRPC call.
const MAX_TOKEN_LEN: usize = 1024;

/// The secret itself. `Debug` never shows it.
#[derive(Clone)]
pub struct ClusterToken(Arc<str>);

impl std::fmt::Debug for ClusterToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterToken(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterTokenError {
    #[error(
        "must be at least {MIN_TOKEN_LEN} characters (it has {0}); make one with `openssl rand -hex 32`"
    )]
    TooShort(usize),
    #[error("must be at most {MAX_TOKEN_LEN} characters")]
    TooLong,
    // gRPC metadata carries visible ASCII only.
    #[error("must be printable ASCII without spaces (e.g. `openssl rand -hex 32`)")]
    NotPrintable,
}

impl ClusterToken {
    pub fn parse(raw: &str) -> Result<Self, ClusterTokenError> {
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClusterTokenError::NotPrintable);
        }
        match raw.len() {
            n if n < MIN_TOKEN_LEN => Err(ClusterTokenError::TooShort(n)),
            n if n > MAX_TOKEN_LEN => Err(ClusterTokenError::TooLong),
            _ => Ok(Self(raw.into())),
        }
    }

    /// The secret, for the gRPC metadata and key derivation; never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// How the gRPC services of a process authenticate their callers.
#[derive(Debug, Clone)]
pub enum ClusterAuth {
    /// Every call must carry this token, and every call this process makes carries it.
    Token(ClusterToken),
    /// No credential (`--insecure-no-cluster-token`): any caller is accepted, so the gRPC
    /// service listens on loopback only and async report tokens are not issued.
    InsecureLoopbackOnly,
}

impl ClusterAuth {
    /// Reads [`CLUSTER_TOKEN`] and [`INSECURE_NO_CLUSTER_TOKEN`]: exactly one of them.
    pub fn load(src: &Sources) -> Result<Self, ConfigError> {
        let token = src.get(&CLUSTER_TOKEN, |r| {
            ClusterToken::parse(r).map_err(|e| e.to_string())
        })?;
        let insecure = src
            .get(&INSECURE_NO_CLUSTER_TOKEN, parse_bool)?
            .unwrap_or(false);
        match (token, insecure) {
            (Some(token), false) => Ok(Self::Token(token)),
            (None, true) => Ok(Self::InsecureLoopbackOnly),
            (Some(_), true) => {
                let origin =
                    |s: &Setting| src.raw(s).map(|(_, o)| o.to_string()).unwrap_or_default();
                Err(ConfigError::Unusable(format!(
                    "both {} and {} are set: a cluster token, or none at all; not both",
                    origin(&CLUSTER_TOKEN),
                    origin(&INSECURE_NO_CLUSTER_TOKEN)
                )))
            }
            (None, false) => Err(ConfigError::Unusable(
                "no cluster credential: set CRONY_CLUSTER_TOKEN or CRONY_CLUSTER_TOKEN_FILE \
                 (the same secret on every scheduler and agent), or \
                 --insecure-no-cluster-token for a local experiment"
                    .to_owned(),
            )),
        }
    }

    pub fn token(&self) -> Option<&ClusterToken> {
        match self {
            Self::Token(token) => Some(token),
            Self::InsecureLoopbackOnly => None,
        }
    }

    /// Where a gRPC service may listen: `configured` with a token; without one, loopback on
    /// the same port (`configured` itself when it already is loopback).
    pub fn listen_addr(&self, configured: SocketAddr) -> SocketAddr {
        match self {
            Self::Token(_) => configured,
            Self::InsecureLoopbackOnly => loopback(configured),
        }
    }
}

/// The warning every start without a token logs, naming what it costs.
pub fn warn_insecure(service: &str, configured: SocketAddr, listen: SocketAddr) {
    let moved = if configured == listen {
        String::new()
    } else {
        format!(" (instead of the configured {configured})")
    };
    tracing::warn!(
        "INSECURE: running without a cluster token (--insecure-no-cluster-token): {service} \
         accepts calls from anyone who can reach it, so it listens on loopback only, \
         {listen}{moved}; async results (report tokens) are refused. Set \
         CRONY_CLUSTER_TOKEN or CRONY_CLUSTER_TOKEN_FILE for anything but a local experiment"
    );
}

fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_loopback() {
        return addr;
    }
    let ip = match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_spaced_or_unprintable_tokens_are_refused_without_echoing_them() {
        let err = ClusterToken::parse("hunter2").unwrap_err();
        assert_eq!(err, ClusterTokenError::TooShort(7));
        assert!(!err.to_string().contains("hunter2"));
        assert!(ClusterToken::parse(&"a b".repeat(20)).is_err());
        assert!(ClusterToken::parse(&"é".repeat(40)).is_err());
        let token = ClusterToken::parse(&"x".repeat(MIN_TOKEN_LEN)).unwrap();
        assert_eq!(format!("{token:?}"), "ClusterToken(..)");
    }

    #[test]
    fn without_a_token_only_loopback_is_listened_on() {
        let insecure = ClusterAuth::InsecureLoopbackOnly;
        let any: SocketAddr = "0.0.0.0:9191".parse().unwrap();
        assert_eq!(insecure.listen_addr(any), "127.0.0.1:9191".parse().unwrap());
        let v6: SocketAddr = "[::]:0".parse().unwrap();
        assert_eq!(insecure.listen_addr(v6), "[::1]:0".parse().unwrap());
        let token = ClusterAuth::Token(ClusterToken::parse(&"t".repeat(40)).unwrap());
        assert_eq!(token.listen_addr(any), any);
    }
}
