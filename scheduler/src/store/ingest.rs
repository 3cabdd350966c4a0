//! Writing one batch of agent reports: a multi-row upsert in one transaction with the
//! missed/real dedupe and the jobs' fire watermark (rules in `docs/executions.md`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{MySql, QueryBuilder, Transaction};

use super::StoreError;
use super::counts::{self, CountDeltas};
use super::placeholders::{self, Knowledge};
use crate::domain::execution::{ExecutionRecord, Status, is_placeholder};
use crate::domain::ids::{ExecutionId, JobId};

/// What a committed batch changed, for metrics.
#[derive(Debug, Default)]
pub struct IngestOutcome {
    /// (execution id, job id, status) of every row whose status became a (different) final
    /// one: for metrics and alerts.
    pub settled: Vec<(ExecutionId, JobId, Status)>,
}

/// Bytes per INSERT statement: well under MariaDB's default 16 MiB `max_allowed_packet`.
const STATEMENT_BYTES: usize = 2 * 1024 * 1024;
/// Ids or keys per `IN (…)` / `OR` list.
const LIST_CHUNK: usize = 500;
/// Two schedulers writing the same instant's missed and real records lock the same index gap;
/// InnoDB then aborts one of them, which simply tries again.
const LOCK_RETRIES: u32 = 5;

/// The agent's report applies (newer revision, and the row is not frozen by an async result or
/// by the sweeper — except a `lost` that a final report corrects). Evaluated on the row's old
/// values: every assignment below keeps it true once it was true, and `revision` comes last.
const APPLIES: &str = "(VALUES(revision) > revision AND (settled_by IS NULL OR settled_by = 'agent' \
     OR (status = 'lost' AND VALUES(status) NOT IN ('scheduled', 'running'))))";

const AGENT_FIELDS: &[&str] = &[
    "job_id",
    "agent_id",
    "epoch",
    "scheduled_at",
    "started_at",
    "finished_at",
    "trigger_kind",
    "attempts",
    "attempt_count",
    "exit_code",
    "http_status",
    "output",
    "output_truncated",
    "error",
    "async_deadline",
    "retry_of",
    "traceparent",
    "updated_at",
    // These two are read by APPLIES: settled_by before status (see APPLIES), both before revision.
    "settled_by",
    "status",
];

