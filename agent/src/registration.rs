//! Registration in etcd: the agent's key under a lease, kept alive, made again after the lease
//! is lost, revoked on graceful shutdown — and the [`Fence`], the instant until which the lease
//! is *certainly* alive, which every fire is checked against (design §3.2).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_client::{Client, PutOptions};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long before the lease could expire the agent stops trusting it. etcd measures the TTL
/// from when it *received* the keep-alive, which is after we sent it, so `sent + ttl` is
/// already conservative; the margin covers clock-rate drift between the two machines.
pub fn fence_margin(ttl: Duration) -> Duration {
    (ttl / 5).min(Duration::from_secs(1))
}

/// The self-fencing state shared by registration (writer) and the clock (reader).
#[derive(Debug, Default)]
pub struct Fence {
    alive_until: Mutex<Option<Instant>>,
    /// Bumped for every new lease, so a reader can tell "same lease" from "registered again".
    lease_generation: AtomicU64,
}

impl Fence {
    /// True while the lease is certainly alive: the agent may fire jobs.
    pub fn is_alive(&self) -> bool {
        self.alive_until()
            .is_some_and(|until| Instant::now() < until)
    }

    pub fn alive_until(&self) -> Option<Instant> {
        *self.alive_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lease_generation(&self) -> u64 {
        self.lease_generation.load(Ordering::SeqCst)
    }

    /// etcd confirmed a keep-alive (or grant) that was sent at `sent` with `ttl` remaining.
    fn confirm(&self, sent: Instant, ttl: Duration) {
        let until = sent + ttl - fence_margin(ttl);
        let mut guard = self.alive_until.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    fn new_lease(&self) {
        self.lease_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The lease is gone (lost or revoked): stop firing at once.
    fn clear(&self) {
        *self.alive_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Why one keep-alive session ended.
enum Ended {
    Cancelled,
    LeaseLost,
    Broken(String),
}

/// Keeps `{prefix}/agents/{id}` alive in etcd.
pub struct Registrar {
    client: Client,
    key: String,
    value: String,
    ttl: Duration,
    fence: std::sync::Arc<Fence>,
}

impl Registrar {
    pub fn new(
        client: Client,
        key: String,
        value: String,
        ttl: Duration,
        fence: std::sync::Arc<Fence>,
    ) -> Self {
        Self {
            client,
            key,
            value,
            ttl,
            fence,
        }
    }

    /// Grants a new lease and puts the agent's key under it; returns the lease id.
    pub async fn register(&mut self) -> Result<i64, etcd_client::Error> {
        let sent = Instant::now();
        let lease = self
            .client
            .lease_grant(self.ttl.as_secs() as i64, None)
            .await?;
        let options = PutOptions::new().with_lease(lease.id());
        self.client
            .put(self.key.as_str(), self.value.as_str(), Some(options))
            .await?;
        self.fence.new_lease();
        self.fence
            .confirm(sent, Duration::from_secs(lease.ttl().max(0) as u64));
        tracing::info!(key = %self.key, lease = lease.id(), ttl = lease.ttl(), "registered in etcd");
        Ok(lease.id())
    }

    /// Keeps `lease` alive until `cancel`, registering again whenever the lease is lost;
    /// revokes the lease on the way out so schedulers see the agent leave at once.
    pub async fn run(mut self, mut lease: i64, cancel: CancellationToken) {
        let mut backoff = Backoff::new();
        loop {
            match self.keep_alive(lease, &cancel).await {
                Ended::Cancelled => break,
                Ended::Broken(why) => {
                    // The lease may well still be alive (etcd restarting, network blip): try the
                    // same lease again; etcd will tell us with TTL 0 if it is gone.
                    tracing::warn!(lease, error = %why, "etcd keep-alive interrupted; retrying");
                    if !backoff.sleep(&cancel).await {
                        break;
                    }
                }
                Ended::LeaseLost => {
                    self.fence.clear();
                    tracing::warn!(lease, "lease expired in etcd; registering again");
                    loop {
                        match self.register().await {
                            Ok(id) => {
                                lease = id;
                                backoff.reset();
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "registration failed; retrying");
                                if !backoff.sleep(&cancel).await {
                                    self.fence.clear();
                                    return;
                                }
                            }
                        }
                    }
                }
            }
        }
        self.fence.clear();
        match tokio::time::timeout(Duration::from_secs(2), self.client.lease_revoke(lease)).await {
            Ok(Ok(_)) => tracing::info!(lease, "lease revoked"),
            Ok(Err(e)) => {
                tracing::warn!(lease, error = %e, "could not revoke lease; it will expire")
            }
            Err(_) => tracing::warn!(lease, "revoking the lease timed out; it will expire"),
        }
    }

    async fn keep_alive(&mut self, lease: i64, cancel: &CancellationToken) -> Ended {
        // Opening the stream sends a first keep-alive and waits for its answer.
        let sent = Instant::now();
        let opened = tokio::select! {
            _ = cancel.cancelled() => return Ended::Cancelled,
            opened = self.client.lease_keep_alive(lease) => opened,
        };
        let (mut keeper, mut stream) = match opened {
            Ok(pair) => pair,
            Err(etcd_client::Error::LeaseKeepAliveError(e)) if e.contains("not found") => {
                return Ended::LeaseLost;
            }
            Err(e) => return Ended::Broken(e.to_string()),
        };
        // etcd renews a lease to its granted TTL, which is the one we asked for.
        self.fence.confirm(sent, self.ttl);
        let mut tick = tokio::time::interval(self.ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Responses come back in request order; remember when each request left.
        let mut in_flight: VecDeque<Instant> = VecDeque::new();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ended::Cancelled,
                _ = tick.tick() => {
                    if in_flight.len() >= 3 {
                        return Ended::Broken("etcd stopped answering keep-alives".into());
                    }
                    in_flight.push_back(Instant::now());
                    if let Err(e) = keeper.keep_alive().await {
                        return Ended::Broken(e.to_string());
                    }
                }
                message = stream.message() => match message {
                    Ok(Some(response)) => {
                        let Some(sent) = in_flight.pop_front() else { continue };
                        if response.ttl() <= 0 {
                            return Ended::LeaseLost;
                        }
                        self.fence.confirm(sent, Duration::from_secs(response.ttl() as u64));
                    }
                    Ok(None) => return Ended::Broken("keep-alive stream closed".into()),
                    Err(e) => return Ended::Broken(e.to_string()),
                },
            }
        }
    }
}

/// Capped exponential backoff between etcd retries.
struct Backoff(Duration);

impl Backoff {
    const START: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(2);

    fn new() -> Self {
        Self(Self::START)
    }

    fn reset(&mut self) {
        self.0 = Self::START;
    }

    /// Sleeps, unless cancelled first (then returns false).
    async fn sleep(&mut self, cancel: &CancellationToken) -> bool {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fence_holds_until_sent_plus_ttl_minus_margin() {
        let fence = Fence::default();
        assert!(!fence.is_alive(), "no lease yet");
        let sent = Instant::now();
        fence.confirm(sent, Duration::from_secs(10));
        assert!(fence.is_alive());
        tokio::time::advance(Duration::from_millis(8_990)).await;
        assert!(fence.is_alive());
        tokio::time::advance(Duration::from_millis(20)).await;
        assert!(!fence.is_alive(), "stops 1 s before the lease could expire");
    }

    #[tokio::test(start_paused = true)]
    async fn an_older_confirmation_never_shortens_the_fence() {
        let fence = Fence::default();
        let early = Instant::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        fence.confirm(Instant::now(), Duration::from_secs(10));
        let until = fence.alive_until();
        fence.confirm(early, Duration::from_secs(10));
        assert_eq!(fence.alive_until(), until);
        fence.clear();
        assert!(!fence.is_alive());
    }
}
