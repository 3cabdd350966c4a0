//! A bound on the HTTP calls in flight to one host (scheme, host and port). A burst of fires
//! to one service — a thousand jobs due at the same second — then runs over a few pooled
//! keep-alive connections instead of opening a thousand at once, which on loopback is several
//! times slower than reusing them, and which a real service may refuse.
//!
//! Hand-written rather than a tower `ConcurrencyLimitLayer`: that bounds one service as a
//! whole, and reqwest's client is one service for every host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Calls in flight to one host when nothing else is configured.
pub const DEFAULT_PER_HOST: usize = 64;

/// Hosts remembered before idle ones are forgotten (jobs may call many distinct hosts).
const PRUNE_AT: usize = 1024;

#[derive(Debug, Clone)]
pub struct HostLimits {
    per_host: usize,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl HostLimits {
    pub fn new(per_host: usize) -> Self {
        Self {
            per_host: per_host.max(1),
            hosts: Arc::default(),
        }
    }

    /// Waits for a slot to call `url`'s host; the call holds the permit until its response is
    /// read.
    pub async fn acquire(&self, url: &reqwest::Url) -> OwnedSemaphorePermit {
        let key = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let semaphore = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            if hosts.len() >= PRUNE_AT {
                // Hosts with no call in flight hold nothing worth keeping.
                let full = self.per_host;
                hosts.retain(|_, s| s.available_permits() < full);
            }
            hosts
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        semaphore
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

impl Default for HostLimits {
    fn default() -> Self {
        Self::new(DEFAULT_PER_HOST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[tokio::test]
    async fn a_host_gets_at_most_its_share_and_other_hosts_are_not_held_up() {
        let limits = HostLimits::new(2);
        let a = url("http://127.0.0.1:8080/x");
        let first = limits.acquire(&a).await;
        let _second = limits
            .acquire(&url("http://127.0.0.1:8080/other/path"))
            .await;
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&a)).await;
        assert!(third.is_err(), "a third call to the same host waits");
        // Another port, scheme or host is another host.
        for other in [
            "http://127.0.0.1:8081/",
            "https://127.0.0.1:8080/",
            "http://localhost:8080/",
        ] {
            let other_url = url(other);
            let slot = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&other_url));
            assert!(slot.await.is_ok(), "{other} is not held up");
        }
        drop(first);
        let freed = tokio::time::timeout(Duration::from_secs(5), limits.acquire(&a)).await;
        assert!(freed.is_ok(), "a finished call frees its slot");
    }

    #[tokio::test]
    async fn the_default_port_is_the_same_host_as_the_explicit_one() {
        let limits = HostLimits::new(1);
        let _held = limits.acquire(&url("http://example.test/")).await;
        let explicit = url("http://example.test:80/");
        let waited =
            tokio::time::timeout(Duration::from_millis(50), limits.acquire(&explicit)).await;
        assert!(waited.is_err());
    }
}
