//! Executions in MySQL: ingest (see `ingest.rs`), history queries with keyset paging, async
//! results, and the leader's sweeps (async timeouts, retention).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::StoreError;
use super::counts::{self, CountDeltas};
use super::ingest::{IngestOutcome, write_batch};
use super::mysql::MySqlStore;
use crate::alert::outbox::{add_in, settlements};
use crate::domain::execution::{ExecutionRecord, Status, Trigger};
use crate::domain::ids::{AgentId, ExecutionId, JobId};

/// Filters of `GET /api/v1/executions`; newest first by (scheduled_at, id).
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub job_id: Option<JobId>,
    pub agent_id: Option<AgentId>,
    pub statuses: Vec<Status>,
    pub trigger: Option<Trigger>,
    /// scheduled_at >= from.
    pub from: Option<DateTime<Utc>>,
    /// scheduled_at < to.
    pub to: Option<DateTime<Utc>>,
    /// Strictly older than this (scheduled_at, id): the last row of the previous page.
    pub before: Option<(DateTime<Utc>, ExecutionId)>,
    pub limit: u32,
}

/// One row as history lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ExecutionSummary {
    #[schema(value_type = String)]
    pub id: ExecutionId,
    #[schema(value_type = String)]
    pub job_id: JobId,
    #[schema(value_type = String)]
    pub agent_id: AgentId,
    pub epoch: u64,
    pub scheduled_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    #[sqlx(rename = "trigger_kind")]
    pub trigger: String,
    pub attempt_count: u32,
    pub exit_code: Option<i32>,
    pub http_status: Option<u16>,
    pub output_truncated: bool,
    pub error: String,
    pub async_deadline: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>)]
    pub retry_of: Option<ExecutionId>,
    pub revision: u32,
    /// The agent's `crony.fire` span; the API shows its trace id as `trace_id`.
    #[serde(skip)]
    pub traceparent: Option<String>,
    pub settled_by: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One execution with everything it carries.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExecutionDetail {
    #[sqlx(flatten)]
    pub summary: ExecutionSummary,
    /// JSON array of attempts.
    pub attempts: String,
    pub output: String,
    /// JSON object, when a result arrived after the execution was settled.
    pub late_result: Option<String>,
}

const SUMMARY_COLUMNS: &str = "id, job_id, agent_id, epoch, scheduled_at, started_at, \
     finished_at, status, trigger_kind, attempt_count, exit_code, http_status, output_truncated, \
     error, async_deadline, retry_of, revision, traceparent, settled_by, recorded_at, updated_at";

/// An async result as posted to `POST /executions/{id}/result`, already capped.
#[derive(Debug, Clone, Serialize)]
pub struct PostedResult {
    pub status: Status,
    pub output: String,
    pub output_truncated: bool,
    pub error: String,
    pub received_at: DateTime<Utc>,
}

/// What posting a result did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultOutcome {
    /// No row yet: the agent's report is still on its way.
    NotRecorded,
    /// The running execution is now settled with the result.
    Settled,
    /// It already had this outcome: nothing changed.
    AlreadyThis,
    /// It was settled otherwise; the result was kept in `late_result`.
    Late { current: Status },
}

