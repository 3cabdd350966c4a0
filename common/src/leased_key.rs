//! A key kept alive in etcd under its own lease: put at registration, kept alive, put again
//! under a new lease after the old one is lost, and revoked on the way out so readers see it
//! leave at once. Agents register this way (their fence follows the lease); schedulers
//! announce themselves this way.
//!
//! The value is computed for each lease it is put under, so a reader can tell one registration
//! from the next (an agent's record names its lease: a scheduler that sees a new lease id knows
//! the agent registered again and must sync it).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use etcd_client::{Client, PutOptions};
use tokio_util::sync::CancellationToken;

use crate::lease::{Backoff, Ended, Fence, keep_alive};

/// What to put under the key, given the id of the lease it is put under.
pub type ValueFn = Box<dyn Fn(i64) -> String + Send + Sync>;

pub struct LeasedKey {
    client: Client,
    key: String,
    value: ValueFn,
    ttl: Duration,
    fence: Arc<Fence>,
    /// The lease the key is under now; 0 while there is none.
    lease: Arc<AtomicI64>,
}

impl LeasedKey {
    /// A key whose value is the same under every lease. `fence` follows the lease: confirmed
    /// by every keep-alive, cleared when it is lost.
    pub fn new(
        client: Client,
        key: String,
        value: String,
        ttl: Duration,
        fence: Arc<Fence>,
    ) -> Self {
        Self::per_lease(client, key, Box::new(move |_| value.clone()), ttl, fence)
    }

    /// A key whose value is computed anew for every lease it is put under.
    pub fn per_lease(
        client: Client,
        key: String,
        value: ValueFn,
        ttl: Duration,
        fence: Arc<Fence>,
    ) -> Self {
        Self {
            client,
            key,
            value,
            ttl,
            fence,
            lease: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The id of the lease the key is under now (0 while there is none), readable after
    /// [`LeasedKey::run`] has taken the key.
    pub fn current_lease(&self) -> Arc<AtomicI64> {
        self.lease.clone()
    }

    /// Grants a new lease and puts the key under it; returns the lease id.
    pub async fn register(&mut self) -> Result<i64, etcd_client::Error> {
        let sent = crate::lease::Sent::now();
        let lease = self
            .client
            .lease_grant(self.ttl.as_secs() as i64, None)
            .await?;
        let options = PutOptions::new().with_lease(lease.id());
        self.client
            .put(self.key.as_str(), (self.value)(lease.id()), Some(options))
            .await?;
        self.lease.store(lease.id(), Ordering::SeqCst);
        self.fence.new_lease();
        self.fence
            .confirm(sent, Duration::from_secs(lease.ttl().max(0) as u64));
        tracing::info!(key = %self.key, lease = lease.id(), ttl = lease.ttl(), "registered in etcd");
        Ok(lease.id())
    }

    /// Keeps the key alive until `cancel`, registering (again) whenever there is no lease;
    /// revokes the lease on the way out.
    pub async fn run(mut self, mut lease: Option<i64>, cancel: CancellationToken) {
        let mut backoff = Backoff::new();
        loop {
            let Some(current) = lease else {
                match self.register().await {
                    Ok(id) => {
                        lease = Some(id);
                        backoff.reset();
                    }
                    Err(e) => {
                        tracing::warn!(key = %self.key, error = %e, "registration failed; retrying");
                        if !backoff.sleep(&cancel).await {
                            break;
                        }
                    }
                }
                continue;
            };
            match keep_alive(&mut self.client, current, self.ttl, &self.fence, &cancel).await {
                Ended::Cancelled => break,
                Ended::Broken(why) => {
                    // The lease may well still be alive (etcd restarting, network blip): try the
                    // same lease again; etcd will tell us with TTL 0 if it is gone.
                    tracing::warn!(lease = current, error = %why, "etcd keep-alive interrupted; retrying");
                    if !backoff.sleep(&cancel).await {
                        break;
                    }
                }
                Ended::LeaseLost => {
                    self.fence.clear();
                    self.lease.store(0, Ordering::SeqCst);
                    tracing::warn!(lease = current, key = %self.key, "lease expired in etcd; registering again");
                    lease = None;
                }
            }
        }
        self.fence.clear();
        self.lease.store(0, Ordering::SeqCst);
        let Some(lease) = lease else {
            return;
        };
        match tokio::time::timeout(Duration::from_secs(2), self.client.lease_revoke(lease)).await {
            Ok(Ok(_)) => tracing::info!(lease, "lease revoked"),
            Ok(Err(e)) => {
                tracing::warn!(lease, error = %e, "could not revoke lease; it will expire")
            }
            Err(_) => tracing::warn!(lease, "revoking the lease timed out; it will expire"),
        }
    }
}
