//! Executors run one attempt of a job against the user's code (HTTP, gRPC or shell). They know
//! nothing of timeouts, retries or reporting: [`run_attempt`] puts the per-attempt timeout and
//! the kill switch around any of them, and the runner owns retries.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crony_proto::v1::{JobSpec, target};
use tokio_util::sync::CancellationToken;

/// Output kept per execution: the first and last halves of this many bytes survive.
pub const OUTPUT_CAP: usize = 64 * 1024;

/// What an attempt needs to know about its execution (sent to the target as context).
#[derive(Debug, Clone)]
pub struct AttemptContext {
    pub execution_id: String,
    pub job_id: String,
    pub job_name: String,
    pub payload: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub scheduled_at: DateTime<Utc>,
    /// When the agent stops waiting for this attempt (scheduled start + timeout).
    pub deadline: DateTime<Utc>,
    /// Where an async (202 / ACCEPTED) result must be posted, and the token to present.
    pub report_url: String,
    pub report_token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    Succeeded,
    Failed,
    /// The target took the work and will report the result itself (HTTP 202, gRPC ACCEPTED).
    Accepted,
    TimedOut,
    Killed,
}

#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub status: AttemptStatus,
    /// Captured output (response body, ExecuteResponse.output, stdout+stderr), capped.
    pub output: String,
    pub output_truncated: bool,
    /// Why it did not succeed, in words for the dashboard; empty on success.
    pub error: String,
    pub exit_code: Option<i32>,
    pub http_status: Option<u16>,
}

impl AttemptOutcome {
    pub fn with_status(status: AttemptStatus, error: impl Into<String>) -> Self {
        Self {
            status,
            output: String::new(),
            output_truncated: false,
            error: error.into(),
            exit_code: None,
            http_status: None,
        }
    }
}

/// One kind of target. Dropping the future returned by `execute` must stop the work it
/// started (a shell executor kills its process group), because that is how timeouts and kills
/// reach it.
#[async_trait::async_trait]
pub trait Executor: Send + Sync {
    async fn execute(&self, ctx: &AttemptContext) -> AttemptOutcome;
}

/// Clients shared by every execution of an agent (connection pools live here).
#[derive(Debug, Clone)]
pub struct Executors {
    // Filled by the implementations: e.g. a reqwest::Client, a tonic channel cache.
}

impl Executors {
    pub fn new(_allow_shell: bool) -> Self {
        todo!("executor implementations")
    }

    /// The executor for a job's target, or why the job cannot run on this agent.
    pub fn for_job(&self, _job: &JobSpec) -> Result<Box<dyn Executor>, String> {
        let _ = target::Kind::Http;
        todo!("executor implementations")
    }
}

/// Runs one attempt with `timeout`; cancelling `kill` stops it and yields `Killed`.
pub async fn run_attempt(
    executor: &dyn Executor,
    ctx: &AttemptContext,
    timeout: Duration,
    kill: &CancellationToken,
) -> AttemptOutcome {
    tokio::select! {
        outcome = executor.execute(ctx) => outcome,
        _ = tokio::time::sleep(timeout) => AttemptOutcome::with_status(
            AttemptStatus::TimedOut,
            format!("attempt timed out after {}s", timeout.as_secs_f64()),
        ),
        _ = kill.cancelled() => AttemptOutcome::with_status(AttemptStatus::Killed, "killed on request"),
    }
}
