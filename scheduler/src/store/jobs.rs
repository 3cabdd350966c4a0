//! Jobs in MySQL: create, read, list with filters and cursor paging, replace, delete — each
//! change written together with its audit row in one transaction, so no half-written change.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::StoreError;
use super::mysql::MySqlStore;
use crate::domain::job::{Job, JobSpec};

/// Filters of `GET /api/v1/jobs`.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Substring of the name.
    pub q: Option<String>,
    pub enabled: Option<bool>,
    pub agent_id: Option<String>,
    /// Jobs with an id greater than this (ids are UUIDv7: creation order).
    pub after: Option<String>,
    pub limit: u32,
}

#[async_trait::async_trait]
pub trait JobStore: Send + Sync {
    async fn create_job(&self, job: &Job, actor: &str) -> Result<(), StoreError>;
    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError>;
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError>;
    /// Replaces the spec; `None` when no such job.
    async fn replace_job(
        &self,
        id: &str,
        spec: &JobSpec,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Option<Job>, StoreError>;
    /// `false` when no such job.
    async fn delete_job(&self, id: &str, actor: &str) -> Result<bool, StoreError>;
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    spec: String,
    agent_id: Option<String>,
    assignment_epoch: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_scheduled_at: Option<DateTime<Utc>>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(row: JobRow) -> Result<Self, StoreError> {
        let spec = serde_json::from_str(&row.spec).map_err(|e| {
            StoreError::Other(format!("job {}: stored spec unreadable: {e}", row.id))
        })?;
        Ok(Job {
            id: row.id,
            spec,
            agent_id: row.agent_id,
            assignment_epoch: row.assignment_epoch,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_scheduled_at: row.last_scheduled_at,
        })
    }
}

const JOB_COLUMNS: &str =
    "id, spec, agent_id, assignment_epoch, created_at, updated_at, last_scheduled_at";

fn name_conflict(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("a job named {name:?} already exists"))
        }
        _ => e.into(),
    }
}

fn spec_json(spec: &JobSpec) -> String {
    serde_json::to_string(spec).expect("job spec serialises")
}

async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    actor: &str,
    action: &str,
    job_id: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (at, actor, action, job_id, detail) VALUES (?, ?, ?, ?, ?)")
        .bind(Utc::now())
        .bind(actor)
        .bind(action)
        .bind(job_id)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl JobStore for MySqlStore {
    async fn create_job(&self, job: &Job, actor: &str) -> Result<(), StoreError> {
        let spec = spec_json(&job.spec);
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO jobs (id, name, spec, enabled, agent_id, assignment_epoch, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&job.id)
        .bind(&job.spec.name)
        .bind(&spec)
        .bind(job.spec.enabled)
        .bind(&job.agent_id)
        .bind(job.assignment_epoch)
        .bind(job.created_at)
        .bind(job.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| name_conflict(e, &job.spec.name))?;
        audit(&mut tx, actor, "create", &job.id, &spec).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?");
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(Job::try_from).transpose()
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let mut query = QueryBuilder::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1"));
        if let Some(q) = &filter.q {
            let escaped = q
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            query
                .push(" AND name LIKE ")
                .push_bind(format!("%{escaped}%"));
        }
        if let Some(enabled) = filter.enabled {
            query.push(" AND enabled = ").push_bind(enabled);
        }
        if let Some(agent) = &filter.agent_id {
            query.push(" AND agent_id = ").push_bind(agent);
        }
        if let Some(after) = &filter.after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(filter.limit);
        let rows: Vec<JobRow> = query.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(Job::try_from).collect()
    }

    async fn replace_job(
        &self,
        id: &str,
        spec: &JobSpec,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Option<Job>, StoreError> {
        let json = spec_json(spec);
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE jobs SET name = ?, spec = ?, enabled = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&spec.name)
        .bind(&json)
        .bind(spec.enabled)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| name_conflict(e, &spec.name))?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        audit(&mut tx, actor, "update", id, &json).await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?");
        let row: JobRow = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Job::try_from(row).map(Some)
    }

    async fn delete_job(&self, id: &str, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query("DELETE FROM jobs WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        audit(&mut tx, actor, "delete", id, "{}").await?;
        tx.commit().await?;
        Ok(true)
    }
}
