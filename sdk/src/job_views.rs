//! What the management API answers about jobs: a stored job, its upcoming fires, a page of
//! jobs and the filters for it, a triggered run.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::jobs::JobSpec;

/// A stored job: its spec plus what the scheduler owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The job's id.
    pub id: String,
    /// The definition.
    #[serde(flatten)]
    pub spec: JobSpec,
    /// The agent that holds it, if any.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Grows with each (re)assignment.
    #[serde(default)]
    pub assignment_epoch: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The newest scheduled instant recorded for it.
    #[serde(default)]
    pub last_scheduled_at: Option<DateTime<Utc>>,
    /// The next fire times (empty when paused).
    #[serde(default)]
    pub next_fires: Vec<Fire>,
}

/// One upcoming fire time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fire {
    /// RFC 3339 in UTC.
    pub utc: String,
    /// RFC 3339 in the job's zone.
    pub local: String,
}

/// Filters for [`Client::list_jobs`](crate::Client::list_jobs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobQuery {
    /// Substring of the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Only enabled or only paused jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Only jobs held by this agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// 1–500 (50 when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One page of jobs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Set when the page is full: pass it as [`JobQuery::cursor`] for the next page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The answer to [`Client::trigger_job`](crate::Client::trigger_job).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Triggered {
    /// The run that started.
    pub execution_id: String,
    /// The job.
    pub job_id: String,
    /// The agent running it.
    pub agent_id: String,
}
