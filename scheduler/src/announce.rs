//! This scheduler's own record in etcd (`{prefix}/schedulers/{id}`), attached to its own
//! lease: agents list the directory to find where to report executions, and the record
//! disappears within one TTL of the scheduler dying (at once when it stops cleanly).

use std::sync::Arc;
use std::time::Duration;

use crony_common::lease::{Backoff, Ended, Fence, keep_alive};
use crony_common::registry::{SchedulerRecord, scheduler_key};
use etcd_client::{Client, PutOptions};
use tokio_util::sync::CancellationToken;

pub struct Announcer {
    client: Client,
    key: String,
    value: String,
    ttl: Duration,
    /// Unused beyond the keep-alive helper's bookkeeping: nothing is fenced on this lease.
    fence: Arc<Fence>,
}

impl Announcer {
    pub fn new(client: Client, prefix: &str, record: &SchedulerRecord, ttl: Duration) -> Self {
        Self {
            client,
            key: scheduler_key(prefix, &record.id),
            value: serde_json::to_string(record).expect("scheduler record serialises"),
            ttl,
            fence: Arc::new(Fence::default()),
        }
    }

    /// Grants a lease and puts the record under it; returns the lease id.
    pub async fn register(&mut self) -> Result<i64, etcd_client::Error> {
        let lease = self
            .client
            .lease_grant(self.ttl.as_secs() as i64, None)
            .await?;
        let options = PutOptions::new().with_lease(lease.id());
        self.client
            .put(self.key.as_str(), self.value.as_str(), Some(options))
            .await?;
        tracing::info!(key = %self.key, lease = lease.id(), "scheduler announced in etcd");
        Ok(lease.id())
    }

    /// Keeps the record alive until `cancel` (registering again after a lost lease), then
    /// revokes the lease so agents stop reporting here at once.
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
                        tracing::warn!(error = %e, "cannot announce the scheduler in etcd; retrying");
                        if !backoff.sleep(&cancel).await {
                            return;
                        }
                    }
                }
                continue;
            };
            match keep_alive(&mut self.client, current, self.ttl, &self.fence, &cancel).await {
                Ended::Cancelled => break,
                Ended::LeaseLost => {
                    tracing::warn!(lease = current, "scheduler lease expired; announcing again");
                    lease = None;
                }
                Ended::Broken(why) => {
                    // The lease may still be alive (etcd restarting): keep trying the same one;
                    // etcd answers "not found" once it is really gone.
                    tracing::warn!(lease = current, error = %why, "scheduler keep-alive interrupted");
                    if !backoff.sleep(&cancel).await {
                        break;
                    }
                }
            }
        }
        if let Some(lease) = lease {
            match tokio::time::timeout(Duration::from_secs(2), self.client.lease_revoke(lease))
                .await
            {
                Ok(Ok(_)) => tracing::info!(lease, "scheduler lease revoked"),
                _ => tracing::warn!(
                    lease,
                    "could not revoke the scheduler lease; it will expire"
                ),
            }
        }
    }
}

/// `http://host:port` for a bound address: the advertised host if configured, else the bound
/// IP unless it is unspecified (0.0.0.0 / ::), else this machine's hostname.
pub fn url_for(addr: std::net::SocketAddr, advertise_host: Option<&str>) -> String {
    let host = match advertise_host {
        Some(host) => host.to_owned(),
        None if addr.ip().is_unspecified() => {
            gethostname::gethostname().to_string_lossy().into_owned()
        }
        None => addr.ip().to_string(),
    };
    if host.contains(':') {
        format!("http://[{host}]:{}", addr.port())
    } else {
        format!("http://{host}:{}", addr.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_use_the_advertised_host_then_the_bound_ip() {
        let bound: std::net::SocketAddr = "10.0.0.5:9090".parse().unwrap();
        assert_eq!(url_for(bound, None), "http://10.0.0.5:9090");
        assert_eq!(
            url_for(bound, Some("s1.internal")),
            "http://s1.internal:9090"
        );
        let v6: std::net::SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(url_for(v6, None), "http://[::1]:80");
        let any: std::net::SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert!(!url_for(any, None).contains("0.0.0.0"));
    }
}
