//! Persistence behind a trait, so the API and loops do not care that it is MySQL.

pub mod accounts;
pub mod assignments;
pub mod audit_log;
mod counts;
pub mod executions;
pub mod ingest;
pub mod job_feed;
pub mod jobs;
pub mod lost_retries;
pub mod migrations;
pub mod mysql;
mod one_shot;
mod placeholders;
pub mod stats;
pub mod tokens;
pub mod upcoming;

use chrono::{DateTime, Utc};
use crony_common::registry::AgentRecord;

use std::collections::HashMap;

use crate::domain::agent::{AgentAdmin, AgentPatch, AgentView};
use crate::domain::ids::AgentId;
use crate::error::ErrorCode;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    /// A deadlock or lock wait timeout: nothing was written; the same call may succeed now.
    #[error("database busy, try again: {0}")]
    Retry(String),
    #[error("leader term {mine} was superseded by term {current}")]
    Deposed { mine: u64, current: u64 },
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Unavailable(_) => ErrorCode::Unavailable,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::Deposed { .. } | StoreError::Retry(_) => ErrorCode::Unavailable,
            StoreError::Other(_) => ErrorCode::Internal,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(e.to_string())
            }
            // ER_LOCK_DEADLOCK and ER_LOCK_WAIT_TIMEOUT: InnoDB rolled the statement back.
            // ER_AUTOINC_READ_FAILED (1467): MariaDB's answer to two `INSERT … SELECT`s into
            // one table racing for its auto-increment lock; nothing was written either.
            sqlx::Error::Database(ref db)
                if matches!(db.code().as_deref(), Some("40001") | Some("HY000"))
                    && (db.message().contains("Deadlock")
                        || db.message().contains("Lock wait")
                        || db.message().contains("auto-increment value")) =>
            {
                StoreError::Retry(e.to_string())
            }
            other => StoreError::Other(other.to_string()),
        }
    }
}

#[async_trait::async_trait]
pub trait Store:
    jobs::JobStore
    + accounts::AccountStore
    + tokens::TokenStore
    + audit_log::AuditStore
    + assignments::AssignmentStore
    + job_feed::JobFeedStore
    + executions::ExecutionStore
    + lost_retries::LostRetryStore
    + stats::StatsStore
    + upcoming::UpcomingStore
    + crate::alert::store::AlertStore
    + crate::alert::outbox::OutboxStore
    + Send
    + Sync
{
    /// Records that exactly `live` are online at `now`: upserts them (first seen kept) and marks
    /// every other online agent offline.
    async fn record_live_agents(
        &self,
        live: &[AgentRecord],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Every agent ever seen, by id.
    async fn list_agents(&self) -> Result<Vec<AgentView>, StoreError>;

    async fn get_agent(&self, id: &AgentId) -> Result<Option<AgentView>, StoreError>;

    /// Applies operator settings; false when the agent was never seen.
    async fn patch_agent(
        &self,
        id: &AgentId,
        patch: &AgentPatch,
        audit: crate::audit::AuditRecord,
    ) -> Result<bool, StoreError>;

    /// Operator settings of the agents that have any.
    async fn agent_admin(&self) -> Result<HashMap<AgentId, AgentAdmin>, StoreError>;

    /// Cheap round trip for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
}
