//! Executions counted per UTC day and status (migration `execution_counts`): each write that
//! inserts, deletes or changes the status of executions adds its deltas in its own
//! transaction, so the counts always match the rows and the overview never scans history.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{MySql, QueryBuilder, Transaction};

use crate::domain::execution::Status;

/// Count changes by (UTC day, status); keys in order, which is also the order rows are locked
/// in (two writers never wait for each other in opposite orders).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CountDeltas(BTreeMap<(NaiveDate, &'static str), i64>);

impl CountDeltas {
    pub(crate) fn add(&mut self, scheduled_at: DateTime<Utc>, status: Status, n: i64) {
        *self
            .0
            .entry((scheduled_at.date_naive(), status.as_str()))
            .or_default() += n;
    }

    /// One row moving from `from` to `to` (either absent: inserted or deleted).
    pub(crate) fn change(
        &mut self,
        from: Option<(DateTime<Utc>, Status)>,
        to: Option<(DateTime<Utc>, Status)>,
    ) {
        if from == to {
            return;
        }
        if let Some((at, status)) = from {
            self.add(at, status, -1);
        }
        if let Some((at, status)) = to {
            self.add(at, status, 1);
        }
    }

    fn nonzero(&self) -> impl Iterator<Item = (&(NaiveDate, &'static str), &i64)> {
        self.0.iter().filter(|(_, n)| **n != 0)
    }
}

/// Adds `deltas` to the stored counts inside `tx`. Call it last before commit: the count rows
/// are shared by every writer, so their locks should be held as briefly as possible.
pub(crate) async fn apply(
    tx: &mut Transaction<'_, MySql>,
    deltas: &CountDeltas,
) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = deltas.nonzero().collect();
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = QueryBuilder::new("INSERT INTO execution_counts (day, status, n) ");
    q.push_values(rows, |mut row, ((day, status), n)| {
        row.push_bind(*day).push_bind(*status).push_bind(*n);
    });
    q.push(" ON DUPLICATE KEY UPDATE n = n + VALUES(n)");
    q.build().execute(&mut **tx).await?;
    Ok(())
}

/// Forgets the counts of days wholly before `before` (retention deleted their rows). The day
/// `before` falls in keeps its counts until it is wholly past.
pub(crate) async fn forget_before(
    pool: &sqlx::MySqlPool,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM execution_counts WHERE day < ?")
        .bind(before.date_naive())
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("an instant")
    }

    #[test]
    fn a_status_change_moves_one_count() {
        let mut d = CountDeltas::default();
        let t = at("2026-12-02T10:00:00Z");
        d.change(Some((t, Status::Running)), Some((t, Status::Succeeded)));
        let day = t.date_naive();
        let got: Vec<_> = d.nonzero().map(|(k, n)| (*k, *n)).collect();
        assert_eq!(got, vec![((day, "running"), -1), ((day, "succeeded"), 1)]);
    }

    #[test]
    fn unchanged_rows_and_cancelling_changes_write_nothing() {
        let mut d = CountDeltas::default();
        let t = at("2026-12-02T23:59:59.999Z");
        d.change(Some((t, Status::Failed)), Some((t, Status::Failed)));
        d.change(None, Some((t, Status::Missed)));
        d.change(Some((t, Status::Missed)), None);
        assert_eq!(d.nonzero().count(), 0);
    }

    #[test]
    fn days_are_utc_days_of_the_scheduled_instant() {
        let mut d = CountDeltas::default();
        d.change(
            None,
            Some((at("2026-12-02T23:59:59.999Z"), Status::Scheduled)),
        );
        d.change(None, Some((at("2026-12-03T00:00:00Z"), Status::Scheduled)));
        let days: Vec<_> = d.nonzero().map(|((day, _), _)| day.to_string()).collect();
        assert_eq!(days, vec!["2026-12-02", "2026-12-03"]);
    }
}
