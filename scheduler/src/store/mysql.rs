//! The MySQL/MariaDB store: connection, migrations, and the agent queries.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crony_common::registry::AgentRecord;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, QueryBuilder};

use super::{Store, StoreError};
use std::collections::HashMap;

use crate::domain::agent::{AgentAdmin, AgentPatch, AgentState, AgentView};
use crate::domain::ids::AgentId;

pub struct MySqlStore {
    pool: MySqlPool,
    /// Seals job secrets before they are written and opens them when read.
    secrets: crate::auth::secrets::SecretBox,
}

impl MySqlStore {
    /// Connects, creates the database if it does not exist, and applies pending migrations.
    pub async fn connect(options: &MySqlConnectOptions) -> Result<Self, StoreError> {
        let database = options.get_database().unwrap_or_default().to_owned();
        // The database may not exist yet: create it over a connection without one.
        let mut admin = options.clone().database("").connect().await?;
        let create = format!(
            "CREATE DATABASE IF NOT EXISTS `{}`",
            database.replace('`', "``")
        );
        sqlx::query(&create).execute(&mut admin).await?;
        admin.close().await?;

        let pool = MySqlPoolOptions::new()
            .max_connections(10)
            // Short, so a MariaDB outage turns into quick errors (and a 503 on /readyz)
            // instead of requests that hang.
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(options.clone())
            .await?;
        let schema = super::migrations::status(options).await?;
        if !schema.unknown.is_empty() {
            tracing::warn!(
                newer = ?schema.unknown,
                "the database has migrations newer than this scheduler (a newer version ran on \
                 it); running on, as migrations within crony.v1 only add (UPGRADING.md)"
            );
        }
        super::migrations::apply(&pool).await?;
        Ok(Self {
            pool,
            secrets: crate::auth::secrets::SecretBox::none(),
        })
    }

    /// Encrypts job secrets at rest under this key from now on.
    pub fn with_secrets(mut self, secrets: crate::auth::secrets::SecretBox) -> Self {
        self.secrets = secrets;
        self
    }

    pub fn secrets(&self) -> &crate::auth::secrets::SecretBox {
        &self.secrets
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: AgentId,
    grpc_addr: String,
    hostname: String,
    weight: u32,
    labels: String,
    version: String,
    allow_shell: bool,
    started_at: String,
    state: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    weight_override: Option<u32>,
    drained: bool,
}

impl From<AgentRow> for AgentView {
    fn from(row: AgentRow) -> Self {
        Self {
            id: row.id,
            grpc_addr: row.grpc_addr,
            hostname: row.hostname,
            weight: row.weight,
            labels: serde_json::from_str(&row.labels).unwrap_or_default(),
            version: row.version,
            allow_shell: row.allow_shell,
            started_at: row.started_at,
            state: AgentState::parse(&row.state).unwrap_or(AgentState::Offline),
            first_seen: Some(row.first_seen),
            last_seen: Some(row.last_seen),
            weight_override: row.weight_override,
            drained: row.drained,
        }
    }
}

const AGENT_COLUMNS: &str = "id, grpc_addr, hostname, weight, labels, version, allow_shell, \
                             started_at, state, first_seen, last_seen, weight_override, drained";

#[async_trait::async_trait]
impl Store for MySqlStore {
    async fn record_live_agents(
        &self,
        live: &[AgentRecord],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if !live.is_empty() {
            let mut insert = QueryBuilder::new(
                "INSERT INTO agents (id, grpc_addr, hostname, weight, labels, version, \
                 allow_shell, started_at, state, first_seen, last_seen) ",
            );
            insert.push_values(live, |mut row, agent| {
                row.push_bind(&agent.id)
                    .push_bind(&agent.grpc_addr)
                    .push_bind(&agent.hostname)
                    .push_bind(agent.weight)
                    .push_bind(serde_json::to_string(&agent.labels).unwrap_or_default())
                    .push_bind(&agent.version)
                    .push_bind(agent.allow_shell)
                    .push_bind(&agent.started_at)
                    .push_bind(AgentState::Online.as_str())
                    .push_bind(now)
                    .push_bind(now);
            });
            insert.push(
                " ON DUPLICATE KEY UPDATE grpc_addr = VALUES(grpc_addr), \
                 hostname = VALUES(hostname), weight = VALUES(weight), labels = VALUES(labels), \
                 version = VALUES(version), allow_shell = VALUES(allow_shell), \
                 started_at = VALUES(started_at), state = VALUES(state), \
                 last_seen = VALUES(last_seen)",
            );
            insert.build().execute(&mut *tx).await?;
        }
        // Agents that were online and are not any more: gone since the last call.
        let mut offline = QueryBuilder::new("UPDATE agents SET state = ");
        offline
            .push_bind(AgentState::Offline.as_str())
            .push(", last_seen = ")
            .push_bind(now)
            .push(" WHERE state = ")
            .push_bind(AgentState::Online.as_str());
        if !live.is_empty() {
            offline.push(" AND id NOT IN (");
            let mut ids = offline.separated(", ");
            for agent in live {
                ids.push_bind(&agent.id);
            }
            offline.push(")");
        }
        offline.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_agents(&self) -> Result<Vec<AgentView>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id");
        let rows: Vec<AgentRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(AgentView::from).collect())
    }

    async fn get_agent(&self, id: &AgentId) -> Result<Option<AgentView>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?");
        let row: Option<AgentRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(AgentView::from))
    }

    async fn patch_agent(
        &self,
        id: &AgentId,
        patch: &AgentPatch,
        audit: crate::audit::AuditRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let before: Option<(Option<u32>, bool)> =
            sqlx::query_as("SELECT weight_override, drained FROM agents WHERE id = ? FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((weight_before, drained_before)) = before else {
            return Ok(false);
        };
        let mut update = QueryBuilder::new("UPDATE agents SET id = id");
        if let Some(weight) = patch.weight {
            update.push(", weight_override = ").push_bind(weight);
        }
        if let Some(drained) = patch.drained {
            update.push(", drained = ").push_bind(drained);
        }
        update.push(" WHERE id = ").push_bind(id);
        update.build().execute(&mut *tx).await?;
        let state = |weight: Option<u32>, drained: bool| serde_json::json!({"weight_override": weight, "drained": drained});
        let audit = audit
            .target(id.as_str())
            .before(state(weight_before, drained_before))
            .after(state(
                patch.weight.unwrap_or(weight_before),
                patch.drained.unwrap_or(drained_before),
            ));
        super::audit_log::write_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn agent_admin(&self) -> Result<HashMap<AgentId, AgentAdmin>, StoreError> {
        let rows: Vec<(AgentId, Option<u32>, bool)> = sqlx::query_as(
            "SELECT id, weight_override, drained FROM agents WHERE weight_override IS NOT NULL OR drained",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, weight_override, drained)| {
                (
                    id,
                    AgentAdmin {
                        weight_override,
                        drained,
                    },
                )
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
