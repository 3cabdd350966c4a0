//! Executors run one attempt of a job against the user's code (HTTP, gRPC or shell). They know
//! nothing of timeouts, retries or reporting: [`run_attempt`] puts the per-attempt timeout and
//! the kill switch around any of them, and the runner owns retries.

pub mod grpc;
pub mod host_limit;
pub mod http;
pub mod output;
pub mod shell;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crony_common::callback_allow::{self as allow, CallbackAllow};

use crate::job::{Job, Target};
use tokio_util::sync::CancellationToken;

/// Output kept per execution: the first and last halves of this many bytes survive.
pub const OUTPUT_CAP: usize = 64 * 1024;

/// Bounds connecting to an HTTP or gRPC target, so an unreachable host fails with that reason
/// rather than running into the (possibly much longer) attempt timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The W3C `traceparent` of this attempt's span, when the agent exports traces: sent to
    /// the target (header, gRPC metadata, `TRACEPARENT`) so the user's service joins the trace.
    pub traceparent: Option<String>,
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
    allow_shell: bool,
    http: reqwest::Client,
    hosts: host_limit::HostLimits,
    channels: grpc::ChannelCache,
    /// `CRONY_CALLBACK_ALLOW`; `None`: any host may be called.
    allow: Option<Arc<CallbackAllow>>,
}

impl Executors {
    /// `allow_shell` is the agent's setting: when false, shell jobs are refused.
    pub fn new(allow_shell: bool) -> Self {
        Self::with_callback_allow(allow_shell, None)
    }

    /// At most `per_host` HTTP calls in flight to one host (see [`host_limit`]).
    pub fn with_http_per_host(mut self, per_host: usize) -> Self {
        self.hosts = host_limit::HostLimits::new(per_host);
        self
    }

    /// Like [`Executors::new`]; HTTP and gRPC jobs may only call hosts `allow` allows.
    pub fn with_callback_allow(allow_shell: bool, allow: Option<CallbackAllow>) -> Self {
        let allow = allow.map(Arc::new);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("crony-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(allow) = &allow {
            builder = allow::guard_client(builder, allow.clone())
                .redirect(allow::redirect_policy(allow.clone()));
        }
        let http = builder
            .build()
            // Building fails only when the TLS backend cannot initialise, and none is compiled
            // in; the plain client is the same thing without the user agent.
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            allow_shell,
            http,
            hosts: host_limit::HostLimits::default(),
            channels: grpc::ChannelCache::new(allow.clone()),
            allow,
        }
    }

    pub fn allow_shell(&self) -> bool {
        self.allow_shell
    }

    /// The executor for a job's target, or why the job cannot run on this agent.
    pub fn for_job(&self, job: &Job) -> Result<Box<dyn Executor>, String> {
        match &job.target {
            Target::Http(http) => Ok(Box::new(
                http::HttpExecutor::new(self.http.clone(), http.clone(), self.hosts.clone())
                    .with_callback_allow(self.allow.clone()),
            )),
            Target::Grpc(grpc) => Ok(Box::new(grpc::GrpcExecutor::new(
                grpc,
                self.channels.clone(),
            )?)),
            Target::Shell(_) if !self.allow_shell => Err(format!(
                "job {:?} is a shell job and this agent runs with shell disabled",
                job.name
            )),
            Target::Shell(shell) => Ok(Box::new(shell::ShellExecutor::new(shell.clone()))),
        }
    }
}

/// Shell allowed, like the agent's configuration default.
impl Default for Executors {
    fn default() -> Self {
        Self::new(true)
    }
}

pub(crate) use crony_common::error_chain::error_chain;

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
