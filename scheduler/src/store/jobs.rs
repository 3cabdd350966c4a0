//! Jobs in MySQL: create, read, list with filters and cursor paging, replace, delete — each
//! change written together with its audit row in one transaction, so no half-written change.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::StoreError;
use super::audit_log::write_audit;
use super::job_feed::mark_changed;
use super::mysql::MySqlStore;
use crate::audit::AuditRecord;
use crate::auth::secrets::SecretBox;
use crate::domain::ids::{AgentId, JobId};
use crate::domain::job::{Job, JobSpec};

/// Filters of `GET /api/v1/jobs`.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Substring of the name.
    pub q: Option<String>,
    pub enabled: Option<bool>,
    pub agent_id: Option<AgentId>,
    /// Jobs with an id greater than this (ids are UUIDv7: creation order).
    pub after: Option<JobId>,
    pub limit: u32,
}

#[async_trait::async_trait]
pub trait JobStore: Send + Sync {
    /// Writes the job and `audit` (its after-state filled in here, secrets redacted).
    async fn create_job(&self, job: &Job, audit: AuditRecord) -> Result<(), StoreError>;
    async fn get_job(&self, id: &JobId) -> Result<Option<Job>, StoreError>;
    /// Names are unique (a MySQL unique key), so at most one job answers.
    async fn get_job_by_name(&self, name: &str) -> Result<Option<Job>, StoreError>;
    /// How many jobs exist, and every job's name by id when there are at most `max`.
    async fn all_job_names(
        &self,
        max: usize,
    ) -> Result<(usize, Option<std::collections::HashMap<String, String>>), StoreError>;
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError>;
    /// Replaces the spec; `None` when no such job.
    async fn replace_job(
        &self,
        id: &JobId,
        spec: &JobSpec,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> Result<Option<Job>, StoreError>;
    /// `false` when no such job.
    async fn delete_job(&self, id: &JobId, audit: AuditRecord) -> Result<bool, StoreError>;
}

#[derive(sqlx::FromRow)]
pub(super) struct JobRow {
    id: JobId,
    spec: String,
    agent_id: Option<AgentId>,
    assignment_epoch: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_scheduled_at: Option<DateTime<Utc>>,
}

impl JobRow {
    pub(super) fn into_job(self, secrets: &SecretBox) -> Result<Job, StoreError> {
        let row = self;
        let mut spec: JobSpec = serde_json::from_str(&row.spec).map_err(|e| {
            StoreError::Other(format!("job {}: stored spec unreadable: {e}", row.id))
        })?;
        for (key, value) in spec.secrets_mut() {
            *value = secrets
                .open(value)
                .map_err(|e| StoreError::Other(format!("job {} ({key}): {e}", row.id)))?;
        }
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

pub(super) const JOB_COLUMNS: &str =
    "id, spec, agent_id, assignment_epoch, created_at, updated_at, last_scheduled_at";

fn name_conflict(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("a job named {name:?} already exists"))
        }
        _ => e.into(),
    }
}

/// The stored JSON of a spec: its secrets sealed (when a key is configured).
fn spec_json(spec: &JobSpec, secrets: &SecretBox) -> String {
    let mut sealed = spec.clone();
    for (_, value) in sealed.secrets_mut() {
        *value = secrets.seal(value);
    }
    serde_json::to_string(&sealed).expect("job spec serialises")
}

impl MySqlStore {
    /// The job as it is before a change, its row locked until `tx` ends.
    async fn locked(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
        id: &JobId,
    ) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? FOR UPDATE");
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|r| r.into_job(self.secrets())).transpose()
    }
}

#[async_trait::async_trait]
impl JobStore for MySqlStore {
    async fn create_job(&self, job: &Job, audit: AuditRecord) -> Result<(), StoreError> {
        let spec = spec_json(&job.spec, self.secrets());
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO jobs (id, name, spec, enabled, alert_lang, agent_id, assignment_epoch, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&job.id)
        .bind(&job.spec.name)
        .bind(&spec)
        .bind(job.spec.enabled)
        .bind(job.spec.alert_lang.map(|l| l.as_str()))
        .bind(&job.agent_id)
        .bind(job.assignment_epoch)
        .bind(job.created_at)
        .bind(job.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| name_conflict(e, &job.spec.name))?;
        let audit = audit.target(job.id.as_str()).after(job.spec.redacted());
        write_audit(&mut tx, &audit).await?;
        mark_changed(&mut tx, &job.id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?");
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.into_job(self.secrets())).transpose()
    }

    async fn get_job_by_name(&self, name: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE name = ?");
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.into_job(self.secrets())).transpose()
    }

    async fn all_job_names(
        &self,
        max: usize,
    ) -> Result<(usize, Option<std::collections::HashMap<String, String>>), StoreError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
            .fetch_one(self.pool())
            .await?;
        let count = count as usize;
        if count > max {
            return Ok((count, None));
        }
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, name FROM jobs")
            .fetch_all(self.pool())
            .await?;
        Ok((count, Some(rows.into_iter().collect())))
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
        rows.into_iter()
            .map(|r| r.into_job(self.secrets()))
            .collect()
    }

    async fn replace_job(
        &self,
        id: &JobId,
        spec: &JobSpec,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> Result<Option<Job>, StoreError> {
        let json = spec_json(spec, self.secrets());
        let mut tx = self.pool().begin().await?;
        let Some(before) = self.locked(&mut tx, id).await? else {
            return Ok(None);
        };
        let updated = sqlx::query(
            "UPDATE jobs SET name = ?, spec = ?, enabled = ?, alert_lang = ?, updated_at = ? \
             WHERE id = ?",
        )
        .bind(&spec.name)
        .bind(&json)
        .bind(spec.enabled)
        .bind(spec.alert_lang.map(|l| l.as_str()))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| name_conflict(e, &spec.name))?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let audit = audit
            .target(id.as_str())
            .before(before.spec.redacted())
            .after(spec.redacted());
        write_audit(&mut tx, &audit).await?;
        mark_changed(&mut tx, id).await?;
        let after = self.locked(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn delete_job(&self, id: &JobId, audit: AuditRecord) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(before) = self.locked(&mut tx, id).await? else {
            return Ok(false);
        };
        let deleted = sqlx::query("DELETE FROM jobs WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        write_audit(
            &mut tx,
            &audit.target(id.as_str()).before(before.spec.redacted()),
        )
        .await?;
        mark_changed(&mut tx, id).await?;
        tx.commit().await?;
        Ok(true)
    }
}
