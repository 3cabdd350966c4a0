//! Reports this scheduler received but could not commit (MySQL away): kept here, bounded, and
//! written again by the writer itself. The agent keeps its own copy too (nothing was acked),
//! so whichever of the two survives — the agent or this scheduler — the outcome lands; an
//! agent that dies during a MySQL outage loses nothing this scheduler had received.

use std::collections::HashMap;

use crate::domain::execution::ExecutionRecord;
use crate::domain::ids::ExecutionId;

/// Records kept at most (about 1–2 KiB each without output; output is capped per report).
pub const MAX_RETAINED: usize = 100_000;

#[derive(Debug, Default)]
pub struct Retained {
    /// The newest revision of each execution received.
    records: HashMap<ExecutionId, ExecutionRecord>,
    /// Records ever taken in, or raised to a newer revision (replays of one revision do not
    /// count): what the metric `crony_ingest_retained_total` shows.
    taken: u64,
}

impl Retained {
    /// Keeps `records` (newer revisions replace older ones). Returns how many did not fit.
    pub fn keep(&mut self, records: &[ExecutionRecord]) -> usize {
        let mut refused = 0;
        for r in records {
            let full = self.records.len() >= MAX_RETAINED;
            match self.records.get_mut(&r.id) {
                Some(kept) if kept.revision >= r.revision => {}
                Some(kept) => {
                    *kept = r.clone();
                    self.taken += 1;
                }
                None if full => refused += 1,
                None => {
                    self.records.insert(r.id.clone(), r.clone());
                    self.taken += 1;
                }
            }
        }
        refused
    }

    /// Up to `max` kept records, to write again.
    pub fn batch(&self, max: usize) -> Vec<ExecutionRecord> {
        self.records.values().take(max).cloned().collect()
    }

    /// Forgets what is now committed: each id at the given revision or older.
    pub fn committed<'a>(&mut self, written: impl IntoIterator<Item = &'a ExecutionRecord>) {
        for r in written {
            if self
                .records
                .get(&r.id)
                .is_some_and(|k| k.revision <= r.revision)
            {
                self.records.remove(&r.id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn taken(&self) -> u64 {
        self.taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, revision: u32) -> ExecutionRecord {
        super::super::record_from_proto(crony_proto::v1::ExecutionReport {
            execution_id: id.into(),
            job_id: "j".into(),
            agent_id: "a".into(),
            status: crony_proto::v1::ExecutionStatus::Succeeded as i32,
            trigger: crony_proto::v1::TriggerKind::Schedule as i32,
            scheduled_at_ms: 1_800_000_000_000,
            revision,
            ..Default::default()
        })
        .expect("a valid report")
    }

    #[test]
    fn the_newest_revision_is_kept_and_replays_do_not_count() {
        let mut r = Retained::default();
        assert_eq!(r.keep(&[record("a", 0), record("b", 0)]), 0);
        r.keep(&[record("a", 1), record("a", 0), record("a", 1)]);
        assert_eq!((r.len(), r.taken()), (2, 3));
        let a = r
            .batch(10)
            .into_iter()
            .find(|x| x.id.as_str() == "a")
            .unwrap();
        assert_eq!(a.revision, 1);
    }

    #[test]
    fn a_commit_forgets_its_revision_and_older_but_not_newer() {
        let mut r = Retained::default();
        r.keep(&[record("a", 2), record("b", 0)]);
        r.committed(&[record("a", 1), record("b", 0)]);
        assert_eq!(
            r.len(),
            1,
            "a's revision 2 is newer than what was committed"
        );
        r.committed(&[record("a", 2)]);
        assert!(r.is_empty());
    }

    #[test]
    fn past_the_bound_new_executions_are_refused_but_known_ones_still_advance() {
        let mut r = Retained::default();
        let many: Vec<_> = (0..MAX_RETAINED)
            .map(|n| record(&format!("e{n}"), 0))
            .collect();
        assert_eq!(r.keep(&many), 0);
        assert_eq!(r.keep(&[record("new", 0)]), 1);
        assert_eq!(r.keep(&[record("e7", 1)]), 0);
        assert_eq!(r.len(), MAX_RETAINED);
    }
}
