//! An etcd lease kept alive, and the [`Fence`]: the instant until which the lease is
//! *certainly* alive (design §3.2). Agents fire jobs, and the leader scheduler places them,
//! only inside the fence.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_client::Client;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long before the lease could expire the agent stops trusting it. etcd measures the TTL
/// from when it *received* the keep-alive, which is after we sent it, so `sent + ttl` is
/// already conservative; the margin covers clock-rate drift between the two machines.
pub fn fence_margin(ttl: Duration) -> Duration {
    (ttl / 5).min(Duration::from_secs(1))
}

/// The self-fencing state shared by the lease keeper (writer) and whoever acts under the
/// lease (reader): the agent's clock, the leader scheduler's placement.
#[derive(Debug, Default)]
pub struct Fence {
    alive_until: Mutex<Option<Instant>>,
    /// The same end on the clock that counts suspend ([`crate::boot_clock`]): after a VM
    /// pause or a sleep, `Instant` lags and only this one knows the lease ran out.
    alive_until_boot: Mutex<Option<Duration>>,
    /// Bumped for every new lease, so a reader can tell "same lease" from "registered again".
    lease_generation: AtomicU64,
}

impl Fence {
    /// True while the lease is certainly alive: the agent may fire jobs.
    pub fn is_alive(&self) -> bool {
        let boot = *self
            .alive_until_boot
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.alive_until()
            .is_some_and(|until| Instant::now() < until)
            && boot.is_some_and(|until| crate::boot_clock::now() < until)
    }

    pub fn alive_until(&self) -> Option<Instant> {
        *self.alive_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lease_generation(&self) -> u64 {
        self.lease_generation.load(Ordering::SeqCst)
    }

    /// etcd confirmed a keep-alive (or grant) that was sent at `sent` with `ttl` remaining.
    pub fn confirm(&self, sent: Sent, ttl: Duration) {
        let trusted = ttl.saturating_sub(fence_margin(ttl));
        let until = sent.at + trusted;
        let mut guard = self.alive_until.lock().unwrap_or_else(|e| e.into_inner());
        let mut boot = self
            .alive_until_boot
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
        let boot_until = sent.boot + trusted;
        if boot.is_none_or(|current| current < boot_until) {
            *boot = Some(boot_until);
        }
    }

    pub fn new_lease(&self) {
        self.lease_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The lease is gone (lost or revoked): stop firing at once.
    pub fn clear(&self) {
        *self.alive_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self
            .alive_until_boot
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// When a keep-alive (or grant) left, on both clocks.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub at: Instant,
    /// [`crate::boot_clock::now`] at the same moment.
    pub boot: Duration,
}

impl Sent {
    pub fn now() -> Self {
        Self {
            at: Instant::now(),
            boot: crate::boot_clock::now(),
        }
    }
}

/// Why one keep-alive session ended.
pub enum Ended {
    Cancelled,
    LeaseLost,
    Broken(String),
}

/// Keeps `lease` alive on one stream until cancelled, the lease is found gone, or the stream
/// breaks; confirms every answered keep-alive on `fence`.
pub async fn keep_alive(
    client: &mut Client,
    lease: i64,
    ttl: Duration,
    fence: &Fence,
    cancel: &CancellationToken,
) -> Ended {
    // Opening the stream sends a first keep-alive and waits for its answer.
    let sent = Sent::now();
    let opened = tokio::select! {
        _ = cancel.cancelled() => return Ended::Cancelled,
        opened = client.lease_keep_alive(lease) => opened,
    };
    let (mut keeper, mut stream) = match opened {
        Ok(pair) => pair,
        Err(etcd_client::Error::LeaseKeepAliveError(e)) if e.contains("not found") => {
            return Ended::LeaseLost;
        }
        Err(e) => return Ended::Broken(e.to_string()),
    };
    // etcd renews a lease to its granted TTL, which is the one we asked for.
    fence.confirm(sent, ttl);
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Responses come back in request order; remember when each request left.
    let mut in_flight: VecDeque<Sent> = VecDeque::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ended::Cancelled,
            _ = tick.tick() => {
                if in_flight.len() >= 3 {
                    return Ended::Broken("etcd stopped answering keep-alives".into());
                }
                in_flight.push_back(Sent::now());
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
                    fence.confirm(sent, Duration::from_secs(response.ttl() as u64));
                }
                Ok(None) => return Ended::Broken("keep-alive stream closed".into()),
                Err(e) => return Ended::Broken(e.to_string()),
            },
        }
    }
}

/// Capped exponential backoff between etcd retries.
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    const START: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(2);

    pub fn new() -> Self {
        Self(Self::START)
    }

    pub fn reset(&mut self) {
        self.0 = Self::START;
    }

    /// Sleeps, unless cancelled first (then returns false).
    pub async fn sleep(&mut self, cancel: &CancellationToken) -> bool {
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
        fence.confirm(Sent::now(), Duration::from_secs(10));
        assert!(fence.is_alive());
        tokio::time::advance(Duration::from_millis(8_990)).await;
        assert!(fence.is_alive());
        tokio::time::advance(Duration::from_millis(20)).await;
        assert!(!fence.is_alive(), "stops 1 s before the lease could expire");
    }

    #[tokio::test(start_paused = true)]
    async fn an_older_confirmation_never_shortens_the_fence() {
        let fence = Fence::default();
        let early = Sent::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        fence.confirm(Sent::now(), Duration::from_secs(10));
        let until = fence.alive_until();
        fence.confirm(early, Duration::from_secs(10));
        assert_eq!(fence.alive_until(), until);
        fence.clear();
        assert!(!fence.is_alive());
    }

    /// A suspend: the boot clock ran on 20 s while `Instant` stood still. The lease (TTL 10 s)
    /// may have expired in etcd meanwhile, so the fence must be down though `Instant` says
    /// only a moment passed.
    #[tokio::test(start_paused = true)]
    async fn time_spent_suspended_counts_against_the_fence() {
        let fence = Fence::default();
        let sent = Sent {
            at: Instant::now(),
            boot: crate::boot_clock::now().saturating_sub(Duration::from_secs(20)),
        };
        fence.confirm(sent, Duration::from_secs(10));
        assert!(fence.alive_until().is_some_and(|t| Instant::now() < t));
        assert!(!fence.is_alive(), "20 s suspended is past a 10 s lease");
    }
}
