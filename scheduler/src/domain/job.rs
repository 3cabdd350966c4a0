//! The job model of design §4 as accepted by the API; its validation is in `job_validate`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::{AgentId, JobId};
use crate::alert::AlertLang;
use crate::placement::Strategy;

pub const MAX_NAME: usize = 128;
pub const MAX_DESCRIPTION: usize = 2_000;
pub const MAX_BLOB: usize = 64 * 1024;
pub const MAX_TIMEOUT_SECS: u32 = 7 * 24 * 3600;
pub const MAX_RETRIES: u32 = 100;
pub const MAX_MANAGED_BY: usize = 64;
/// What the API shows instead of a secret value; sending it back keeps the stored secret.
pub const REDACTED: &str = "********";

/// A job definition as users write it (POST/PUT body) and as it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// A valid example lets API fuzzers create jobs (random cron strings almost never parse).
#[schema(example = json!({
    "name": "nightly-report",
    "schedule": "0 30 2 * * *",
    "timezone": "Asia/Shanghai",
    "target": {"kind": "http", "method": "POST", "url": "http://127.0.0.1:9/run"}
}))]
pub struct JobSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub schedule: String,
    #[serde(default = "utc")]
    pub timezone: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub target: Target,
    #[serde(default)]
    pub payload: String,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub overlap: Overlap,
    #[serde(default)]
    pub misfire: Misfire,
    #[serde(default)]
    pub placement: PlacementSpec,
    #[serde(default = "default_async_timeout")]
    pub async_timeout_secs: u32,
    #[serde(default)]
    pub alerts: AlertSpec,
    /// The language of this job's email and Feishu alerts (`en` or `zh-CN`); `null`: the
    /// cluster's `CRONY_ALERT_LANG`.
    #[serde(default)]
    pub alert_lang: Option<AlertLang>,
    /// Which tool owns the definition (`crony-apply:<set>` for jobs that `crony apply`
    /// created): `apply --prune` deletes only jobs carrying its own set's marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    Http {
        #[serde(default = "post")]
        method: String,
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: String,
        #[serde(default)]
        success_status: Option<u16>,
        /// Names of `headers` whose values are secret: never shown by the API or logged, and
        /// encrypted in MySQL when `CRONY_SECRET_KEY` is set.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secret_headers: Vec<String>,
    },
    Grpc {
        endpoint: String,
        #[serde(default = "default_grpc_method")]
        method: String,
        #[serde(default)]
        metadata: BTreeMap<String, String>,
        /// Keys of `metadata` whose values are secret (see `secret_headers`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secret_metadata: Vec<String>,
    },
    Shell {
        command: String,
        #[serde(default)]
        workdir: Option<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Names of `env` variables whose values are secret (see `secret_headers`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secret_env: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    Fixed,
    #[default]
    Exponential,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    #[serde(default)]
    pub max_retries: u32,
    #[serde(default)]
    pub backoff: Backoff,
    #[serde(default = "five")]
    pub initial_secs: u32,
    #[serde(default = "three_hundred")]
    pub max_secs: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 0,
            backoff: Backoff::Exponential,
            initial_secs: 5,
            max_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    #[default]
    Skip,
    Allow,
    Replace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Misfire {
    Skip,
    #[default]
    FireOnce,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementSpec {
    /// `None`: the cluster default.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub agent_id: Option<AgentId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertEvent {
    Failed,
    TimedOut,
    Recovered,
    Missed,
    Lost,
    /// The failure rate over the job's last executions crossed `CRONY_ALERT_FAILURE_RATE`.
    FailureRate,
    /// The job has no eligible agent.
    Unassigned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    #[serde(default)]
    pub on: Vec<AlertEvent>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub feishu_webhooks: Vec<FeishuWebhook>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeishuWebhook {
    /// The bot's webhook URL. Its last segment is a credential: callers with the viewer role
    /// see it cut to its first four characters (`…/hook/abcd…`).
    pub url: String,
    #[serde(default)]
    pub secret: Option<String>,
}

/// A rule a field broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

pub(super) fn bad(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

impl JobSpec {
    /// Shell jobs may only run on agents that allow them.
    pub fn needs_shell(&self) -> bool {
        matches!(self.target, Target::Shell { .. })
    }
}

fn utc() -> String {
    "UTC".into()
}
fn yes() -> bool {
    true
}
fn post() -> String {
    "POST".into()
}
fn default_grpc_method() -> String {
    crony_proto::DEFAULT_CALLBACK_METHOD.into()
}
fn default_timeout() -> u32 {
    60
}
fn default_async_timeout() -> u32 {
    3600
}
fn five() -> u32 {
    5
}
fn three_hundred() -> u32 {
    300
}

/// A stored job: the spec plus what the scheduler owns.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Job {
    #[schema(value_type = String)]
    pub id: JobId,
    #[serde(flatten)]
    pub spec: JobSpec,
    #[schema(value_type = Option<String>)]
    pub agent_id: Option<AgentId>,
    pub assignment_epoch: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The newest scheduled instant ingested for the job: where a new owner's misfire window
    /// starts.
    pub last_scheduled_at: Option<DateTime<Utc>>,
}
