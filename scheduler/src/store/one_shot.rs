//! An `@at` job is done once its instant is: the ingest that records the instant's outcome
//! disables the job in the same transaction (spec and column, audited, queued for the
//! leader), so it leaves its agent and shows as paused rather than enabled forever.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{MySql, QueryBuilder, Transaction};

use super::audit_log::write_audit;
use super::job_feed::mark_changed;
use crate::audit::AuditRecord;
use crate::auth::Actor;
use crate::domain::execution::{ExecutionRecord, Status, Trigger};
use crate::domain::ids::JobId;

/// Whether `r` settles its job's one instant for good: a final outcome of the scheduled run
/// (or of a retry of it), or a record that nobody will run it. A `lost` run may still be
/// retried by the leader, and retries skip disabled jobs, so it does not count.
pub(crate) fn settles_instant(r: &ExecutionRecord) -> bool {
    let scheduled = matches!(r.trigger, Trigger::Schedule | Trigger::Retry);
    scheduled && r.status.is_final() && (r.status != Status::Lost || r.is_placeholder())
}

/// The stored spec with `enabled` off, if it is an enabled `@at` job. Works on the stored
/// JSON as is: sealed secrets stay sealed.
pub(crate) fn disabled_one_shot(spec: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(spec).ok()?;
    let at = value["schedule"].as_str()?.trim_start().starts_with("@at");
    if !at || value["enabled"] != serde_json::Value::Bool(true) {
        return None;
    }
    value["enabled"] = serde_json::Value::Bool(false);
    Some(value.to_string())
}

/// Disables the enabled `@at` jobs whose instant one of `records` settles.
pub(super) async fn finish_one_shots(
    tx: &mut Transaction<'_, MySql>,
    records: &[&ExecutionRecord],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let jobs: HashSet<&JobId> = records
        .iter()
        .filter(|r| settles_instant(r))
        .map(|r| &r.job_id)
        .collect();
    if jobs.is_empty() {
        return Ok(());
    }
    let mut q = QueryBuilder::new(
        "SELECT id, spec FROM jobs WHERE enabled = 1 AND spec LIKE '%\"schedule\":\"@at%' AND id IN (",
    );
    let mut ids = q.separated(", ");
    for job in &jobs {
        ids.push_bind(*job);
    }
    q.push(") FOR UPDATE");
    let rows: Vec<(JobId, String)> = q.build_query_as().fetch_all(&mut **tx).await?;
    for (id, spec) in rows {
        let Some(disabled) = disabled_one_shot(&spec) else {
            continue;
        };
        sqlx::query("UPDATE jobs SET spec = ?, enabled = 0, updated_at = ? WHERE id = ?")
            .bind(&disabled)
            .bind(now)
            .bind(&id)
            .execute(&mut **tx)
            .await?;
        let audit = AuditRecord::new(&Actor::system("its @at instant is done"), "job", "pause")
            .target(id.as_str())
            .after(serde_json::json!({"enabled": false}));
        write_audit(tx, &audit).await?;
        mark_changed(tx, &id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_enabled_at_job_is_disabled_and_the_rest_of_its_spec_is_kept() {
        let spec = r#"{"name":"once","schedule":"@at 2026-12-01T00:00:00Z","enabled":true,"secrets":{"K":"sealed:abc"}}"#;
        let off: serde_json::Value =
            serde_json::from_str(&disabled_one_shot(spec).unwrap()).unwrap();
        assert_eq!(off["enabled"], false);
        assert_eq!(off["secrets"]["K"], "sealed:abc");
        assert_eq!(off["name"], "once");
        assert_eq!(disabled_one_shot(&off.to_string()), None, "already off");
        let cron = r#"{"schedule":"* * * * * *","enabled":true}"#;
        assert_eq!(disabled_one_shot(cron), None);
    }
}
