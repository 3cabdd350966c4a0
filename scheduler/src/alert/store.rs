//! The `alerts` table: recording an event as one row per recipient (throttled in the same
//! transaction), the worker's claims and outcomes, history for the API, and the execution
//! outcomes the rules look back on.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::rules::{SecretRef, Target};
use super::{Alert, ChannelKind, EventKind};
use crate::domain::execution::Status;
use crate::domain::ids::{AgentId, ExecutionId, JobId};
use crate::store::StoreError;
use crate::store::mysql::MySqlStore;

/// An event to record, before it is split per recipient.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub event: EventKind,
    pub job_id: Option<JobId>,
    pub execution_id: Option<ExecutionId>,
    pub agent_id: Option<AgentId>,
    pub group_key: String,
    pub alert: Alert,
    pub targets: Vec<Target>,
    /// False for test alerts, which are sent whatever came before.
    pub throttle: bool,
    /// Rows recorded already claimed by this caller, who delivers them itself (test alerts:
    /// the API sends at once, so the worker must not pick them up too).
    pub claim: Option<String>,
}

/// How long a claim keeps other workers off a row: longer than any send may take.
pub const CLAIM_LEASE: Duration = Duration::from_secs(120);

/// One row as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub id: u64,
    pub channel: ChannelKind,
    pub suppressed: bool,
}

/// One row of `alerts`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AlertRow {
    pub id: u64,
    pub event: String,
    #[schema(value_type = Option<String>)]
    pub job_id: Option<JobId>,
    #[schema(value_type = Option<String>)]
    pub execution_id: Option<ExecutionId>,
    #[schema(value_type = Option<String>)]
    pub agent_id: Option<AgentId>,
    pub channel: String,
    pub recipient: String,
    #[serde(skip)]
    pub secret_ref: Option<String>,
    pub status: String,
    pub attempts: u32,
    pub last_error: String,
    #[serde(skip)]
    pub payload: String,
    pub group_key: String,
    pub grouped_into: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl AlertRow {
    pub fn channel(&self) -> Option<ChannelKind> {
        match self.channel.as_str() {
            "email" => Some(ChannelKind::Email),
            "feishu" => Some(ChannelKind::Feishu),
            "webhook" => Some(ChannelKind::Webhook),
            _ => None,
        }
    }

    pub fn secret_ref(&self) -> Option<SecretRef> {
        self.secret_ref.as_deref().and_then(SecretRef::parse)
    }

    /// The stored message, with this row's id.
    pub fn alert(&self) -> Result<Alert, String> {
        let mut alert: Alert = serde_json::from_str(&self.payload)
            .map_err(|e| format!("alert {} has an unreadable payload: {e}", self.id))?;
        alert.id = self.id;
        Ok(alert)
    }
}

const COLUMNS: &str = "id, event, job_id, execution_id, agent_id, channel, recipient, secret_ref, \
     status, attempts, last_error, payload, group_key, grouped_into, created_at, \
     next_attempt_at, sent_at, updated_at";

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Sent,
    Retry { error: String, at: DateTime<Utc> },
    Dead { error: String },
}

/// Filters of `GET /api/v1/alerts`; newest first by (created_at, id).
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub job_id: Option<JobId>,
    pub event: Option<EventKind>,
    pub channel: Option<ChannelKind>,
    pub statuses: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Strictly older than this (created_at, id).
    pub before: Option<(DateTime<Utc>, u64)>,
    pub limit: u32,
}

