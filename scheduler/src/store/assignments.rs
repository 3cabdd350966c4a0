//! Assignment writes, fenced by the leader's term (see `leader_term`). The term is claimed
//! here, under the etcd election, strictly above every term stored before: it survives etcd
//! being rebuilt empty, which restarts etcd's revisions (and so any term derived from them).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::StoreError;
use super::mysql::MySqlStore;

/// One job's new owner (or none) and epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub job_id: String,
    pub agent_id: Option<String>,
    pub epoch: u64,
    /// The newest instant the previous owner said it fired (a two-phase move): raises the
    /// job's `last_scheduled_at`, so any later owner's misfire window starts after it even if
    /// that execution has not been ingested yet.
    pub fired_through: Option<DateTime<Utc>>,
}

#[async_trait::async_trait]
pub trait AssignmentStore: Send + Sync {
    /// Claims the next term (one above the stored one) for a newly elected leader.
    async fn claim_next_term(&self) -> Result<u64, StoreError>;
    /// The newest scheduled instant ingested for each of `job_ids` that has one: where the
    /// misfire window of a job taken over from a lost agent starts.
    async fn last_scheduled(
        &self,
        job_ids: &[&str],
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError>;
    /// Writes assignments if `term` is still the stored term ([`StoreError::Deposed`] if not).
    async fn apply_assignments(&self, term: u64, changes: &[Assignment]) -> Result<(), StoreError>;
}

/// Fails with [`StoreError::Deposed`] unless `term` is the stored term, holding the term row's
/// `lock` (`FOR UPDATE` or `LOCK IN SHARE MODE`) until `tx` ends: a successor's claim waits for
/// the fenced write to commit.
pub(crate) async fn fence(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    term: u64,
    lock: &'static str,
) -> Result<(), StoreError> {
    let sql = format!("SELECT term FROM leader_term WHERE id = 1 {lock}");
    let (current,): (u64,) = sqlx::query_as(&sql).fetch_one(&mut **tx).await?;
    if current != term {
        return Err(StoreError::Deposed {
            mine: term,
            current,
        });
    }
    Ok(())
}

/// Rows per UPDATE: large enough for few round trips on failover, small enough for one packet.
const BATCH: usize = 500;

#[async_trait::async_trait]
impl AssignmentStore for MySqlStore {
    async fn claim_next_term(&self) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The row lock serialises leaders: a predecessor's fenced write waits for us or ends
        // before we read.
        let (stored,): (u64,) =
            sqlx::query_as("SELECT term FROM leader_term WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        let term = stored + 1;
        sqlx::query("UPDATE leader_term SET term = ? WHERE id = 1")
            .bind(term)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(term)
    }

    async fn last_scheduled(
        &self,
        job_ids: &[&str],
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        let mut found = HashMap::new();
        for batch in job_ids.chunks(BATCH) {
            let mut query = QueryBuilder::new(
                "SELECT id, last_scheduled_at FROM jobs WHERE last_scheduled_at IS NOT NULL AND id IN (",
            );
            let mut ids = query.separated(", ");
            for id in batch {
                ids.push_bind(*id);
            }
            query.push(")");
            let rows: Vec<(String, DateTime<Utc>)> =
                query.build_query_as().fetch_all(self.pool()).await?;
            found.extend(rows);
        }
        Ok(found)
    }

    async fn apply_assignments(&self, term: u64, changes: &[Assignment]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        // The row lock serialises leaders: a successor's claim waits for us or we see its term.
        fence(&mut tx, term, "FOR UPDATE").await?;
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
            update.push(" END");
            let fired: Vec<_> = batch
                .iter()
                .filter_map(|c| c.fired_through.map(|at| (&c.job_id, at)))
                .collect();
            if !fired.is_empty() {
                update.push(", last_scheduled_at = CASE id");
                for (id, at) in fired {
                    update
                        .push(" WHEN ")
                        .push_bind(id)
                        .push(" THEN GREATEST(COALESCE(last_scheduled_at, ")
                        .push_bind(at)
                        .push("), ")
                        .push_bind(at)
                        .push(")");
                }
                update.push(" ELSE last_scheduled_at END");
            }
            update.push(" WHERE id IN (");
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
