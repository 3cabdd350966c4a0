//! `CRONY_METRICS_TOKEN`: an optional bearer token that `/metrics` of both binaries asks for.
//! Metrics name jobs and agents, so a cluster that exposes its metrics ports beyond the
//! scraper can require it; Prometheus sends it with `authorization: {credentials: …}`.

use sha2::{Digest, Sha256};

use crate::settings::Setting;

pub const METRICS_TOKEN: Setting = Setting::secret(
    "metrics_token",
    "CRONY_METRICS_TOKEN",
    "bearer token /metrics requires (Prometheus `authorization`) [default: none, /metrics open]",
);

/// The configured token, kept only as its digest so it never sits in memory in the clear
/// longer than start-up, and so comparing two digests leaks nothing through timing.
#[derive(Clone)]
pub struct MetricsToken([u8; 32]);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

impl MetricsToken {
    /// At least 16 characters: anything shorter is guessable over a scrape port.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() < 16 {
            return Err("must be at least 16 characters (e.g. openssl rand -hex 16)".into());
        }
        Ok(Self(Sha256::digest(raw.as_bytes()).into()))
    }

    /// Whether an `Authorization` header value is `Bearer <this token>`.
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(given) = authorization
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        given == self.0
    }
}

/// The answer `/metrics` gives: `None` to serve, or why not (for a 401).
pub fn refusal(token: Option<&MetricsToken>, authorization: Option<&[u8]>) -> Option<&'static str> {
    match token {
        None => None,
        Some(t) if t.admits(authorization) => None,
        Some(_) => Some("send Authorization: Bearer <CRONY_METRICS_TOKEN>\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token = MetricsToken::parse("scrape-secret-0123456789").unwrap();
        assert!(token.admits(Some(b"Bearer scrape-secret-0123456789")));
        assert!(!token.admits(Some(b"Bearer scrape-secret-012345678")));
        assert!(!token.admits(Some(b"scrape-secret-0123456789")));
        assert!(!token.admits(None));
        assert!(refusal(None, None).is_none());
        assert!(refusal(Some(&token), Some(b"Bearer nope")).is_some());
        assert!(MetricsToken::parse("short").is_err());
    }
}
