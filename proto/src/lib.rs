//! Generated types and gRPC stubs for Crony's wire contracts (package `crony.v1`).
//!
//! - `AgentService`: served by agents, called by the leader scheduler.
//! - `ReportService`: served by schedulers, called by agents to deliver executions.
//! - `JobCallback`: implemented by user services, called by agents to run a job.

pub mod auth;

#[allow(clippy::all)]
pub mod v1 {
    tonic::include_proto!("crony.v1");
}

/// gRPC metadata key that carries the shared cluster token between agents and schedulers.
pub const CLUSTER_TOKEN_HEADER: &str = "x-crony-cluster-token";

/// The largest `AgentService` message either side accepts or sends, set explicitly on the
/// agent's server and the scheduler's client. Pushes are cut into chunks of at most
/// [`PUSH_CHUNK_BYTES`], and one job spec is bounded by the API's limits (a few hundred KiB at
/// most), so no job set, however large, ever reaches it.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Encoded job bytes per `Sync` chunk or `Assign` push.
pub const PUSH_CHUNK_BYTES: usize = 2 * 1024 * 1024;

/// The default method path of a gRPC job target.
pub const DEFAULT_CALLBACK_METHOD: &str = "/crony.v1.JobCallback/Execute";

impl v1::ExecutionStatus {
    /// The name the JSON API, MySQL and metrics use (`timed_out`, …); `unspecified` for 0.
    pub fn api_name(self) -> &'static str {
        use v1::ExecutionStatus as S;
        match self {
            S::Unspecified => "unspecified",
            S::Scheduled => "scheduled",
            S::Running => "running",
            S::Succeeded => "succeeded",
            S::Failed => "failed",
            S::TimedOut => "timed_out",
            S::Killed => "killed",
            S::Lost => "lost",
            S::Skipped => "skipped",
            S::Missed => "missed",
        }
    }
}