/// Writes `records` (one transaction, retried on lock conflicts).
pub async fn write_batch(
    pool: &sqlx::MySqlPool,
    records: &[ExecutionRecord],
    now: DateTime<Utc>,
) -> Result<IngestOutcome, StoreError> {
    let records = newest_per_id(records);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = pool.begin().await?;
        match write_in(&mut tx, &records, now).await {
            Ok(outcome) => {
                tx.commit().await?;
                return Ok(outcome);
            }
            Err(e) if attempt < LOCK_RETRIES && is_lock_conflict(&e) => {
                let _ = tx.rollback().await;
                tracing::debug!(attempt, error = %e, "ingest batch hit a lock conflict; retrying");
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A batch may carry several snapshots of one execution; only the newest can matter.
fn newest_per_id(records: &[ExecutionRecord]) -> Vec<&ExecutionRecord> {
    let mut newest: HashMap<&ExecutionId, &ExecutionRecord> = HashMap::new();
    for record in records {
        let keep = newest
            .get(&record.id)
            .is_none_or(|seen| record.revision >= seen.revision);
        if keep {
            newest.insert(&record.id, record);
        }
    }
    let mut out: Vec<&ExecutionRecord> = newest.into_values().collect();
    // A fixed order of row locks makes deadlocks between concurrent writers rarer.
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

pub(crate) fn is_lock_conflict(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|e| matches!(e.number(), 1213 | 1205))
}

type Key = (JobId, i64);

fn key(job_id: &JobId, at: DateTime<Utc>) -> Key {
    (job_id.clone(), at.timestamp_millis())
}

async fn write_in(
    tx: &mut Transaction<'_, MySql>,
    records: &[&ExecutionRecord],
    now: DateTime<Utc>,
) -> Result<IngestOutcome, sqlx::Error> {
    let ids: Vec<&ExecutionId> = records.iter().map(|r| &r.id).collect();
    let before = statuses(tx, &ids, true).await?;
    let (records, doomed) = resolve_missed(tx, records).await?;
    for chunk in by_size(&records) {
        upsert(tx, chunk, now).await?;
    }
    raise_watermarks(tx, &records).await?;
    super::one_shot::finish_one_shots(tx, &records, now).await?;
    let after = statuses(tx, &ids, false).await?;
    counts::apply(tx, &deltas(&before, &after, &doomed)).await?;
    let settled = after
        .into_iter()
        .filter(|(id, row)| {
            row.status.is_final() && before.get(id).is_none_or(|old| old.status != row.status)
        })
        .map(|(id, row)| (id, row.job_id, row.status))
        .collect::<Vec<_>>();
    // The alert intents commit with the settlements (the outbox).
    let happenings =
        crate::alert::outbox::settlements(settled.iter().map(|(id, job, s)| (id, job, *s)));
    crate::alert::outbox::add_in(tx, &happenings, now).await?;
    Ok(IngestOutcome { settled })
}

/// What a stored execution row says, as far as ingest needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    job_id: JobId,
    status: Status,
    scheduled_at: DateTime<Utc>,
}

/// A stored placeholder deleted for a real run of its instant.
struct Doomed {
    id: ExecutionId,
    at: DateTime<Utc>,
    status: Status,
}

/// The count changes from the rows as they were to the rows as they are: `doomed` are the
/// placeholders deleted for a real run (some may also be among the batch's own ids).
fn deltas(
    before: &HashMap<ExecutionId, Stored>,
    after: &HashMap<ExecutionId, Stored>,
    doomed: &[Doomed],
) -> CountDeltas {
    let mut deltas = CountDeltas::default();
    let seen = |row: &Stored| (row.scheduled_at, row.status);
    for (id, row) in after {
        deltas.change(before.get(id).map(seen), Some(seen(row)));
    }
    for (id, row) in before {
        if !after.contains_key(id) {
            deltas.change(Some(seen(row)), None);
        }
    }
    for Doomed { id, at, status } in doomed {
        if !before.contains_key(id) {
            deltas.change(Some((*at, *status)), None);
        }
    }
    deltas
}

/// The rows that exist among `ids`; `lock` takes their row locks so the async-result endpoint
/// and the sweeper wait for this batch instead of racing it.
async fn statuses(
    tx: &mut Transaction<'_, MySql>,
    ids: &[&ExecutionId],
    lock: bool,
) -> Result<HashMap<ExecutionId, Stored>, sqlx::Error> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(LIST_CHUNK) {
        let mut q = QueryBuilder::new(
            "SELECT id, job_id, status, scheduled_at FROM executions WHERE id IN (",
        );
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        q.push(")");
        if lock {
            q.push(" FOR UPDATE");
        }
        let rows: Vec<(ExecutionId, JobId, String, DateTime<Utc>)> =
            q.build_query_as().fetch_all(&mut **tx).await?;
        for (id, job_id, status, scheduled_at) in rows {
            if let Some(status) = Status::parse(&status) {
                out.insert(
                    id,
                    Stored {
                        job_id,
                        status,
                        scheduled_at,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// The stored rows of `keys`' instants that the placeholder rule weighs, locked.
async fn stored_knowledge(
    tx: &mut Transaction<'_, MySql>,
    keys: &[Key],
) -> Result<Vec<(ExecutionId, Key, Status, Knowledge)>, sqlx::Error> {
    let mut q = QueryBuilder::new(
        "SELECT id, job_id, scheduled_at, status, trigger_kind FROM executions WHERE ",
    );
    for (i, (job, ms)) in keys.iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push("(job_id = ")
            .push_bind(job)
            .push(" AND scheduled_at = ")
            .push_bind(DateTime::from_timestamp_millis(*ms));
        q.push(")");
    }
    q.push(" FOR UPDATE");
    let rows: Vec<(ExecutionId, JobId, DateTime<Utc>, String, String)> =
        q.build_query_as().fetch_all(&mut **tx).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, job, at, status, trigger)| {
            let status = Status::parse(&status)?;
            let knowledge = if is_placeholder(&id, &job, at, status) {
                placeholders::placeholder_knowledge(status)
            } else if trigger == "schedule" {
                Knowledge::Ran
            } else {
                return None;
            };
            Some((id, key(&job, at), status, knowledge))
        })
        .collect())
}

/// Applies the placeholder rule for scheduled instants (`store::placeholders`): drops the
/// batch's placeholder records (`missed`, or `lost` under the unknown-instant id) whose instant
/// has something stronger known (a real run, or a `missed` over an unknown `lost`; stored or
/// in this batch) and deletes the stored placeholders that give way (returned). Locks the
/// instants' index range, so two schedulers deciding about the same instant serialise (or
/// one deadlocks and retries).
async fn resolve_missed<'r>(
    tx: &mut Transaction<'_, MySql>,
    records: &[&'r ExecutionRecord],
) -> Result<(Vec<&'r ExecutionRecord>, Vec<Doomed>), sqlx::Error> {
    let batch: Vec<(Key, Knowledge)> = records
        .iter()
        .filter_map(|r| {
            Some((
                key(&r.job_id, r.scheduled_at),
                placeholders::record_knowledge(r)?,
            ))
        })
        .collect();
    if batch.is_empty() {
        return Ok((records.to_vec(), Vec::new()));
    }
    let keys: Vec<Key> = batch
        .iter()
        .map(|(k, _)| k.clone())
        .collect::<HashSet<Key>>()
        .into_iter()
        .collect();
    let mut stored: Vec<(ExecutionId, Key, Status, Knowledge)> = Vec::new();
    for chunk in keys.chunks(LIST_CHUNK) {
        stored.extend(stored_knowledge(tx, chunk).await?);
    }
    let best = placeholders::strongest(
        batch.iter().cloned(),
        stored.iter().map(|(_, k, _, n)| (k.clone(), *n)),
    );
    let kept: Vec<&ExecutionRecord> = records
        .iter()
        .copied()
        .filter(|r| match placeholders::record_knowledge(r) {
            Some(n) => !placeholders::gives_way(&best, &key(&r.job_id, r.scheduled_at), n),
            None => true,
        })
        .collect();
    let doomed: Vec<Doomed> = stored
        .into_iter()
        .filter(|(_, k, _, n)| placeholders::gives_way(&best, k, *n))
        .map(|(id, (_, ms), status, _)| Doomed {
            id,
            at: DateTime::from_timestamp_millis(ms).unwrap_or_default(),
            status,
        })
        .collect();
    for chunk in doomed.chunks(LIST_CHUNK) {
        // Only placeholder ids are listed: a `lost` real run is never among them.
        let mut q = QueryBuilder::new(
            "DELETE FROM executions WHERE status IN ('missed', 'lost') AND id IN (",
        );
        let mut list = q.separated(", ");
        for Doomed { id, .. } in chunk {
            list.push_bind(id);
        }
        q.push(")");
        q.build().execute(&mut **tx).await?;
    }
    Ok((kept, doomed))
}

/// Splits records into runs whose INSERT stays under [`STATEMENT_BYTES`].
fn by_size<'a, 'r>(records: &'a [&'r ExecutionRecord]) -> Vec<&'a [&'r ExecutionRecord]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, record) in records.iter().enumerate() {
        let size = record.approx_bytes();
        if i > start && bytes + size > STATEMENT_BYTES {
            chunks.push(&records[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < records.len() {
        chunks.push(&records[start..]);
    }
    chunks
}

async fn upsert(
    tx: &mut Transaction<'_, MySql>,
    records: &[&ExecutionRecord],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut q = QueryBuilder::new(
        "INSERT INTO executions (id, job_id, agent_id, epoch, scheduled_at, started_at, \
         finished_at, status, trigger_kind, attempts, attempt_count, exit_code, http_status, \
         output, output_truncated, error, async_deadline, retry_of, revision, settled_by, \
         recorded_at, updated_at, traceparent) ",
    );
    q.push_values(records, |mut row, r| {
        row.push_bind(&r.id)
            .push_bind(&r.job_id)
            .push_bind(&r.agent_id)
            .push_bind(r.epoch)
            .push_bind(r.scheduled_at)
            .push_bind(r.started_at)
            .push_bind(r.finished_at)
            .push_bind(r.status.as_str())
            .push_bind(r.trigger.as_str())
            .push_bind(&r.attempts)
            .push_bind(r.attempt_count)
            .push_bind(r.exit_code)
            .push_bind(r.http_status)
            .push_bind(&r.output)
            .push_bind(r.output_truncated)
            .push_bind(&r.error)
            .push_bind(r.async_deadline)
            .push_bind(&r.retry_of)
            .push_bind(r.revision)
            .push_bind(r.status.is_final().then_some("agent"))
            .push_bind(now)
            .push_bind(now)
            .push_bind(&r.traceparent);
    });
    q.push(" ON DUPLICATE KEY UPDATE ");
    // MySQL evaluates these left to right and later ones see earlier results: see APPLIES.
    for field in AGENT_FIELDS {
        q.push(format!(
            "{field} = IF({APPLIES}, VALUES({field}), {field}), "
        ));
    }
    q.push("revision = GREATEST(revision, VALUES(revision))");
    q.build().execute(&mut **tx).await?;
    Ok(())
}

/// `jobs.last_scheduled_at` = the newest scheduled instant ingested for each job.
async fn raise_watermarks(
    tx: &mut Transaction<'_, MySql>,
    records: &[&ExecutionRecord],
) -> Result<(), sqlx::Error> {
    let mut newest: HashMap<&JobId, DateTime<Utc>> = HashMap::new();
    for r in records
        .iter()
        .filter(|r| r.trigger == crate::domain::execution::Trigger::Schedule)
    {
        let at = newest.entry(&r.job_id).or_insert(r.scheduled_at);
        *at = (*at).max(r.scheduled_at);
    }
    let mut newest: Vec<(&JobId, DateTime<Utc>)> = newest.into_iter().collect();
    newest.sort();
    for chunk in newest.chunks(LIST_CHUNK) {
        let mut q = QueryBuilder::new("UPDATE jobs j JOIN (");
        for (i, (job, at)) in chunk.iter().enumerate() {
            q.push(if i == 0 {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            });
            q.push_bind(*job)
                .push(" AS id, ")
                .push_bind(*at)
                .push(" AS t");
        }
        q.push(
            ") v ON j.id = v.id \
             SET j.last_scheduled_at = GREATEST(COALESCE(j.last_scheduled_at, v.t), v.t)",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "ingest_test.rs"]
mod tests;
