//! Handing on the retries the scheduler owes (`store::lost_retries`): of runs lost with their
//! agent (on the job's new owner, at once) and of async runs whose result was `failed` or that
//! timed out (on the job's owner, after the job's backoff). The debt lives on the row, so a
//! retry the previous leader had not handed on yet is handed on by the next one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crony_common::registry::AgentRecord;
use crony_proto::v1::{TriggerKind, TriggerRequest};

use crate::domain::job::Job;
use crate::leader::push::agent_client;
use crate::store::StoreError;
use crate::store::lost_retries::OwedRetry;
use crate::sweep::Sweeper;

/// Owed retries looked at per pass.
const BATCH: u32 = 1_000;
/// How long a due retry waits for its job to have a live owner before it is given up.
const PATIENCE: Duration = Duration::from_secs(60);

/// What to do with one owed retry now.
enum Verdict {
    Hand(Box<Job>, AgentRecord),
    /// None wanted: the job is deleted or paused, or has no attempt left.
    NotWanted,
    /// Not yet (backoff, or no live owner): due since `since`.
    Wait {
        since: DateTime<Utc>,
        why: String,
    },
}

impl Sweeper {
    /// One pass over the owed retries.
    pub(crate) async fn hand_on_owed_retries(&self) -> Result<(), StoreError> {
        let now = Utc::now();
        let patience = chrono::Duration::from_std(PATIENCE).unwrap_or_default();
        self.store.reclaim_stale_handoffs(now - patience).await?;
        for owed in self.store.owed_retries(BATCH).await? {
            // Decided before claiming, so waiting for a job to move writes nothing.
            let target = match self.verdict(&owed, now).await? {
                Verdict::Hand(job, agent) => Some((job, agent)),
                Verdict::NotWanted => None,
                Verdict::Wait { since, why } if since < now - patience => {
                    tracing::warn!(execution = %owed.id, reason = %why, "giving up a retry");
                    None
                }
                Verdict::Wait { .. } => continue,
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

    async fn verdict(&self, owed: &OwedRetry, now: DateTime<Utc>) -> Result<Verdict, StoreError> {
        let Some(job) = self.store.get_job(&owed.job_id).await? else {
            return Ok(Verdict::NotWanted); // deleted since
        };
        let used = owed.attempts_used();
        if !job.spec.enabled || used > job.spec.retry.max_retries {
            return Ok(Verdict::NotWanted); // paused, or no attempts left
        }
        // A lost run is retried at once (elsewhere); an async failure after the backoff.
        let due = match owed.is_lost() {
            true => owed.settled_at,
            false => {
                owed.settled_at
                    + chrono::Duration::from_std(job.spec.retry.delay_before(used))
                        .unwrap_or_default()
            }
        };
        let wait = |why: &str| Verdict::Wait {
            since: due,
            why: why.to_owned(),
        };
        if now < due {
            return Ok(wait("its backoff has not passed"));
        }
        let Some(agent_id) = job.agent_id.clone() else {
            return Ok(wait("the job has no agent yet"));
        };
        if owed.is_lost() && agent_id == owed.agent_id {
            return Ok(wait("the job has not moved off the dead agent yet"));
        }
        let Some(agent) = self.live.get(agent_id.as_str()) else {
            return Ok(wait("the job's agent is not online"));
        };
        Ok(Verdict::Hand(Box::new(job), agent))
    }

    /// Triggers the retry on `agent`.
    async fn hand_off(
        &self,
        owed: &OwedRetry,
        job: &Job,
        agent: &AgentRecord,
    ) -> Result<(), String> {
        let mut client = agent_client(agent, &self.agent_dialer)?;
        let (request, mut span) = crate::traced::push(
            &self.agent_dialer.tracer,
            TriggerRequest {
                // The proto edge: plain strings.
                job_id: job.id.to_string(),
                assignment_epoch: job.assignment_epoch,
                kind: TriggerKind::Retry as i32,
                retry_of: owed.id.to_string(),
                scheduled_at_ms: owed.scheduled_at.timestamp_millis(),
                attempts_used: owed.attempts_used(),
            },
            agent.id.as_str(),
        );
        let answer = client
            .trigger(request)
            .await
            .inspect_err(|s| span.fail(s.message()))
            .map_err(|s| s.message().to_owned())?;
        tracing::info!(
            retry_of = %owed.id,
            status = %owed.status,
            retry = %answer.into_inner().execution_id,
            agent = %agent.id,
            "owed retry handed to the job's agent"
        );
        Ok(())
    }
}
