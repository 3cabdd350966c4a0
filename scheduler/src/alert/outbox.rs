//! The alert outbox (`alert_outbox`): happenings that may alert, written in the transaction of
//! the change that causes them and deleted in the transaction that records their alerts, so
//! no crash, leader change or MySQL outage in between loses or doubles an alert.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{MySql, QueryBuilder, Transaction};

use super::events::Happening;
use super::recording::record_in;
use super::store::{NewAlert, Recorded};
use crate::domain::execution::Status;
use crate::domain::ids::{AgentId, ExecutionId, JobId};
use crate::store::StoreError;
use crate::store::ingest::is_lock_conflict;
use crate::store::mysql::MySqlStore;

/// Rows per multi-row INSERT (a batch of reports can settle thousands at once).
const INSERT_CHUNK: usize = 1_000;
/// Lock conflicts with another recorder of the same throttle group are retried this often.
const LOCK_RETRIES: u32 = 5;

/// One stored happening.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: u64,
    pub happening: Happening,
}

type Row = (
    u64,
    String,
    Option<ExecutionId>,
    Option<JobId>,
    Option<AgentId>,
    Option<String>,
    DateTime<Utc>,
);

/// The columns of one happening, as stored.
struct Columns<'a> {
    kind: &'static str,
    execution: Option<&'a ExecutionId>,
    job: Option<&'a JobId>,
    agent: Option<&'a AgentId>,
    status: Option<&'static str>,
    at: DateTime<Utc>,
}

fn columns(h: &Happening, now: DateTime<Utc>) -> Columns<'_> {
    let none = Columns {
        kind: "",
        execution: None,
        job: None,
        agent: None,
        status: None,
        at: now,
    };
    match h {
        Happening::Settled {
            execution_id,
            job_id,
            status,
        } => Columns {
            kind: "settled",
            execution: Some(execution_id),
            job: Some(job_id),
            status: Some(status.as_str()),
            ..none
        },
        Happening::AgentOffline { agent_id, at } => Columns {
            kind: "agent_offline",
            agent: Some(agent_id),
            at: *at,
            ..none
        },
        Happening::AgentOnline { agent_id, at } => Columns {
            kind: "agent_online",
            agent: Some(agent_id),
            at: *at,
            ..none
        },
        Happening::Unassigned { job_id, at } => Columns {
            kind: "unassigned",
            job: Some(job_id),
            at: *at,
            ..none
        },
    }
}

/// The happening a stored row holds; `None` for a row this version cannot read (a newer
/// kind, or a damaged row), which is dropped with a log line rather than blocking the rest.
fn happening(row: Row) -> Option<Happening> {
    let (_, kind, execution, job, agent, status, at) = row;
    Some(match kind.as_str() {
        "settled" => Happening::Settled {
            execution_id: execution?,
            job_id: job?,
            status: Status::parse(status.as_deref()?)?,
        },
        "agent_offline" => Happening::AgentOffline {
            agent_id: agent?,
            at,
        },
        "agent_online" => Happening::AgentOnline {
            agent_id: agent?,
            at,
        },
        "unassigned" => Happening::Unassigned { job_id: job?, at },
        _ => return None,
    })
}

