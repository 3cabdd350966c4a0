//! Execution types of the management API (`GET /api/v1/executions…`), with the API's JSON field
//! names.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExecutionStatus {
    /// Due, not started.
    Scheduled,
    /// Running on the agent, or accepted and waiting for its async result.
    Running,
    /// Ended well.
    Succeeded,
    /// Ended badly (after its retries).
    Failed,
    /// Ran out of time (per attempt, or waiting for an async result).
    TimedOut,
    /// Stopped by a kill request or by `overlap: replace`.
    Killed,
    /// Its agent died while running it.
    Lost,
    /// Not run: the previous run was still going (`overlap: skip`).
    Skipped,
    /// Not run: nobody owned the job at the time (misfire policy).
    Missed,
    /// A status this SDK does not know yet.
    #[serde(other)]
    Unknown,
}

impl ExecutionStatus {
    /// Whether the execution has its final status (anything but `scheduled` and `running`).
    pub fn is_settled(self) -> bool {
        !matches!(self, ExecutionStatus::Scheduled | ExecutionStatus::Running)
    }

    /// The API's name (`timed_out`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Scheduled => "scheduled",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::TimedOut => "timed_out",
            ExecutionStatus::Killed => "killed",
            ExecutionStatus::Lost => "lost",
            ExecutionStatus::Skipped => "skipped",
            ExecutionStatus::Missed => "missed",
            ExecutionStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One execution. Lists carry the summary fields; [`Client::get_execution`] adds `attempts`,
/// `output` and `late_result`.
///
/// [`Client::get_execution`]: crate::Client::get_execution
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The execution's id (also in `X-Crony-Execution-Id`).
    pub id: String,
    /// Its job.
    pub job_id: String,
    /// The agent that ran it.
    #[serde(default)]
    pub agent_id: String,
    /// The instant it was scheduled for.
    pub scheduled_at: DateTime<Utc>,
    /// When the first attempt started.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it got its final status.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Its status.
    pub status: ExecutionStatus,
    /// `schedule`, `manual` or `retry`.
    #[serde(default)]
    pub trigger: String,
    /// How many attempts were made.
    #[serde(default)]
    pub attempt_count: u32,
    /// Exit code of a shell job's last attempt.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// HTTP status of an HTTP job's last attempt.
    #[serde(default)]
    pub http_status: Option<u16>,
    /// Whether the output was cut to 64 KiB.
    #[serde(default)]
    pub output_truncated: bool,
    /// Why it failed.
    #[serde(default)]
    pub error: String,
    /// When an accepted run times out if it has not reported.
    #[serde(default)]
    pub async_deadline: Option<DateTime<Utc>>,
    /// Who set the final status: `agent`, `result` (an async report) or `sweeper`.
    #[serde(default)]
    pub settled_by: Option<String>,
    /// `finished_at − started_at`.
    #[serde(default)]
    pub duration_ms: Option<i64>,
    /// `started_at − scheduled_at`.
    #[serde(default)]
    pub start_delay_ms: Option<i64>,
    /// Each attempt (only on a single execution).
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// The captured output (only on a single execution).
    #[serde(default)]
    pub output: Option<String>,
    /// A result reported after the execution was settled (only on a single execution).
    #[serde(default)]
    pub late_result: Option<LateResult>,
}

/// One attempt of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first.
    pub number: u32,
    /// Its status, once it ended.
    #[serde(default)]
    pub status: Option<String>,
    /// Start, in milliseconds since the epoch.
    #[serde(default)]
    pub started_at_ms: i64,
    /// End, in milliseconds since the epoch.
    #[serde(default)]
    pub finished_at_ms: i64,
    /// How long it took.
    #[serde(default)]
    pub duration_ms: Option<i64>,
    /// Exit code (shell).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// HTTP status (HTTP).
    #[serde(default)]
    pub http_status: Option<u32>,
    /// Why it failed.
    #[serde(default)]
    pub error: String,
}

/// A result that arrived after its execution was settled: kept, but it did not change the
/// status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LateResult {
    /// The status that was posted.
    pub status: String,
    /// The output that was posted.
    #[serde(default)]
    pub output: String,
    /// The error that was posted.
    #[serde(default)]
    pub error: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// Filters for [`Client::list_executions`](crate::Client::list_executions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionQuery {
    /// Only this job's executions.
    pub job_id: Option<String>,
    /// Only executions on this agent.
    pub agent_id: Option<String>,
    /// Only these statuses (any when empty).
    pub statuses: Vec<ExecutionStatus>,
    /// `schedule`, `manual` or `retry`.
    pub trigger: Option<String>,
    /// `scheduled_at` at or after this.
    pub from: Option<DateTime<Utc>>,
    /// `scheduled_at` before this.
    pub to: Option<DateTime<Utc>>,
    /// 1–500 (50 when unset).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ExecutionQuery {
    /// The executions of one job.
    pub fn job(job_id: impl Into<String>) -> Self {
        Self {
            job_id: Some(job_id.into()),
            ..Self::default()
        }
    }

    /// Only these statuses.
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = ExecutionStatus>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// The query string pairs, in the API's names.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut push = |name, value: Option<String>| {
            if let Some(value) = value {
                pairs.push((name, value));
            }
        };
        push("job_id", self.job_id.clone());
        push("agent_id", self.agent_id.clone());
        push(
            "status",
            (!self.statuses.is_empty()).then(|| {
                let names: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
                names.join(",")
            }),
        );
        push("trigger", self.trigger.clone());
        push("from", self.from.map(|t| t.to_rfc3339()));
        push("to", self.to.map(|t| t.to_rfc3339()));
        push("limit", self.limit.map(|n| n.to_string()));
        push("cursor", self.cursor.clone());
        pairs
    }
}

/// One page of executions, newest first.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExecutionPage {
    /// The executions.
    pub executions: Vec<Execution>,
    /// Set when the page is full: pass it as [`ExecutionQuery::cursor`] for the next page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_do_not_break_parsing() {
        let s: ExecutionStatus = serde_json::from_str("\"paused_forever\"").unwrap();
        assert_eq!(s, ExecutionStatus::Unknown);
        let s: ExecutionStatus = serde_json::from_str("\"timed_out\"").unwrap();
        assert!(s.is_settled());
        assert!(!ExecutionStatus::Running.is_settled());
    }

    #[test]
    fn queries_use_the_api_names() {
        let q = ExecutionQuery::job("j1")
            .statuses([ExecutionStatus::Failed, ExecutionStatus::TimedOut]);
        assert_eq!(
            q.pairs(),
            vec![
                ("job_id", "j1".to_owned()),
                ("status", "failed,timed_out".to_owned())
            ]
        );
    }
}
