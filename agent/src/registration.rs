//! Registration in etcd: the agent's key under a lease, kept alive, made again after the lease
//! is lost, revoked on graceful shutdown. The lease and its fence live in
//! [`crony_common::lease`].

use std::time::Duration;

use crony_common::lease::{Backoff, Ended, keep_alive};
pub use crony_common::lease::{Fence, fence_margin};
use etcd_client::{Client, PutOptions};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
            match keep_alive(&mut self.client, lease, self.ttl, &self.fence, &cancel).await {
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
}