#[async_trait::async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Writes a batch of agent reports in one transaction.
    async fn ingest(
        &self,
        records: &[ExecutionRecord],
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError>;
    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<ExecutionSummary>, StoreError>;
    async fn get_execution(&self, id: &ExecutionId) -> Result<Option<ExecutionDetail>, StoreError>;
    async fn post_result(
        &self,
        id: &ExecutionId,
        result: &PostedResult,
    ) -> Result<ResultOutcome, StoreError>;
    /// Times out up to `limit` async executions whose deadline passed; their (id, job id).
    async fn time_out_async(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(ExecutionId, JobId)>, StoreError>;
    /// Deletes up to `limit` executions scheduled before `before`; how many.
    async fn purge_executions(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;
    /// Marks `lost` up to `limit` executions that an agent not in `live` was running itself
    /// (not waiting for an async result); returns them.
    async fn mark_lost(
        &self,
        live: &[AgentId],
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<LostExecution>, StoreError>;
}

/// An execution whose agent died during the run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LostExecution {
    pub id: ExecutionId,
    pub job_id: JobId,
    pub agent_id: AgentId,
    pub scheduled_at: DateTime<Utc>,
    /// Attempts finished before the agent died (the interrupted one is not among them).
    pub attempt_count: u32,
}

#[async_trait::async_trait]
impl ExecutionStore for MySqlStore {
    async fn ingest(
        &self,
        records: &[ExecutionRecord],
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        write_batch(self.pool(), records, now).await
    }

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<ExecutionSummary>, StoreError> {
        let mut q = QueryBuilder::new("");
        if filter.statuses.len() <= 1 {
            select_page(&mut q, filter, filter.statuses.first().copied());
        } else {
            // One ordered, limited read per status, merged: each walks the (status,
            // scheduled_at) index backwards and stops after a page, where `status IN (…)` with
            // ORDER BY reads every matching row and sorts them.
            q.push(format!("SELECT {SUMMARY_COLUMNS} FROM ("));
            for (i, status) in filter.statuses.iter().enumerate() {
                if i > 0 {
                    q.push(" UNION ALL ");
                }
                q.push("(");
                select_page(&mut q, filter, Some(*status));
                q.push(")");
            }
            q.push(") page ORDER BY scheduled_at DESC, id DESC LIMIT ")
                .push_bind(filter.limit);
        }
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn get_execution(&self, id: &ExecutionId) -> Result<Option<ExecutionDetail>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, attempts, output, late_result FROM executions WHERE id = ?"
        );
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn post_result(
        &self,
        id: &ExecutionId,
        result: &PostedResult,
    ) -> Result<ResultOutcome, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row: Option<(String, DateTime<Utc>, JobId)> = sqlx::query_as(
            "SELECT status, scheduled_at, job_id FROM executions WHERE id = ? FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, scheduled_at, job_id)) = row else {
            return Ok(ResultOutcome::NotRecorded);
        };
        let current = Status::parse(&status)
            .ok_or_else(|| StoreError::Other(format!("execution {id}: unknown status {status}")))?;
        let outcome = if !current.is_final() {
            sqlx::query(
                // A failed result owes a retry (store::lost_retries), in the same statement.
                "UPDATE executions SET status = ?, settled_by = 'result', finished_at = ?, \
                 output = ?, output_truncated = ?, error = ?, updated_at = ?, \
                 retry_state = COALESCE(?, retry_state) WHERE id = ?",
            )
            .bind(result.status.as_str())
            .bind(result.received_at)
            .bind(&result.output)
            .bind(result.output_truncated)
            .bind(&result.error)
            .bind(result.received_at)
            .bind((result.status == Status::Failed).then_some("owed"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let mut deltas = CountDeltas::default();
            deltas.change(
                Some((scheduled_at, current)),
                Some((scheduled_at, result.status)),
            );
            counts::apply(&mut tx, &deltas).await?;
            let happenings = settlements([(id, &job_id, result.status)]);
            add_in(&mut tx, &happenings, result.received_at).await?;
            ResultOutcome::Settled
        } else if current == result.status {
            ResultOutcome::AlreadyThis
        } else {
            let late = serde_json::to_string(result).expect("result serialises");
            sqlx::query("UPDATE executions SET late_result = ?, updated_at = ? WHERE id = ?")
                .bind(late)
                .bind(result.received_at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            ResultOutcome::Late { current }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn time_out_async(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(ExecutionId, JobId)>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let due: Vec<(ExecutionId, JobId, DateTime<Utc>)> = sqlx::query_as(
            "SELECT id, job_id, scheduled_at FROM executions \
             WHERE status = 'running' AND async_deadline < ? LIMIT ? FOR UPDATE",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::new(
            "UPDATE executions SET status = 'timed_out', settled_by = 'sweeper', \
             retry_state = 'owed', finished_at = ",
        );
        q.push_bind(now)
            .push(", updated_at = ")
            .push_bind(now)
            .push(
                ", error = CONCAT('no async result within ', \
                 ROUND(TIMESTAMPDIFF(MICROSECOND, COALESCE(started_at, scheduled_at), \
                 async_deadline) / 1000000), 's') WHERE status = 'running' AND id IN (",
            );
        let mut list = q.separated(", ");
        for (id, _, _) in &due {
            list.push_bind(id);
        }
        q.push(")");
        q.build().execute(&mut *tx).await?;
        let mut deltas = CountDeltas::default();
        for (_, _, at) in &due {
            deltas.change(Some((*at, Status::Running)), Some((*at, Status::TimedOut)));
        }
        counts::apply(&mut tx, &deltas).await?;
        let happenings = settlements(due.iter().map(|(id, job, _)| (id, job, Status::TimedOut)));
        add_in(&mut tx, &happenings, now).await?;
        tx.commit().await?;
        Ok(due.into_iter().map(|(id, job, _)| (id, job)).collect())
    }

    async fn mark_lost(
        &self,
        live: &[AgentId],
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<LostExecution>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut q = QueryBuilder::new(
            "SELECT id, job_id, agent_id, scheduled_at, attempt_count FROM executions \
             WHERE status = 'running' AND async_deadline IS NULL",
        );
        if !live.is_empty() {
            q.push(" AND agent_id NOT IN (");
            let mut list = q.separated(", ");
            for id in live {
                list.push_bind(id);
            }
            q.push(")");
        }
        q.push(" LIMIT ").push_bind(limit).push(" FOR UPDATE");
        let lost: Vec<LostExecution> = q.build_query_as().fetch_all(&mut *tx).await?;
        if lost.is_empty() {
            return Ok(lost);
        }
        let mut q = QueryBuilder::new(
            "UPDATE executions SET status = 'lost', settled_by = 'sweeper', \
             retry_state = 'owed', finished_at = ",
        );
        q.push_bind(now)
            .push(", updated_at = ")
            .push_bind(now)
            .push(
                ", error = CONCAT('agent ', agent_id, ' stopped during the run (its lease expired)') \
                 WHERE status = 'running' AND async_deadline IS NULL AND id IN (",
            );
        let mut list = q.separated(", ");
        for e in &lost {
            list.push_bind(&e.id);
        }
        q.push(")");
        q.build().execute(&mut *tx).await?;
        let mut deltas = CountDeltas::default();
        for e in &lost {
            let at = e.scheduled_at;
            deltas.change(Some((at, Status::Running)), Some((at, Status::Lost)));
        }
        counts::apply(&mut tx, &deltas).await?;
        let happenings = settlements(lost.iter().map(|e| (&e.id, &e.job_id, Status::Lost)));
        add_in(&mut tx, &happenings, now).await?;
        tx.commit().await?;
        Ok(lost)
    }

    async fn purge_executions(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM executions WHERE scheduled_at < ? LIMIT ?")
            .bind(before)
            .bind(limit)
            .execute(self.pool())
            .await?;
        counts::forget_before(self.pool(), before).await?;
        Ok(done.rows_affected())
    }
}

/// `SELECT … ORDER BY … LIMIT` of one page matching `filter`, with `status` if given.
fn select_page(
    q: &mut QueryBuilder<'_, sqlx::MySql>,
    filter: &ExecutionFilter,
    status: Option<Status>,
) {
    q.push(format!(
        "SELECT {SUMMARY_COLUMNS} FROM executions WHERE 1 = 1"
    ));
    if let Some(job) = &filter.job_id {
        q.push(" AND job_id = ").push_bind(job.clone());
    }
    if let Some(agent) = &filter.agent_id {
        q.push(" AND agent_id = ").push_bind(agent.clone());
    }
    if let Some(status) = status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(trigger) = filter.trigger {
        q.push(" AND trigger_kind = ").push_bind(trigger.as_str());
    }
    if let Some(from) = filter.from {
        q.push(" AND scheduled_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(" AND scheduled_at < ").push_bind(to);
    }
    if let Some((at, id)) = &filter.before {
        // Spelled out rather than a row comparison so MariaDB uses the index range.
        q.push(" AND (scheduled_at < ")
            .push_bind(*at)
            .push(" OR (scheduled_at = ")
            .push_bind(*at)
            .push(" AND id < ")
            .push_bind(id.clone())
            .push("))");
    }
    q.push(" ORDER BY scheduled_at DESC, id DESC LIMIT ")
        .push_bind(filter.limit);
}