/// Writes `happenings` in the caller's transaction.
pub(crate) async fn add_in(
    tx: &mut Transaction<'_, MySql>,
    happenings: &[Happening],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for chunk in happenings.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new(
            "INSERT INTO alert_outbox (kind, execution_id, job_id, agent_id, status, happened_at) ",
        );
        q.push_values(chunk, |mut row, h| {
            let c = columns(h, now);
            row.push_bind(c.kind)
                .push_bind(c.execution)
                .push_bind(c.job)
                .push_bind(c.agent)
                .push_bind(c.status)
                .push_bind(c.at);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The happenings of settled executions among (id, job, status) that may alert.
pub(crate) fn settlements<'a>(
    settled: impl IntoIterator<Item = (&'a ExecutionId, &'a JobId, Status)>,
) -> Vec<Happening> {
    settled
        .into_iter()
        .filter(|(_, _, status)| super::rules::may_alert(*status))
        .map(|(id, job, status)| Happening::Settled {
            execution_id: id.clone(),
            job_id: job.clone(),
            status,
        })
        .collect()
}

#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    /// Writes happenings that are no database change of their own (agent and reconcile events).
    async fn add_happenings(&self, happenings: &[Happening]) -> Result<(), StoreError>;
    /// The oldest `limit` rows.
    async fn outbox_due(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Deletes rows that alert nobody.
    async fn drop_outbox(&self, ids: &[u64]) -> Result<(), StoreError>;
    /// Deletes row `id` and records `alerts` in one transaction; `None` when the row was gone
    /// (another leader recorded it), and then nothing is recorded.
    async fn record_from_outbox(
        &self,
        id: u64,
        alerts: &[NewAlert],
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Recorded>>, StoreError>;
}

#[async_trait::async_trait]
impl OutboxStore for MySqlStore {
    async fn add_happenings(&self, happenings: &[Happening]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        add_in(&mut tx, happenings, Utc::now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn outbox_due(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, kind, execution_id, job_id, agent_id, status, happened_at \
             FROM alert_outbox ORDER BY id LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in rows {
            let id = row.0;
            match happening(row) {
                Some(happening) => out.push(OutboxEntry { id, happening }),
                None => unreadable.push(id),
            }
        }
        if !unreadable.is_empty() {
            tracing::error!(rows = ?unreadable, "unreadable alert outbox rows dropped");
            self.drop_outbox(&unreadable).await?;
        }
        Ok(out)
    }

    async fn drop_outbox(&self, ids: &[u64]) -> Result<(), StoreError> {
        for chunk in ids.chunks(INSERT_CHUNK) {
            let mut q = QueryBuilder::new("DELETE FROM alert_outbox WHERE id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            q.push(")");
            q.build().execute(self.pool()).await?;
        }
        Ok(())
    }

    async fn record_from_outbox(
        &self,
        id: u64,
        alerts: &[NewAlert],
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Recorded>>, StoreError> {
        record_retrying(self.pool(), Some(id), alerts, window, now).await
    }
}

/// Records `alerts` in one transaction, after deleting outbox row `outbox` if given (`None`
/// when it was gone: nothing is recorded); lock conflicts with another recorder of the same
/// throttle group are retried. Shared by the recorder and test alerts (`store.rs`).
pub(super) async fn record_retrying(
    pool: &sqlx::MySqlPool,
    outbox: Option<u64>,
    alerts: &[NewAlert],
    window: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Recorded>>, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = pool.begin().await?;
        match record_in_tx(&mut tx, outbox, alerts, window, now).await {
            Ok(Some(rows)) => {
                tx.commit().await?;
                return Ok(Some(rows));
            }
            Ok(None) => {
                tx.rollback().await?;
                return Ok(None);
            }
            Err(e) if attempt < LOCK_RETRIES && is_lock_conflict(&e) => {
                let _ = tx.rollback().await;
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn record_in_tx(
    tx: &mut Transaction<'_, MySql>,
    outbox: Option<u64>,
    alerts: &[NewAlert],
    window: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Recorded>>, sqlx::Error> {
    if let Some(id) = outbox {
        // The row lock taken here makes a second leader (at a leader change) wait, then find 0.
        let deleted = sqlx::query("DELETE FROM alert_outbox WHERE id = ?")
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(None);
        }
    }
    let mut recorded = Vec::new();
    for alert in alerts {
        recorded.extend(record_in(tx, alert, window, now).await?);
    }
    Ok(Some(recorded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(h: Happening, now: DateTime<Utc>) -> Option<Happening> {
        let c = columns(&h, now);
        happening((
            7,
            c.kind.into(),
            c.execution.cloned(),
            c.job.cloned(),
            c.agent.cloned(),
            c.status.map(str::to_owned),
            c.at,
        ))
    }

    #[test]
    fn every_happening_reads_back_as_written() {
        let now = Utc::now();
        let at = now - chrono::Duration::seconds(3);
        for h in [
            Happening::Settled {
                execution_id: "e1".into(),
                job_id: "j1".into(),
                status: Status::Failed,
            },
            Happening::AgentOffline {
                agent_id: "a1".into(),
                at,
            },
            Happening::AgentOnline {
                agent_id: "a1".into(),
                at,
            },
            Happening::Unassigned {
                job_id: "j1".into(),
                at,
            },
        ] {
            assert_eq!(round_trip(h.clone(), now), Some(h));
        }
    }

    #[test]
    fn a_row_of_an_unknown_kind_or_missing_its_ids_is_unreadable() {
        let now = Utc::now();
        assert_eq!(
            happening((1, "future".into(), None, None, None, None, now)),
            None
        );
        assert_eq!(
            happening((2, "settled".into(), None, Some("j".into()), None, None, now)),
            None
        );
        assert_eq!(
            happening((3, "agent_online".into(), None, None, None, None, now)),
            None
        );
    }

    #[test]
    fn only_final_statuses_are_settlements() {
        let (e, j) = (ExecutionId::from("e"), JobId::from("j"));
        let out = settlements([
            (&e, &j, Status::Running),
            (&e, &j, Status::Succeeded),
            (&e, &j, Status::Lost),
        ]);
        assert_eq!(out.len(), 2);
    }
}
