//! The audit log in MySQL: one row per change, written in the change's own transaction
//! ([`write_audit`]), or alone for what changes nothing else (a trigger, a kill, a failed
//! login), and read back newest first.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::StoreError;
use super::mysql::MySqlStore;
use crate::audit::{AuditEntry, AuditFilter, AuditRecord};
use crate::auth::{Actor, ActorKind};

#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// An audit row for something that changed nothing else in MySQL (a trigger, a kill, a
    /// failed login).
    async fn record_audit(&self, audit: AuditRecord) -> Result<(), StoreError>;
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Writes one audit row inside `tx`.
pub(crate) async fn write_audit(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    audit: &AuditRecord,
) -> Result<(), sqlx::Error> {
    let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
    sqlx::query(
        "INSERT INTO audit_log (at, actor, actor_kind, actor_id, action, target_type, target_id, \
         job_id, before_state, after_state, ip, source, detail) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')",
    )
    .bind(Utc::now())
    .bind(&audit.actor.name)
    .bind(audit.actor.kind.as_str())
    .bind(&audit.actor.id)
    .bind(&audit.action)
    .bind(audit.target_type)
    .bind(&audit.target_id)
    .bind(if audit.target_type == "job" {
        audit.target_id.clone()
    } else {
        None
    })
    .bind(json(&audit.before))
    .bind(json(&audit.after))
    .bind(&audit.ip)
    .bind(&audit.source)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: u64,
    at: DateTime<Utc>,
    actor: String,
    actor_kind: String,
    actor_id: Option<String>,
    action: String,
    target_type: String,
    target_id: Option<String>,
    before_state: Option<String>,
    after_state: Option<String>,
    ip: Option<String>,
    source: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: Actor {
                kind: ActorKind::parse(&r.actor_kind),
                id: r.actor_id,
                name: r.actor,
            },
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            before: parse(r.before_state),
            after: parse(r.after_state),
            ip: r.ip,
            source: r.source,
        }
    }
}

#[async_trait::async_trait]
impl AuditStore for MySqlStore {
    async fn record_audit(&self, audit: AuditRecord) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        write_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut query = QueryBuilder::new(
            "SELECT id, at, actor, actor_kind, actor_id, action, target_type, target_id, \
             before_state, after_state, ip, source FROM audit_log WHERE 1 = 1",
        );
        if let Some(action) = &filter.action {
            query.push(" AND action = ").push_bind(action);
        }
        if let Some(t) = &filter.target_type {
            query.push(" AND target_type = ").push_bind(t);
        }
        if let Some(t) = &filter.target_id {
            query.push(" AND target_id = ").push_bind(t);
        }
        if let Some(a) = &filter.actor {
            query.push(" AND actor = ").push_bind(a);
        }
        if let Some(before) = filter.before_id {
            query.push(" AND id < ").push_bind(before);
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(filter.limit);
        let rows: Vec<AuditRow> = query.build_query_as().fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}
