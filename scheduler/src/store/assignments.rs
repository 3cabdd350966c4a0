//! Assignment writes, fenced by the leader's election term (see `leader_term`).

use sqlx::QueryBuilder;

use super::StoreError;
use super::mysql::MySqlStore;
use crate::domain::job::Job;

/// One job's new owner (or none) and epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub job_id: String,
    pub agent_id: Option<String>,
    pub epoch: u64,
}

#[async_trait::async_trait]
pub trait AssignmentStore: Send + Sync {
    /// Raises the stored term to `term`; false if a newer leader already holds a higher one.
    async fn claim_term(&self, term: u64) -> Result<bool, StoreError>;
    /// Every job, in id order.
    async fn all_jobs(&self) -> Result<Vec<Job>, StoreError>;
    /// Writes assignments if `term` is still the stored term ([`StoreError::Deposed`] if not).
    async fn apply_assignments(&self, term: u64, changes: &[Assignment]) -> Result<(), StoreError>;
}

/// Rows per UPDATE: large enough for few round trips on failover, small enough for one packet.
const BATCH: usize = 500;

#[async_trait::async_trait]
impl AssignmentStore for MySqlStore {
    async fn claim_term(&self, term: u64) -> Result<bool, StoreError> {
        sqlx::query("UPDATE leader_term SET term = ? WHERE id = 1 AND term < ?")
            .bind(term)
            .bind(term)
            .execute(self.pool())
            .await?;
        let (stored,): (u64,) = sqlx::query_as("SELECT term FROM leader_term WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(stored == term)
    }

    async fn all_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let filter = super::jobs::JobFilter {
            limit: u32::MAX,
            ..Default::default()
        };
        super::jobs::JobStore::list_jobs(self, &filter).await
    }

    async fn apply_assignments(&self, term: u64, changes: &[Assignment]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        // The row lock serialises leaders: a successor's claim waits for us or we see its term.
        let (stored,): (u64,) =
            sqlx::query_as("SELECT term FROM leader_term WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        if stored != term {
            return Err(StoreError::Deposed {
                mine: term,
                current: stored,
            });
        }
        for batch in changes.chunks(BATCH) {
            let mut update = QueryBuilder::new("UPDATE jobs SET agent_id = CASE id");
            for change in batch {
                update
                    .push(" WHEN ")
                    .push_bind(&change.job_id)
                    .push(" THEN ")
                    .push_bind(&change.agent_id);
            }
            update.push(" END, assignment_epoch = CASE id");
            for change in batch {
                update
                    .push(" WHEN ")
                    .push_bind(&change.job_id)
                    .push(" THEN ")
                    .push_bind(change.epoch);
            }
            update.push(" END WHERE id IN (");
            let mut ids = update.separated(", ");
            for change in batch {
                ids.push_bind(&change.job_id);
            }
            update.push(")");
            update.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
