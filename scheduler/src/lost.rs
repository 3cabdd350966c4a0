//! Executions lost with their agent (design §3.4): while it leads, the scheduler marks `lost`
//! every run that an agent no longer alive was running itself, within a second of the agent's
//! lease expiring, and retries it on the job's new owner when the job's retry policy has
//! attempts left (the interrupted attempt counts as one).

use std::time::Duration;

use chrono::Utc;
use crony_proto::v1::{TriggerKind, TriggerRequest};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::domain::execution::Status;
use crate::domain::ids::AgentId;
use crate::leader::push::agent_client;
use crate::store::executions::LostExecution;
use crate::sweep::Sweeper;

/// Executions marked per statement.
const BATCH: u32 = 1_000;
/// How long a retry waits for the job to have a live new owner before it is given up.
const RETRY_PATIENCE: Duration = Duration::from_secs(60);

impl Sweeper {
    pub(crate) async fn lost(&self, cancel: &CancellationToken) {
        let mut agents_changed = self.live.subscribe();
        let mut pending: Vec<(LostExecution, Instant)> = Vec::new();
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
                        pending.push((execution, Instant::now()));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "lost-execution sweep failed; retrying"),
            }
            let mut still = Vec::new();
            for (execution, since) in pending.drain(..) {
                match self.retry(&execution).await {
                    Ok(()) => {}
                    Err(why) if since.elapsed() > RETRY_PATIENCE => tracing::warn!(
                        execution = %execution.id,
                        reason = %why,
                        "giving up retrying a lost execution"
                    ),
                    Err(_) => still.push((execution, since)),
                }
            }
            pending = still;
        }
    }

    /// Retries a lost execution on its job's current owner; Ok when done or not wanted.
    async fn retry(&self, lost: &LostExecution) -> Result<(), String> {
        let Some(job) = self
            .store
            .get_job(&lost.job_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(()); // deleted since
        };
        let used = lost.attempt_count + 1;
        if !job.spec.enabled || used > job.spec.retry.max_retries {
            return Ok(()); // paused, or no attempts left
        }
        let agent_id = job.agent_id.clone().ok_or("the job has no agent yet")?;
        if agent_id == lost.agent_id {
            return Err("the job has not moved off the dead agent yet".into());
        }
        let agent = self
            .live
            .get(agent_id.as_str())
            .ok_or("the job's new agent is not online")?;
        let mut client = agent_client(&agent, &self.agent_dialer)?;
        let answer = client
            .trigger(TriggerRequest {
                // The proto edge: plain strings.
                job_id: job.id.to_string(),
                assignment_epoch: job.assignment_epoch,
                kind: TriggerKind::Retry as i32,
                retry_of: lost.id.to_string(),
                scheduled_at_ms: lost.scheduled_at.timestamp_millis(),
                attempts_used: used,
            })
            .await
            .map_err(|s| s.message().to_owned())?;
        tracing::info!(
            lost = %lost.id,
            retry = %answer.into_inner().execution_id,
            agent = %agent_id,
            "lost execution retried on the job's new agent"
        );
        Ok(())
    }
}
