//! Which record of a scheduled instant stands (docs/executions.md, "missed and real"): a real
//! run over any placeholder, and a `missed` — somebody who would have run the instant knows it
//! did not — over the `lost` placeholder of a successor that cannot know. One row per instant.

use std::collections::HashMap;
use std::hash::Hash;

use crate::domain::execution::{ExecutionRecord, Status};

/// What a record says about its instant, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Knowledge {
    /// `lost` under the unknown-instant id: a dead owner may have run it.
    Unknown,
    /// `missed`: not run.
    Missed,
    /// A real run of the instant (whatever its status).
    Ran,
}

/// The strongest knowledge of each instant among `batch` and `stored`.
pub(crate) fn strongest<K: Hash + Eq + Clone>(
    batch: impl IntoIterator<Item = (K, Knowledge)>,
    stored: impl IntoIterator<Item = (K, Knowledge)>,
) -> HashMap<K, Knowledge> {
    let mut best: HashMap<K, Knowledge> = HashMap::new();
    for (key, knowledge) in batch.into_iter().chain(stored) {
        let entry = best.entry(key).or_insert(knowledge);
        *entry = (*entry).max(knowledge);
    }
    best
}

/// Whether a placeholder of `key` gives way: something stronger is known of its instant.
/// (A real run never gives way; two placeholders of one kind share their derived id.)
pub(crate) fn gives_way<K: Hash + Eq>(
    best: &HashMap<K, Knowledge>,
    key: &K,
    knowledge: Knowledge,
) -> bool {
    knowledge != Knowledge::Ran && best.get(key).is_some_and(|b| *b > knowledge)
}

/// What a record in a batch says about its scheduled instant; `None` for manual runs and
/// retries, which the placeholder rule leaves alone.
pub(crate) fn record_knowledge(r: &ExecutionRecord) -> Option<Knowledge> {
    if r.is_placeholder() {
        Some(placeholder_knowledge(r.status))
    } else {
        r.is_real_scheduled_run().then_some(Knowledge::Ran)
    }
}

pub(crate) fn placeholder_knowledge(status: Status) -> Knowledge {
    match status {
        Status::Missed => Knowledge::Missed,
        _ => Knowledge::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::Knowledge::{Missed, Ran, Unknown};
    use super::*;

    #[test]
    fn a_real_run_beats_both_placeholders_and_missed_beats_unknown() {
        let best = strongest(
            [(1, Unknown), (2, Missed)],
            [(1, Missed), (2, Ran), (3, Unknown)],
        );
        assert!(gives_way(&best, &1, Unknown), "missed stands over unknown");
        assert!(!gives_way(&best, &1, Missed));
        assert!(gives_way(&best, &2, Missed), "the real run stands");
        assert!(!gives_way(&best, &2, Ran));
        assert!(!gives_way(&best, &3, Unknown), "alone, the unknown stands");
    }

    #[test]
    fn a_real_run_never_gives_way() {
        let best = strongest([(1, Ran)], [(1, Ran)]);
        assert!(!gives_way(&best, &1, Ran));
    }
}
