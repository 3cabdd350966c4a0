//! [`Election`] over etcd's election API on `{prefix}/election/scheduler`, under a lease kept
//! alive with the same fence as agents use.

use std::sync::Arc;
use std::time::Duration;

use crony_common::lease::{Backoff, Ended, Fence, keep_alive};
use etcd_client::{Client, ResignOptions};
use tokio_util::sync::CancellationToken;

use super::{Election, Leadership};

pub struct EtcdElection {
    client: Client,
    name: String,
    /// What followers see as the leader's value.
    me: String,
    ttl: Duration,
}

impl EtcdElection {
    pub fn new(client: Client, prefix: &str, me: String, ttl: Duration) -> Self {
        Self {
            client,
            name: crony_common::registry::election_key(prefix),
            me,
            ttl,
        }
    }

    async fn try_campaign(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<Leadership>, String> {
        let mut client = self.client.clone();
        let sent = crony_common::lease::Sent::now();
        let lease = client
            .lease_grant(self.ttl.as_secs() as i64, None)
            .await
            .map_err(|e| e.to_string())?
            .id();
        let fence = Arc::new(Fence::default());
        fence.confirm(sent, self.ttl);
        let lost = CancellationToken::new();
        let stop_keeping = CancellationToken::new();
        tokio::spawn(keep(
            client.clone(),
            lease,
            self.ttl,
            fence.clone(),
            lost.clone(),
            stop_keeping.clone(),
        ));

        let campaign = tokio::select! {
            _ = shutdown.cancelled() => None,
            _ = lost.cancelled() => {
                stop_keeping.cancel();
                return Err("lease lost while campaigning".into());
            }
            r = client.campaign(self.name.as_str(), self.me.as_str(), lease) => Some(r),
        };
        let Some(campaign) = campaign else {
            stop_keeping.cancel();
            let _ = client.lease_revoke(lease).await;
            return Ok(None);
        };
        let leader = match campaign {
            Ok(mut response) => response
                .take_leader()
                .ok_or("campaign answered without a leader key")?,
            Err(e) => {
                stop_keeping.cancel();
                return Err(e.to_string());
            }
        };
        let term = leader.rev().max(0) as u64;
        tracing::info!(term, me = %self.me, "elected leader");
        let resign = Box::new(EtcdResign {
            client,
            leader,
            lease,
            stop_keeping,
        });
        Ok(Some(Leadership::new(term, lost, fence, resign)))
    }
}

struct EtcdResign {
    client: Client,
    leader: etcd_client::LeaderKey,
    lease: i64,
    stop_keeping: CancellationToken,
}

#[async_trait::async_trait]
impl super::Resign for EtcdResign {
    async fn resign(mut self: Box<Self>) {
        self.stop_keeping.cancel();
        let options = ResignOptions::new().with_leader(self.leader.clone());
        let _ =
            tokio::time::timeout(Duration::from_secs(2), self.client.resign(Some(options))).await;
        let revoke = self.client.lease_revoke(self.lease);
        let _ = tokio::time::timeout(Duration::from_secs(2), revoke).await;
    }
}

/// Keeps the election lease alive; cancels `lost` when it is gone or no longer certainly alive.
async fn keep(
    mut client: Client,
    lease: i64,
    ttl: Duration,
    fence: Arc<Fence>,
    lost: CancellationToken,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new();
    loop {
        let ended = tokio::select! {
            _ = lost.cancelled() => return,
            ended = keep_alive(&mut client, lease, ttl, &fence, &stop) => ended,
        };
        match ended {
            Ended::Cancelled => return,
            Ended::LeaseLost => {
                fence.clear();
                lost.cancel();
                return;
            }
            Ended::Broken(why) => {
                tracing::warn!(error = %why, "election lease keep-alive interrupted");
                // Step down the moment the lease may have expired; retry until then.
                let until = fence.alive_until();
                let wait = backoff.sleep(&stop);
                let deadline = async {
                    if let Some(t) = until {
                        tokio::time::sleep_until(t).await;
                    }
                };
                tokio::select! {
                    _ = deadline => {
                        if !fence.is_alive() {
                            lost.cancel();
                            return;
                        }
                    }
                    go_on = wait => if !go_on { return },
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Election for EtcdElection {
    async fn campaign(&self, shutdown: &CancellationToken) -> Option<Leadership> {
        let mut backoff = Backoff::new();
        loop {
            match self.try_campaign(shutdown).await {
                Ok(leadership) => return leadership,
                Err(e) => {
                    tracing::warn!(error = %e, "campaign failed; retrying");
                    if !backoff.sleep(shutdown).await {
                        return None;
                    }
                }
            }
        }
    }
}
