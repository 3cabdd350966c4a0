//! Executions lost with their agent (design §3.4): while it leads, the scheduler marks `lost`
//! every run that an agent no longer alive was running itself, within a second of the agent's
//! lease expiring, and retries it on the job's new owner when the job's retry policy has
//! attempts left (the interrupted attempt counts as one). The retry is owed on the row from
//! the statement that marks it lost (`store::lost_retries`), so no leader change loses it.

use std::time::Duration;

use chrono::Utc;
use crony_common::registry::AgentRecord;
use crony_proto::v1::{TriggerKind, TriggerRequest};
use tokio_util::sync::CancellationToken;

use crate::domain::execution::Status;
use crate::domain::ids::AgentId;
use crate::domain::job::Job;
use crate::leader::push::agent_client;
use crate::store::lost_retries::OwedRetry;
use crate::sweep::Sweeper;

/// Executions marked per statement.
const BATCH: u32 = 1_000;
/// How long a retry waits for the job to have a live new owner before it is given up.
const RETRY_PATIENCE: Duration = Duration::from_secs(60);

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
                for execution in lost {
                    tracing::warn!(
                        execution = %execution.id,
                        job = %execution.job_id,
                        agent = %execution.agent_id,
                        "execution lost with its agent"
                    );
                    self.metrics
                        .executions
                        .with_label_values(&[execution.job_id.as_str(), Status::Lost.as_str()])
                        .inc();
                    self.alerts
                        .settled(&execution.id, &execution.job_id, Status::Lost);
                }
            }
            Err(e) => tracing::warn!(error = %e, "lost-execution sweep failed; retrying"),
        }
    }

    /// Hands every owed retry to its job's new agent. The debt lives on the row in MySQL
    /// (marked with the loss), so a retry the previous leader had not handed on yet is handed
    /// on here; one given up after [`RETRY_PATIENCE`] is logged.
    async fn hand_on_owed_retries(&self) -> Result<(), crate::store::StoreError> {
        let now = Utc::now();
        let patience = chrono::Duration::from_std(RETRY_PATIENCE).unwrap_or_default();
        self.store.reclaim_stale_handoffs(now - patience).await?;
        for owed in self.store.owed_retries(BATCH).await? {
            // Checked before claiming, so waiting for a job to move writes nothing.
            let target = match self.retry_target(&owed).await {
                Ok(target) => target,
                Err(why) if owed.lost_at < now - patience => {
                    tracing::warn!(
                        execution = %owed.id,
                        reason = %why,
                        "giving up retrying a lost execution"
                    );
                    None
                }
                Err(_) => continue,
            };
            if !self.store.begin_handoff(&owed.id, Utc::now()).await? {
                continue; // another leader has it
            }
            let still_owed = match target {
                Some((job, agent)) => self.hand_off(&owed, &job, &agent).await.is_err(),
                None => false,
            };
            self.store.end_handoff(&owed.id, still_owed).await?;
        }
        Ok(())
    }

    /// Where a lost execution's retry goes: `None` when none is wanted (job deleted or paused,
    /// no attempts left); an error while the job has no live new owner yet.
    async fn retry_target(&self, lost: &OwedRetry) -> Result<Option<(Job, AgentRecord)>, String> {
        let Some(job) = self
            .store
            .get_job(&lost.job_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None); // deleted since
        };
        if !job.spec.enabled || lost.attempt_count + 1 > job.spec.retry.max_retries {
            return Ok(None); // paused, or no attempts left
        }
        let agent_id = job.agent_id.clone().ok_or("the job has no agent yet")?;
        if agent_id == lost.agent_id {
            return Err("the job has not moved off the dead agent yet".into());
        }
        let agent = self
            .live
            .get(agent_id.as_str())
            .ok_or("the job's new agent is not online")?;
        Ok(Some((job, agent)))
    }

    /// Triggers the retry on `agent`.
    async fn hand_off(
        &self,
        lost: &OwedRetry,
        job: &Job,
        agent: &AgentRecord,
    ) -> Result<(), String> {
        let mut client = agent_client(agent, &self.agent_dialer)?;
        let answer = client
            .trigger(TriggerRequest {
                // The proto edge: plain strings.
                job_id: job.id.to_string(),
                assignment_epoch: job.assignment_epoch,
                kind: TriggerKind::Retry as i32,
                retry_of: lost.id.to_string(),
                scheduled_at_ms: lost.scheduled_at.timestamp_millis(),
                attempts_used: lost.attempt_count + 1,
            })
            .await
            .map_err(|s| s.message().to_owned())?;
        tracing::info!(
            lost = %lost.id,
            retry = %answer.into_inner().execution_id,
            agent = %agent.id,
            "lost execution retried on the job's new agent"
        );
        Ok(())
    }
}
