//! Where this agent reports: the schedulers announced under `{prefix}/schedulers/` in etcd.
//! Read on demand and cached briefly; a scheduler that fails a call is moved to the back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crony_common::registry::{SchedulerRecord, schedulers_dir};
use etcd_client::{Client, GetOptions};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a listing is trusted before etcd is asked again.
const FRESH_FOR: Duration = Duration::from_secs(5);

pub struct SchedulerDirectory {
    client: Client,
    prefix: String,
    cached: Mutex<(Option<Instant>, Vec<SchedulerRecord>)>,
}

impl SchedulerDirectory {
    pub fn new(client: Client, prefix: String) -> Self {
        Self {
            client,
            prefix,
            cached: Mutex::new((None, Vec::new())),
        }
    }

    /// Known schedulers, preferred first; lists etcd again when the cache is stale.
    pub async fn schedulers(&self) -> Vec<SchedulerRecord> {
        {
            let cached = self.lock();
            if cached.0.is_some_and(|at| at.elapsed() < FRESH_FOR) && !cached.1.is_empty() {
                return cached.1.clone();
            }
        }
        let mut client = self.client.clone();
        let listed = tokio::time::timeout(
            Duration::from_secs(2),
            client.get(
                schedulers_dir(&self.prefix),
                Some(GetOptions::new().with_prefix()),
            ),
        )
        .await;
        match listed {
            Ok(Ok(response)) => {
                let mut found: Vec<SchedulerRecord> = response
                    .kvs()
                    .iter()
                    .filter_map(|kv| serde_json::from_slice(kv.value()).ok())
                    .collect();
                let mut cached = self.lock();
                // Keep the current preference order for schedulers we already knew.
                found.sort_by_key(|s| {
                    cached
                        .1
                        .iter()
                        .position(|known| known.id == s.id)
                        .unwrap_or(usize::MAX)
                });
                *cached = (Some(Instant::now()), found.clone());
                found
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot list schedulers in etcd");
                self.lock().1.clone()
            }
            Err(_) => {
                tracing::warn!("listing schedulers in etcd timed out");
                self.lock().1.clone()
            }
        }
    }

    /// Keeps the listing fresh, so firing (which never waits for etcd) has a report URL.
    pub async fn refresh(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            self.invalidate();
            self.schedulers().await;
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(FRESH_FOR) => {}
            }
        }
    }

    /// The preferred scheduler's HTTP base URL, for async report URLs (cache only: firing must
    /// never wait for etcd).
    pub fn http_url(&self) -> Option<String> {
        self.lock().1.first().map(|s| s.http_url.clone())
    }

    /// `id` failed a call: try the others first next time.
    pub fn demote(&self, id: &str) {
        let mut cached = self.lock();
        if let Some(i) = cached.1.iter().position(|s| s.id == id) {
            let s = cached.1.remove(i);
            cached.1.push(s);
        }
    }

    /// Forget the listing so the next call asks etcd.
    pub fn invalidate(&self) {
        self.lock().0 = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<Instant>, Vec<SchedulerRecord>)> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}
