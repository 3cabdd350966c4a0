//! The soonest fires the leader publishes (`leader::upcoming`) and every scheduler's overview
//! reads (migration `upcoming_fires`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::StoreError;
use super::mysql::MySqlStore;
use crate::domain::ids::{AgentId, JobId};

/// One published fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedFire {
    pub job_id: JobId,
    pub job_name: String,
    pub agent_id: Option<AgentId>,
    pub at: DateTime<Utc>,
    /// IANA name of the job's time zone.
    pub timezone: String,
}

/// What the leader last published.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Soonest first, without jobs paused or deleted since.
    pub fires: Vec<PublishedFire>,
    /// Jobs each agent held (paused ones included), by agent id.
    pub jobs_per_agent: BTreeMap<AgentId, u64>,
    /// `None`: nothing was ever published.
    pub at: Option<DateTime<Utc>>,
}

/// An enabled job changed recently, as far as its next fire goes.
#[derive(Debug, Clone)]
pub struct RecentJob {
    pub id: JobId,
    pub name: String,
    pub agent_id: Option<AgentId>,
    pub schedule: String,
    pub timezone: String,
    pub created_at: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait UpcomingStore: Send + Sync {
    /// Replaces what is published with `fires` (soonest first) and `jobs_per_agent`, at `now`.
    async fn publish_upcoming(
        &self,
        fires: &[PublishedFire],
        jobs_per_agent: &BTreeMap<AgentId, u64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// What was last published.
    async fn read_upcoming(&self) -> Result<Published, StoreError>;
    /// Enabled jobs changed at or after `since`, newest first, at most `limit`.
    async fn recently_changed(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<RecentJob>, StoreError>;
}

type Row = (JobId, String, Option<AgentId>, DateTime<Utc>, String);

#[async_trait::async_trait]
impl UpcomingStore for MySqlStore {
    async fn publish_upcoming(
        &self,
        fires: &[PublishedFire],
        jobs_per_agent: &BTreeMap<AgentId, u64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM upcoming_fires")
            .execute(&mut *tx)
            .await?;
        if !fires.is_empty() {
            let mut q = QueryBuilder::new(
                "INSERT INTO upcoming_fires (position, job_id, job_name, agent_id, at, timezone) ",
            );
            q.push_values(fires.iter().enumerate(), |mut row, (i, f)| {
                row.push_bind(i as u8)
                    .push_bind(&f.job_id)
                    .push_bind(&f.job_name)
                    .push_bind(&f.agent_id)
                    .push_bind(f.at)
                    .push_bind(&f.timezone);
            });
            q.build().execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO upcoming_published (id, at, jobs_per_agent) VALUES (1, ?, ?) \
             ON DUPLICATE KEY UPDATE at = VALUES(at), jobs_per_agent = VALUES(jobs_per_agent)",
        )
        .bind(now)
        .bind(serde_json::to_string(jobs_per_agent).expect("counts serialise"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn read_upcoming(&self) -> Result<Published, StoreError> {
        let mut tx = self.pool().begin().await?;
        let rows: Vec<Row> = sqlx::query_as(
            // Joined with the jobs so a job paused or deleted since the last publish is left out
            // at once, and a rename shows.
            "SELECT u.job_id, j.name, u.agent_id, u.at, u.timezone FROM upcoming_fires u \
             JOIN jobs j ON j.id = u.job_id WHERE j.enabled ORDER BY u.position",
        )
        .fetch_all(&mut *tx)
        .await?;
        let published: Option<(DateTime<Utc>, String)> =
            sqlx::query_as("SELECT at, jobs_per_agent FROM upcoming_published WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        let fires = rows
            .into_iter()
            .map(|(job_id, job_name, agent_id, at, timezone)| PublishedFire {
                job_id,
                job_name,
                agent_id,
                at,
                timezone,
            })
            .collect();
        let (at, jobs_per_agent) = match published {
            Some((at, counts)) => (Some(at), serde_json::from_str(&counts).unwrap_or_default()),
            None => (None, BTreeMap::new()),
        };
        Ok(Published {
            fires,
            jobs_per_agent,
            at,
        })
    }

    async fn recently_changed(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<RecentJob>, StoreError> {
        // Schedule and time zone are never secret: read from the stored JSON without
        // decrypting anything.
        type Row = (
            JobId,
            String,
            Option<AgentId>,
            Option<String>,
            Option<String>,
            DateTime<Utc>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, name, agent_id, JSON_VALUE(spec, '$.schedule'), \
                 JSON_VALUE(spec, '$.timezone'), created_at FROM jobs \
                 WHERE enabled AND updated_at >= ? ORDER BY updated_at DESC LIMIT ?",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, name, agent_id, schedule, timezone, created_at)| {
                Some(RecentJob {
                    id,
                    name,
                    agent_id,
                    schedule: schedule?,
                    timezone: timezone?,
                    created_at,
                })
            })
            .collect())
    }
}
