//! Retries the scheduler owes — to executions lost with their agent, and to async runs whose
//! result was `failed` or that timed out — kept on their rows (migration `lost_retries`) so
//! that a leader change never forgets one: `owed` from the statement that settles the row,
//! `handed` while a leader hands it to an agent, cleared once handed or not wanted.

use chrono::{DateTime, Utc};

use super::StoreError;
use super::mysql::MySqlStore;
use crate::domain::ids::{AgentId, ExecutionId, JobId};

/// A settled execution whose retry is owed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwedRetry {
    pub id: ExecutionId,
    pub job_id: JobId,
    /// The agent that ran it (for a lost one: the agent that died with it).
    pub agent_id: AgentId,
    pub scheduled_at: DateTime<Utc>,
    /// `lost`, `failed` or `timed_out`.
    pub status: String,
    /// Attempts on record (for a lost run the interrupted one is not among them).
    pub attempt_count: u32,
    /// When it was settled.
    pub settled_at: DateTime<Utc>,
}

impl OwedRetry {
    pub fn is_lost(&self) -> bool {
        self.status == "lost"
    }

    /// Attempts used so far, the interrupted attempt of a lost run included.
    pub fn attempts_used(&self) -> u32 {
        self.attempt_count + u32::from(self.is_lost())
    }
}

#[async_trait::async_trait]
pub trait LostRetryStore: Send + Sync {
    /// Hand-offs begun before `stale_before` whose retry never got a row (their leader died
    /// mid-way) become owed again; the others are done. Returns how many became owed.
    async fn reclaim_stale_handoffs(&self, stale_before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Up to `limit` owed retries, the oldest loss first.
    async fn owed_retries(&self, limit: u32) -> Result<Vec<OwedRetry>, StoreError>;
    /// Marks an owed retry `handed` at `now`; false if another leader took it first.
    async fn begin_handoff(&self, id: &ExecutionId, now: DateTime<Utc>)
    -> Result<bool, StoreError>;
    /// Ends a hand-off: `owed` again when the agent could not take it yet, else nothing owed.
    async fn end_handoff(&self, id: &ExecutionId, still_owed: bool) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl LostRetryStore for MySqlStore {
    async fn reclaim_stale_handoffs(&self, stale_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The retry's own row says the hand-off reached an agent.
        sqlx::query(
            "UPDATE executions e JOIN executions r ON r.retry_of = e.id \
             SET e.retry_state = NULL, e.retry_handed_at = NULL \
             WHERE e.retry_state = 'handed' AND e.retry_handed_at < ?",
        )
        .bind(stale_before)
        .execute(&mut *tx)
        .await?;
        let owed = sqlx::query(
            "UPDATE executions SET retry_state = 'owed', retry_handed_at = NULL \
             WHERE retry_state = 'handed' AND retry_handed_at < ?",
        )
        .bind(stale_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(owed)
    }

    async fn owed_retries(&self, limit: u32) -> Result<Vec<OwedRetry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, job_id, agent_id, scheduled_at, status, attempt_count, \
             finished_at AS settled_at \
             FROM executions WHERE retry_state = 'owed' ORDER BY finished_at LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    async fn begin_handoff(
        &self,
        id: &ExecutionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE executions SET retry_state = 'handed', retry_handed_at = ? \
             WHERE id = ? AND retry_state = 'owed'",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    async fn end_handoff(&self, id: &ExecutionId, still_owed: bool) -> Result<(), StoreError> {
        let state = still_owed.then_some("owed");
        sqlx::query(
            "UPDATE executions SET retry_state = ?, retry_handed_at = NULL \
             WHERE id = ? AND retry_state = 'handed'",
        )
        .bind(state)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
