//! The job change feed (migration `job_feed`): every job write takes the next sequence number
//! in its own transaction; the leader loads every job once and then asks only for what changed
//! since the number it has seen, so no reconcile pass reads the whole table.

use sqlx::{MySql, Transaction};

use super::StoreError;
use super::jobs::JobRow;
use super::mysql::MySqlStore;
use crate::domain::job::Job;

/// Everything the feed says since a sequence number, read from one consistent snapshot.
#[derive(Debug, Default)]
pub struct FeedPage {
    /// Jobs created or changed, with their stored state.
    pub changed: Vec<Job>,
    /// Ids of jobs deleted.
    pub deleted: Vec<String>,
    /// The sequence number this page brings the reader to.
    pub head: u64,
}

#[async_trait::async_trait]
pub trait JobFeedStore: Send + Sync {
    /// Every job and the feed's head, from one snapshot.
    async fn load_jobs(&self) -> Result<FeedPage, StoreError>;
    /// Changes after `seq`, from one snapshot.
    async fn changes_since(&self, seq: u64) -> Result<FeedPage, StoreError>;
    /// Forgets deletions older than `keep` seconds (readers that far behind reload).
    async fn prune_tombstones(&self, keep_secs: u64) -> Result<u64, StoreError>;
}

/// Takes the next feed number inside `tx`. Call it last before commit: the counter's row lock
/// is held until the transaction ends, which is what orders the numbers by commit.
pub(crate) async fn next_seq(tx: &mut Transaction<'_, MySql>) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE job_feed SET seq = LAST_INSERT_ID(seq + 1) WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    let (seq,): (u64,) = sqlx::query_as("SELECT LAST_INSERT_ID()")
        .fetch_one(&mut **tx)
        .await?;
    Ok(seq)
}

use super::jobs::JOB_COLUMNS as COLUMNS;

#[async_trait::async_trait]
impl JobFeedStore for MySqlStore {
    async fn load_jobs(&self) -> Result<FeedPage, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The snapshot starts with the first read: the head and the rows agree.
        let (head,): (u64,) = sqlx::query_as("SELECT seq FROM job_feed WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let sql = format!("SELECT {COLUMNS} FROM jobs");
        let rows: Vec<JobRow> = sqlx::query_as(&sql).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let changed = rows
            .into_iter()
            .map(|r| r.into_job(self.secrets()))
            .collect::<Result<_, _>>()?;
        Ok(FeedPage {
            changed,
            deleted: Vec::new(),
            head,
        })
    }

    async fn changes_since(&self, seq: u64) -> Result<FeedPage, StoreError> {
        let mut tx = self.pool().begin().await?;
        let (head,): (u64,) = sqlx::query_as("SELECT seq FROM job_feed WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        if head <= seq {
            tx.commit().await?;
            return Ok(FeedPage {
                head: seq,
                ..FeedPage::default()
            });
        }
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE change_seq > ? ORDER BY change_seq");
        let rows: Vec<JobRow> = sqlx::query_as(&sql).bind(seq).fetch_all(&mut *tx).await?;
        let deleted: Vec<(String,)> =
            sqlx::query_as("SELECT job_id FROM job_tombstones WHERE seq > ? ORDER BY seq")
                .bind(seq)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        let changed = rows
            .into_iter()
            .map(|r| r.into_job(self.secrets()))
            .collect::<Result<_, _>>()?;
        Ok(FeedPage {
            changed,
            deleted: deleted.into_iter().map(|(id,)| id).collect(),
            head,
        })
    }

    async fn prune_tombstones(&self, keep_secs: u64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM job_tombstones WHERE at < NOW(3) - INTERVAL ? SECOND LIMIT 10000",
        )
        .bind(keep_secs)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
