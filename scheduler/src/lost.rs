//! Executions lost with their agent (design §3.4): while it leads, the scheduler marks `lost`
//! every run that an agent no longer alive was running itself, within a second of the agent's
//! lease expiring, and retries it on the job's new owner when the job's retry policy has
//! attempts left (the interrupted attempt counts as one). The retry is owed on the row from
//! the statement that marks it lost (`store::lost_retries`) and handed on by `owed_retries`,
//! so no leader change loses it.

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::domain::execution::Status;
use crate::domain::ids::AgentId;
use crate::sweep::Sweeper;

/// Executions marked per statement.
const BATCH: u32 = 1_000;

impl Sweeper {
    pub(crate) async fn lost(&self, cancel: &CancellationToken) {
        let mut agents_changed = self.live.subscribe();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = agents_changed.changed() => {}
                _ = tokio::time::sleep(self.lost_interval) => {}
            }
            // An unsynced listing could make every agent look dead.
            if !self.live.is_synced() {
                continue;
            }
            self.mark_lost().await;
            if let Err(e) = self.hand_on_owed_retries().await {
                tracing::warn!(error = %e, "lost-execution retries not handed on; retrying");
            }
        }
    }

    async fn mark_lost(&self) {
        let live: Vec<AgentId> = self
            .live
            .snapshot()
            .into_iter()
            .map(|a| AgentId::from(a.id))
            .collect();
        match self.store.mark_lost(&live, Utc::now(), BATCH).await {
            Ok(lost) => {
                if !lost.is_empty() {
                    self.alerts.written();
                }
                for execution in lost {
                    tracing::warn!(
                        execution = %execution.id,
                        job = %execution.job_id,
                        agent = %execution.agent_id,
                        "execution lost with its agent"
                    );
                    self.metrics
                        .settled(execution.job_id.as_str(), Status::Lost.as_str());
                }
            }
            Err(e) => tracing::warn!(error = %e, "lost-execution sweep failed; retrying"),
        }
    }
}
