//! Async runs (202 / `ACCEPTED`) waiting for their result: each holds its place in the runner
//! — `overlap` sees it running, `@delay` counts from its end — until a scheduler tells the
//! agent its result arrived (`AgentService.Settled`), its async deadline passes (the sweeper
//! times it out then), it is killed, or the agent shuts down.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Settlements that arrived before their hold began (the service answered its result before
/// its 202 reached this agent), remembered this many at most.
const EARLY_CAP: usize = 1_024;

#[derive(Default)]
pub(super) struct Awaiting {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    holds: HashMap<String, CancellationToken>,
    early: VecDeque<String>,
    /// Set at shutdown: no new hold begins.
    closed: bool,
}

impl Awaiting {
    /// Holds `id`'s place until it is settled, `timeout` passes or `kill` is cancelled.
    pub(super) async fn hold(&self, id: &str, timeout: Duration, kill: &CancellationToken) {
        let settled = CancellationToken::new();
        {
            let mut inner = self.lock();
            if inner.closed {
                return;
            }
            if let Some(at) = inner.early.iter().position(|e| e == id) {
                inner.early.remove(at);
                return;
            }
            inner.holds.insert(id.to_owned(), settled.clone());
        }
        tokio::select! {
            _ = settled.cancelled() => {}
            _ = kill.cancelled() => {}
            _ = tokio::time::sleep(timeout) => {}
        }
        self.lock().holds.remove(id);
    }

    /// Ends `id`'s hold; false if it had none (remembered, in case its hold is about to begin).
    pub(super) fn settled(&self, id: &str) -> bool {
        let mut inner = self.lock();
        if let Some(hold) = inner.holds.remove(id) {
            hold.cancel();
            return true;
        }
        if inner.early.len() >= EARLY_CAP {
            inner.early.pop_front();
        }
        inner.early.push_back(id.to_owned());
        false
    }

    /// Ends every hold and lets no new one begin.
    pub(super) fn release_all(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        for (_, hold) in inner.holds.drain() {
            hold.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    async fn held_until<F: std::future::Future>(awaiting: Arc<Awaiting>, end: F) -> bool {
        let kill = CancellationToken::new();
        let task = {
            let awaiting = awaiting.clone();
            tokio::spawn(async move {
                awaiting.hold("x", Duration::from_secs(3600), &kill).await;
            })
        };
        // The hold is registered before anything can end it.
        while awaiting.lock().holds.is_empty() {
            tokio::task::yield_now().await;
        }
        end.await;
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_settlement_ends_the_hold() {
        let awaiting = Arc::new(Awaiting::default());
        let a = awaiting.clone();
        assert!(held_until(awaiting, async move { assert!(a.settled("x")) }).await);
    }

    #[tokio::test]
    async fn a_settlement_before_the_hold_means_no_hold() {
        let awaiting = Awaiting::default();
        assert!(!awaiting.settled("x"));
        let kill = CancellationToken::new();
        let held = tokio::time::timeout(
            Duration::from_secs(5),
            awaiting.hold("x", Duration::from_secs(3600), &kill),
        )
        .await;
        assert!(
            held.is_ok(),
            "an early settlement must not be waited for again"
        );
    }

    #[tokio::test]
    async fn shutdown_releases_every_hold_and_admits_none() {
        let awaiting = Arc::new(Awaiting::default());
        let a = awaiting.clone();
        assert!(held_until(awaiting.clone(), async move { a.release_all() }).await);
        let kill = CancellationToken::new();
        let after = tokio::time::timeout(
            Duration::from_secs(5),
            awaiting.hold("y", Duration::from_secs(3600), &kill),
        )
        .await;
        assert!(after.is_ok());
    }

    #[tokio::test]
    async fn the_async_deadline_ends_the_hold() {
        let awaiting = Awaiting::default();
        let kill = CancellationToken::new();
        awaiting.hold("x", Duration::from_millis(20), &kill).await;
        assert!(awaiting.lock().holds.is_empty());
    }
}
