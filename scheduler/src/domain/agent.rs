//! Agents as the scheduler knows them: the live record from etcd plus what MySQL remembers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crony_common::registry::AgentRecord;
use serde::Serialize;

use super::ids::AgentId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    Online,
    Offline,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Online => "online",
            AgentState::Offline => "offline",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "online" => Some(AgentState::Online),
            "offline" => Some(AgentState::Offline),
            _ => None,
        }
    }
}

/// One agent as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    #[schema(value_type = String)]
    pub id: AgentId,
    pub grpc_addr: String,
    pub hostname: String,
    pub weight: u32,
    pub labels: BTreeMap<String, String>,
    pub version: String,
    pub allow_shell: bool,
    pub started_at: String,
    pub state: AgentState,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    /// Operator settings: placement uses `weight_override` instead of the published weight,
    /// and a drained agent gets no jobs (its jobs move away).
    pub weight_override: Option<u32>,
    pub drained: bool,
}

/// What an operator may change on an agent (`PATCH /api/v1/agents/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    /// 1 to 1000, or null to go back to the weight the agent publishes.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub weight: Option<Option<u32>>,
    #[serde(default)]
    pub drained: Option<bool>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Ok(Some(serde::Deserialize::deserialize(d)?))
}

impl AgentPatch {
    pub fn validate(&self) -> Result<(), String> {
        match self.weight {
            Some(Some(w)) if !(1..=1000).contains(&w) => {
                Err("weight must be 1 to 1000 (or null)".into())
            }
            _ => Ok(()),
        }
    }
}

/// Operator settings of one agent, as placement needs them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentAdmin {
    pub weight_override: Option<u32>,
    pub drained: bool,
}

impl AgentView {
    /// A live agent not (yet) recorded in MySQL.
    pub fn from_live(record: &AgentRecord) -> Self {
        Self {
            id: record.id.clone().into(),
            grpc_addr: record.grpc_addr.clone(),
            hostname: record.hostname.clone(),
            weight: record.weight,
            labels: record.labels.clone(),
            version: record.version.clone(),
            allow_shell: record.allow_shell,
            started_at: record.started_at.clone(),
            state: AgentState::Online,
            first_seen: None,
            last_seen: None,
            weight_override: None,
            drained: false,
        }
    }
}

/// Checks a record read from etcd: the id in the key and in the value must agree, and a
/// weight of 0 would make the agent unplaceable, so it is refused rather than trusted.
pub fn validate_record(key_id: &str, record: &AgentRecord) -> Result<(), String> {
    if record.id != key_id {
        return Err(format!(
            "record id {:?} differs from key id {key_id:?}",
            record.id
        ));
    }
    if record.weight == 0 {
        return Err("weight must be at least 1".into());
    }
    if record.grpc_addr.is_empty() {
        return Err("grpc_addr is empty".into());
    }
    Ok(())
}
