//! The etcd layout shared by agents (writers) and schedulers (readers): keys and the agent record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Default key prefix for everything Crony keeps in etcd.
pub const DEFAULT_PREFIX: &str = "/crony";

/// `{prefix}/agents/`: the directory that live agents register under.
pub fn agents_dir(prefix: &str) -> String {
    format!("{prefix}/agents/")
}

/// `{prefix}/agents/{agent_id}`: one live agent, attached to that agent's lease.
pub fn agent_key(prefix: &str, agent_id: &str) -> String {
    format!("{prefix}/agents/{agent_id}")
}

/// `{prefix}/election/scheduler`: the election the leader scheduler wins.
pub fn election_key(prefix: &str) -> String {
    format!("{prefix}/election/scheduler")
}

/// What an agent publishes about itself under [`agent_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub id: String,
    /// Address the scheduler dials for `AgentService` (`host:port`).
    pub grpc_addr: String,
    pub hostname: String,
    pub weight: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub version: String,
    pub allow_shell: bool,
    /// RFC 3339 instant the agent process started.
    pub started_at: String,
    /// `AgentService` serves TLS: dial `https://`. Absent in records of older agents.
    #[serde(default)]
    pub tls: bool,
    /// The etcd lease this record is put under: a new id means the agent registered again
    /// (and un-armed its jobs until the leader syncs it). 0 in records of older agents.
    #[serde(default)]
    pub lease_id: i64,
}

/// `{prefix}/schedulers/`: where running schedulers announce themselves, so agents find
/// somewhere to report executions and users' services somewhere to post async results.
pub fn schedulers_dir(prefix: &str) -> String {
    format!("{prefix}/schedulers/")
}

/// `{prefix}/schedulers/{scheduler_id}`, attached to that scheduler's lease.
pub fn scheduler_key(prefix: &str, scheduler_id: &str) -> String {
    format!("{prefix}/schedulers/{scheduler_id}")
}

/// What a scheduler publishes about itself under [`scheduler_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerRecord {
    pub id: String,
    /// `http(s)://host:port` where `ReportService` is served.
    pub grpc_url: String,
    /// Base URL of the HTTP API (`http(s)://host:port`), used to build async report URLs.
    pub http_url: String,
    /// `ReportService` and the HTTP API serve TLS (the URLs say `https://`). Absent in records
    /// of older schedulers.
    #[serde(default)]
    pub tls: bool,
}
