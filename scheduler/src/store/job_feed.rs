//! The job change queue (migration `job_feed`): every job write adds a row naming the job in
//! its own transaction; the leader loads every job once, then reads the queue, applies the
//! named jobs' state from the same snapshot and deletes the rows it read. No pass reads the
//! whole table, and writers share no row lock (so their commits group).

use std::collections::BTreeSet;

use sqlx::{MySql, QueryBuilder, Transaction};

use super::StoreError;
use super::jobs::JobRow;
use super::mysql::MySqlStore;
use crate::domain::ids::JobId;
use crate::domain::job::Job;

/// Queue rows read at most per page: a page of changes is applied and deleted before the next.
const PAGE: u32 = 5_000;
/// Ids per `IN (...)` list.
const BATCH: usize = 500;

/// What the queue says, read from one consistent snapshot.
#[derive(Debug, Default)]
pub struct FeedPage {
    /// Jobs created or changed, with their stored state.
    pub changed: Vec<Job>,
    /// Ids of jobs named by the queue that no longer exist.
    pub deleted: Vec<JobId>,
    /// The queue rows read, to delete once applied ([`JobFeedStore::consume`]).
    pub rows: Vec<u64>,
    /// True when rows past this page are waiting.
    pub more: bool,
}

#[async_trait::async_trait]
pub trait JobFeedStore: Send + Sync {
    /// Every job, from one snapshot.
    async fn load_jobs(&self) -> Result<Vec<Job>, StoreError>;
    /// The oldest queued changes (at most one page), with the named jobs' current state.
    async fn read_changes(&self) -> Result<FeedPage, StoreError>;
    /// Deletes queue rows the leader of `term` has applied ([`StoreError::Deposed`] if `term`
    /// is no longer the stored term: a successor that loaded its index after our last delete
    /// must still find every change it did not load).
    async fn consume(&self, term: u64, rows: &[u64]) -> Result<(), StoreError>;
}

/// Queues a change of job `id` inside `tx`.
pub(crate) async fn mark_changed(
    tx: &mut Transaction<'_, MySql>,
    id: &JobId,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO job_changes (job_id) VALUES (?)")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

use super::jobs::JOB_COLUMNS as COLUMNS;

#[async_trait::async_trait]
impl JobFeedStore for MySqlStore {
    async fn load_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs");
        let rows: Vec<JobRow> = sqlx::query_as(&sql).fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|r| r.into_job(self.secrets()))
            .collect()
    }

    async fn read_changes(&self) -> Result<FeedPage, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The snapshot starts with the first read: queue rows and job rows agree.
        let queued: Vec<(u64, JobId)> =
            sqlx::query_as("SELECT id, job_id FROM job_changes ORDER BY id LIMIT ?")
                .bind(PAGE)
                .fetch_all(&mut *tx)
                .await?;
        if queued.is_empty() {
            tx.commit().await?;
            return Ok(FeedPage::default());
        }
        let named: BTreeSet<&JobId> = queued.iter().map(|(_, id)| id).collect();
        let mut found = Vec::new();
        for batch in named.iter().copied().collect::<Vec<_>>().chunks(BATCH) {
            let mut query = QueryBuilder::new(format!("SELECT {COLUMNS} FROM jobs WHERE id IN ("));
            let mut ids = query.separated(", ");
            for id in batch {
                ids.push_bind(*id);
            }
            query.push(")");
            let rows: Vec<JobRow> = query.build_query_as().fetch_all(&mut *tx).await?;
            found.extend(rows);
        }
        tx.commit().await?;
        let changed: Vec<Job> = found
            .into_iter()
            .map(|r| r.into_job(self.secrets()))
            .collect::<Result<_, _>>()?;
        let present: BTreeSet<&JobId> = changed.iter().map(|j| &j.id).collect();
        let deleted = named
            .iter()
            .filter(|id| !present.contains(*id))
            .map(|id| (*id).clone())
            .collect();
        Ok(FeedPage {
            more: queued.len() as u32 == PAGE,
            rows: queued.iter().map(|(row, _)| *row).collect(),
            changed,
            deleted,
        })
    }

    async fn consume(&self, term: u64, rows: &[u64]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        // The shared lock makes a successor's claim (FOR UPDATE) wait until we commit: it
        // loads its index after every delete of ours, never between.
        super::assignments::fence(&mut tx, term, "LOCK IN SHARE MODE").await?;
        for batch in rows.chunks(BATCH) {
            let mut query = QueryBuilder::new("DELETE FROM job_changes WHERE id IN (");
            let mut ids = query.separated(", ");
            for row in batch {
                ids.push_bind(*row);
            }
            query.push(")");
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
