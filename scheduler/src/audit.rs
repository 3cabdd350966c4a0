//! The audit log's vocabulary: what one change records (who, what, before and after) and how
//! it reads back through `GET /api/v1/audit`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Actor;

/// One change, written in the same transaction as the change itself where there is one.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub actor: Actor,
    /// `job.create`, `user.update`, `auth.login`… (`target_type.verb`).
    pub action: String,
    pub target_type: &'static str,
    pub target_id: Option<String>,
    /// The target before and after, secrets redacted.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub ip: Option<String>,
    /// The tool that made the change (`X-Crony-Source`), when it said.
    pub source: Option<String>,
}

impl AuditRecord {
    pub fn new(actor: &Actor, target_type: &'static str, verb: &str) -> Self {
        Self {
            actor: actor.clone(),
            action: format!("{target_type}.{verb}"),
            target_type,
            target_id: None,
            before: None,
            after: None,
            ip: None,
            source: None,
        }
    }

    pub fn target(mut self, id: impl Into<String>) -> Self {
        self.target_id = Some(id.into());
        self
    }

    pub fn before(mut self, value: impl Serialize) -> Self {
        self.before = serde_json::to_value(value).ok();
        self
    }

    pub fn after(mut self, value: impl Serialize) -> Self {
        self.after = serde_json::to_value(value).ok();
        self
    }

    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    pub fn source(mut self, source: Option<String>) -> Self {
        self.source = source;
        self
    }
}

/// One row of the audit log as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: u64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub ip: Option<String>,
    /// The tool that made the change (its `X-Crony-Source` header): `crony-cli apply`, say.
    pub source: Option<String>,
}

/// Filters of `GET /api/v1/audit`; newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub actor: Option<String>,
    /// Entries with an id below this (the previous page's last id).
    pub before_id: Option<u64>,
    pub limit: u32,
}
