//! Ids of the records an agent writes for scheduled instants it did not run: derived from the
//! (job, instant), so a replayed or repeated record is the same row, and the scheduler can
//! tell such a placeholder from a real run and replace it when a real report arrives
//! (docs/executions.md, "missed and real").

use chrono::{DateTime, Utc};

const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c1b_5a3e_4d2f_4e8a_9b7c_0d1e_2f3a_4b5c);

/// The `missed` record of an instant no agent ran.
pub fn missed_id(job_id: &str, at: DateTime<Utc>) -> String {
    id(job_id, at, "missed")
}

/// The `lost` record of an instant a previous owner may have started without its report
/// arriving: its successor does not run it again, and cannot know its outcome.
pub fn unknown_id(job_id: &str, at: DateTime<Utc>) -> String {
    id(job_id, at, "unknown")
}

fn id(job_id: &str, at: DateTime<Utc>, kind: &str) -> String {
    let name = format!("{job_id}/{}/{kind}", at.timestamp_millis());
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_differ_by_kind() {
        let at = DateTime::from_timestamp_millis(1_767_225_600_000).unwrap();
        assert_eq!(missed_id("j", at), missed_id("j", at));
        assert_ne!(missed_id("j", at), unknown_id("j", at));
        assert_ne!(unknown_id("j", at), unknown_id("k", at));
    }
}
