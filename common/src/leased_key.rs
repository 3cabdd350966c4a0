//! A key kept alive in etcd under its own lease: put at registration, kept alive, put again
//! under a new lease after the old one is lost, and revoked on the way out so readers see it
//! leave at once. Agents register this way (their fence follows the lease); schedulers
//! announce themselves this way.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, PutOptions};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::lease::{Backoff, Ended, Fence, keep_alive};

pub struct LeasedKey {
    client: Client,
    key: String,
    value: String,
    ttl: Duration,
    fence: Arc<Fence>,
}

impl LeasedKey {
    /// `fence` follows the lease: confirmed by every keep-alive, cleared when it is lost.
    pub fn new(
        client: Client,
        key: String,
        value: String,
        ttl: Duration,
        fence: Arc<Fence>,
    ) -> Self {
        Self {
            client,
            key,
            value,
            ttl,
            fence,
        }
    }

    /// Grants a new lease and puts the key under it; returns the lease id.
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
                    tracing::warn!(lease = current, key = %self.key, "lease expired in etcd; registering again");
                    lease = None;
                }
            }
        }
        self.fence.clear();
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