#[async_trait::async_trait]
pub trait AlertStore: Send + Sync {
    /// Writes one row per target in one transaction: `pending`, or `suppressed` when the same
    /// group alerted that recipient within `window` (the count goes into the next message).
    async fn record_alert(
        &self,
        alert: &NewAlert,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Recorded>, StoreError>;
    /// Claims up to `limit` due rows for `lease` (pushing their next attempt past it).
    async fn claim_due(
        &self,
        claim: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<AlertRow>, StoreError>;
    /// Alerts sent to this recipient since `since`.
    async fn sent_since(
        &self,
        channel: ChannelKind,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Makes `carrier` carry `payload` (a grouped message) and marks `others` suppressed
    /// into it.
    async fn group_into(
        &self,
        carrier: u64,
        payload: &Alert,
        others: &[u64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Records a delivery attempt's outcome, if the row is still under this claim.
    async fn finish(
        &self,
        id: u64,
        claim: &str,
        outcome: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRow>, StoreError>;
    async fn get_alert(&self, id: u64) -> Result<Option<AlertRow>, StoreError>;
    /// Up to `limit` outcomes (succeeded, failed, timed_out, lost) of a job older than
    /// (scheduled_at, id), newest first.
    async fn outcomes_before(
        &self,
        job_id: &JobId,
        scheduled_at: DateTime<Utc>,
        id: &ExecutionId,
        limit: u32,
    ) -> Result<Vec<Status>, StoreError>;
}

#[async_trait::async_trait]
impl AlertStore for MySqlStore {
    async fn record_alert(
        &self,
        alert: &NewAlert,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Recorded>, StoreError> {
        let recorded = super::outbox::record_retrying(
            self.pool(),
            None,
            std::slice::from_ref(alert),
            window,
            now,
        )
        .await?;
        Ok(recorded.unwrap_or_default())
    }

    async fn claim_due(
        &self,
        claim: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        // A conditional update claims: a second worker (at a leader change) finds nothing left.
        sqlx::query(
            "UPDATE alerts SET claim = ?, next_attempt_at = ?, updated_at = ? \
             WHERE status IN ('pending', 'failed') AND next_attempt_at <= ? \
             ORDER BY next_attempt_at LIMIT ?",
        )
        .bind(claim)
        .bind(until)
        .bind(now)
        .bind(now)
        .bind(limit)
        .execute(self.pool())
        .await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM alerts WHERE claim = ? AND status IN ('pending', 'failed') \
             ORDER BY id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(claim)
            .fetch_all(self.pool())
            .await?)
    }

    async fn sent_since(
        &self,
        channel: ChannelKind,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM alerts WHERE sent_at >= ? AND channel = ? AND recipient = ?",
        )
        .bind(since)
        .bind(channel.as_str())
        .bind(recipient)
        .fetch_one(self.pool())
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn group_into(
        &self,
        carrier: u64,
        payload: &Alert,
        others: &[u64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let json = serde_json::to_string(payload).expect("alerts serialise");
        sqlx::query("UPDATE alerts SET payload = ?, updated_at = ? WHERE id = ?")
            .bind(json)
            .bind(now)
            .bind(carrier)
            .execute(&mut *tx)
            .await?;
        for chunk in others.chunks(500) {
            let mut q =
                QueryBuilder::new("UPDATE alerts SET status = 'suppressed', claim = NULL, ");
            q.push("grouped_into = ")
                .push_bind(carrier)
                .push(", last_error = ")
                .push_bind(format!("grouped into alert {carrier}"))
                .push(", updated_at = ")
                .push_bind(now)
                .push(" WHERE status IN ('pending', 'failed') AND id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish(
        &self,
        id: u64,
        claim: &str,
        outcome: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (status, error, next, sent) = match outcome {
            Delivery::Sent => ("sent", "", now, Some(now)),
            Delivery::Retry { error, at } => ("failed", error.as_str(), *at, None),
            Delivery::Dead { error } => ("dead", error.as_str(), now, None),
        };
        sqlx::query(
            "UPDATE alerts SET status = ?, attempts = attempts + 1, last_error = ?, \
             next_attempt_at = ?, sent_at = ?, claim = NULL, updated_at = ? \
             WHERE id = ? AND claim = ?",
        )
        .bind(status)
        .bind(crate::domain::execution::cut(error, 4_000))
        .bind(next)
        .bind(sent)
        .bind(now)
        .bind(id)
        .bind(claim)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRow>, StoreError> {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM alerts WHERE 1 = 1"));
        if let Some(job) = &filter.job_id {
            q.push(" AND job_id = ").push_bind(job);
        }
        if let Some(event) = filter.event {
            q.push(" AND event = ").push_bind(event.as_str());
        }
        if let Some(channel) = filter.channel {
            q.push(" AND channel = ").push_bind(channel.as_str());
        }
        if !filter.statuses.is_empty() {
            q.push(" AND status IN (");
            let mut list = q.separated(", ");
            for status in &filter.statuses {
                list.push_bind(status);
            }
            q.push(")");
        }
        if let Some(from) = filter.from {
            q.push(" AND created_at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            q.push(" AND created_at < ").push_bind(to);
        }
        if let Some((at, id)) = filter.before {
            q.push(" AND (created_at < ")
                .push_bind(at)
                .push(" OR (created_at = ")
                .push_bind(at)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(filter.limit);
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn get_alert(&self, id: u64) -> Result<Option<AlertRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM alerts WHERE id = ?");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn outcomes_before(
        &self,
        job_id: &JobId,
        scheduled_at: DateTime<Utc>,
        id: &ExecutionId,
        limit: u32,
    ) -> Result<Vec<Status>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT status FROM executions WHERE job_id = ? \
             AND status IN ('succeeded', 'failed', 'timed_out', 'lost') \
             AND (scheduled_at < ? OR (scheduled_at = ? AND id < ?)) \
             ORDER BY scheduled_at DESC, id DESC LIMIT ?",
        )
        .bind(job_id)
        .bind(scheduled_at)
        .bind(scheduled_at)
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().filter_map(|(s,)| Status::parse(s)).collect())
    }
}
