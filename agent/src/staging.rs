//! A chunked `Sync` being received: chunks of one (term, generation) gathered in order until
//! the last one, so a job set of any size is applied at once without any message exceeding
//! the size limit.

use std::sync::Arc;

use crate::job::Job;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StagingError {
    #[error(
        "sync chunk {got} of term {term} generation {generation} is out of order: expected chunk 0 (no sync of that term and generation is in progress)"
    )]
    NotStarted {
        term: u64,
        generation: u64,
        got: u32,
    },
    #[error(
        "sync chunk {got} of term {term} generation {generation} is out of order: expected chunk {expected}"
    )]
    OutOfOrder {
        term: u64,
        generation: u64,
        expected: u32,
        got: u32,
    },
}

/// What a chunk completed.
#[derive(Debug)]
pub enum Staged {
    /// More chunks are expected; nothing is applied yet.
    Pending,
    /// The last chunk arrived: the whole set, to apply at once.
    Complete(Vec<Arc<Job>>),
}

#[derive(Debug, Default)]
pub struct Staging(Option<InProgress>);

#[derive(Debug)]
struct InProgress {
    term: u64,
    generation: u64,
    next: u32,
    jobs: Vec<Arc<Job>>,
}

impl Staging {
    /// Adds chunk `chunk` of the sync of (`term`, `generation`). Chunk 0 starts over,
    /// discarding whatever was staged; any other must follow its predecessor of the same sync.
    /// A refused chunk leaves the staged chunks as they were.
    pub fn add(
        &mut self,
        term: u64,
        generation: u64,
        chunk: u32,
        more: bool,
        jobs: Vec<Arc<Job>>,
    ) -> Result<Staged, StagingError> {
        if chunk == 0 {
            self.0 = None;
        } else {
            match &self.0 {
                Some(s) if s.term == term && s.generation == generation => {
                    if s.next != chunk {
                        return Err(StagingError::OutOfOrder {
                            term,
                            generation,
                            expected: s.next,
                            got: chunk,
                        });
                    }
                }
                _ => {
                    return Err(StagingError::NotStarted {
                        term,
                        generation,
                        got: chunk,
                    });
                }
            }
        }
        let staged = self.0.get_or_insert_with(|| InProgress {
            term,
            generation,
            next: 0,
            jobs: Vec::new(),
        });
        staged.jobs.extend(jobs);
        staged.next = chunk.saturating_add(1);
        if more {
            return Ok(Staged::Pending);
        }
        let done = self.0.take().map(|s| s.jobs).unwrap_or_default();
        Ok(Staged::Complete(done))
    }

    /// Forgets a staged sync (a newer term took over, or the set could not be applied).
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(ids: &[&str]) -> Vec<Arc<Job>> {
        ids.iter()
            .map(|id| Arc::new(Job::try_from(&crate::job::fixture::spec(id)).unwrap()))
            .collect()
    }

    fn ids(staged: Staged) -> Vec<String> {
        match staged {
            Staged::Complete(jobs) => jobs.iter().map(|j| j.id.to_string()).collect(),
            Staged::Pending => panic!("not complete"),
        }
    }

    #[test]
    fn a_single_chunk_is_complete_at_once() {
        let mut s = Staging::default();
        assert_eq!(ids(s.add(1, 5, 0, false, jobs(&["a"])).unwrap()), ["a"]);
    }

    #[test]
    fn chunks_gather_in_order_and_apply_with_the_last() {
        let mut s = Staging::default();
        assert!(matches!(
            s.add(1, 5, 0, true, jobs(&["a"])),
            Ok(Staged::Pending)
        ));
        assert!(matches!(
            s.add(1, 5, 1, true, jobs(&["b"])),
            Ok(Staged::Pending)
        ));
        assert_eq!(
            ids(s.add(1, 5, 2, false, jobs(&["c"])).unwrap()),
            ["a", "b", "c"]
        );
        // Nothing is left staged after the set was handed out.
        assert!(matches!(
            s.add(1, 5, 3, false, jobs(&[])),
            Err(StagingError::NotStarted { got: 3, .. })
        ));
    }

    #[test]
    fn a_gap_or_a_repeat_is_refused_naming_the_expected_chunk() {
        let mut s = Staging::default();
        s.add(1, 5, 0, true, jobs(&["a"])).unwrap();
        s.add(1, 5, 1, true, jobs(&["b"])).unwrap();
        let gap = s.add(1, 5, 3, true, jobs(&["d"])).unwrap_err();
        assert!(gap.to_string().contains("expected chunk 2"), "{gap}");
        let repeat = s.add(1, 5, 1, false, jobs(&["b"])).unwrap_err();
        assert!(matches!(
            repeat,
            StagingError::OutOfOrder {
                expected: 2,
                got: 1,
                ..
            }
        ));
        // The refused chunks changed nothing: chunk 2 still continues the sync.
        assert_eq!(
            ids(s.add(1, 5, 2, false, jobs(&["c"])).unwrap()),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn a_chunk_of_another_sync_is_refused_and_chunk_zero_starts_over() {
        let mut s = Staging::default();
        s.add(1, 5, 0, true, jobs(&["a"])).unwrap();
        let other = s.add(1, 6, 1, true, jobs(&["x"])).unwrap_err();
        assert!(other.to_string().contains("expected chunk 0"), "{other}");
        let newer_term = s.add(2, 5, 1, true, jobs(&["x"])).unwrap_err();
        assert!(matches!(
            newer_term,
            StagingError::NotStarted { term: 2, .. }
        ));
        s.add(1, 6, 0, true, jobs(&["b"])).unwrap();
        assert_eq!(
            ids(s.add(1, 6, 1, false, jobs(&["c"])).unwrap()),
            ["b", "c"]
        );
    }
}
