//! The jobs this agent holds: in memory, shared with the clock (each job is stored once), and
//! on disk ([`crate::held_file`]: a snapshot plus a log of changes, fsynced), so a restarted
//! agent keeps its jobs until the scheduler syncs it again. Pushes from an older leader term
//! than one already seen are refused (a deposed leader must not undo its successor's
//! assignments).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crony_proto::v1::{HeldJob, JobSpec};

use crate::held_file::{HeldFile, encode_change};
use crate::job::{Job, JobError, JobId};

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("push from leader term {given}, but term {current} is already in force")]
    StaleTerm { given: u64, current: u64 },
    #[error("cannot save held jobs to {path}: {source}")]
    Save {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct Holdings {
    path: String,
    /// Held jobs read back at start that this agent could not use (dropped, logged).
    unusable_on_load: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    term: u64,
    generation: u64,
    jobs: BTreeMap<JobId, Arc<Job>>,
    file: HeldFile,
}

impl Holdings {
    /// Loads what was held before a restart (nothing if it is missing or unreadable: the
    /// scheduler's next sync restores the truth either way). A record that does not convert
    /// (written by another version, or damaged) is dropped with a warning and counted.
    pub fn load(data_dir: &Path) -> Self {
        let (file, loaded) = HeldFile::open(data_dir);
        let mut jobs = BTreeMap::new();
        let mut unusable = 0;
        // Converted one by one, each spec freed as soon as its job exists.
        for (_, spec) in loaded.jobs {
            match Job::try_from(&spec) {
                Ok(job) => {
                    jobs.insert(job.id.clone(), Arc::new(job));
                }
                Err(e) => {
                    unusable += 1;
                    tracing::warn!(error = %e, "dropping a held job this agent cannot use");
                }
            }
        }
        if !jobs.is_empty() || unusable > 0 {
            tracing::info!(
                jobs = jobs.len(),
                unusable,
                generation = loaded.generation,
                "holding jobs from before the restart"
            );
        }
        Self {
            path: data_dir.display().to_string(),
            unusable_on_load: unusable,
            state: Mutex::new(State {
                term: loaded.term,
                generation: loaded.generation,
                jobs,
                file,
            }),
        }
    }

    /// How many held jobs read back at start were dropped as unusable.
    pub fn unusable_on_load(&self) -> usize {
        self.unusable_on_load
    }

    /// Converts pushed specs into jobs, all or none: the first that does not convert is the
    /// answer. Each job equal to the held one is answered with the held copy, so a resync of
    /// thousands of unchanged jobs keeps one copy of each, and the duplicates are freed chunk
    /// by chunk instead of doubling the agent's memory.
    pub fn admit(&self, specs: Vec<JobSpec>) -> Result<Vec<Arc<Job>>, JobError> {
        let mut jobs = Vec::with_capacity(specs.len());
        // Each decoded spec is freed once converted, not when the whole request is.
        for spec in specs {
            jobs.push(Job::try_from(&spec)?);
        }
        let state = self.lock();
        Ok(jobs
            .into_iter()
            .map(|job| match state.jobs.get(&job.id) {
                Some(held) if **held == job => held.clone(),
                _ => Arc::new(job),
            })
            .collect())
    }

    /// Refuses `term` if a newer one is in force (changes nothing).
    pub fn check_term(&self, term: u64) -> Result<(), HoldError> {
        let current = self.lock().term;
        if term < current {
            return Err(HoldError::StaleTerm {
                given: term,
                current,
            });
        }
        Ok(())
    }

    /// Adds or replaces jobs (by id); a non-zero `generation` becomes the held generation.
    pub fn assign(&self, term: u64, generation: u64, jobs: &[Arc<Job>]) -> Result<u64, HoldError> {
        self.change(term, generation, Some((jobs, &[])), |state| {
            for job in jobs {
                tracing::debug!(job = %job.id, name = %job.name, epoch = job.assignment_epoch, "holding job");
                state.jobs.insert(job.id.clone(), job.clone());
            }
        })
    }

    /// Stops holding `ids`; a non-zero `generation` becomes the held generation.
    pub fn remove(&self, term: u64, generation: u64, ids: &[String]) -> Result<u64, HoldError> {
        self.change(term, generation, Some((&[], ids)), |state| {
            for id in ids {
                if state.jobs.remove(id.as_str()).is_some() {
                    tracing::debug!(job = %id, "released job");
                }
            }
        })
    }

    /// Replaces the whole set; the agent then reports `generation` as acknowledged.
    pub fn sync(&self, term: u64, generation: u64, jobs: &[Arc<Job>]) -> Result<u64, HoldError> {
        // A sync is written as a snapshot: a log record would be as large.
        self.change(term, generation, None, |state| {
            state.jobs = jobs.iter().map(|j| (j.id.clone(), j.clone())).collect();
            tracing::info!(jobs = state.jobs.len(), generation, "synced job set");
        })
    }

    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn held(&self) -> Vec<HeldJob> {
        self.lock()
            .jobs
            .values()
            .map(|j| HeldJob {
                job_id: j.id.to_string(),
                assignment_epoch: j.assignment_epoch,
            })
            .collect()
    }

    pub fn all(&self) -> Vec<Arc<Job>> {
        self.lock().jobs.values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.lock().jobs.get(id).cloned()
    }

    /// Applies a change in memory, then makes it durable: appended to the log when `logged`
    /// gives its upserts and removals, else (or when the log cannot take it) as a snapshot.
    /// A failed write is answered as an error after the change was made in memory; the
    /// scheduler retries the push, which then changes nothing but is written again.
    fn change(
        &self,
        term: u64,
        generation: u64,
        logged: Option<(&[Arc<Job>], &[String])>,
        apply: impl FnOnce(&mut State),
    ) -> Result<u64, HoldError> {
        let mut state = self.lock();
        if term < state.term {
            return Err(HoldError::StaleTerm {
                given: term,
                current: state.term,
            });
        }
        state.term = term;
        if generation != 0 {
            state.generation = generation;
        }
        apply(&mut state);
        let state = &mut *state;
        let appended = match logged {
            Some((upsert, remove)) if state.file.has_log() => {
                let upsert = upsert.iter().map(|job| JobSpec::from(job.as_ref()));
                let record = encode_change(state.term, state.generation, upsert, remove);
                state.file.append(&record).is_ok()
            }
            _ => false,
        };
        if appended && !state.file.should_compact() {
            return Ok(state.generation);
        }
        // Converted back one job at a time as the snapshot is streamed out.
        let specs = state.jobs.values().map(|job| JobSpec::from(job.as_ref()));
        let written = state.file.snapshot(state.term, state.generation, specs);
        match written {
            Ok(()) => {}
            // The change is in the log already; folding it into a snapshot can wait.
            Err(e) if appended => {
                tracing::warn!(path = %self.path, error = %e, "cannot compact the held-jobs log")
            }
            Err(source) => {
                return Err(HoldError::Save {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        Ok(state.generation)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, epoch: u64) -> Arc<Job> {
        let spec = JobSpec {
            assignment_epoch: epoch,
            ..crate::job::fixture::spec(id)
        };
        Arc::new(Job::try_from(&spec).unwrap())
    }

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn jobs_survive_a_restart() {
        let d = dir();
        let h = Holdings::load(d.path());
        h.sync(1, 7, &[job("a", 1), job("b", 1)]).unwrap();
        h.assign(1, 0, &[job("c", 2)]).unwrap();
        h.remove(1, 0, &["a".into()]).unwrap();
        let again = Holdings::load(d.path());
        assert_eq!(again.generation(), 7);
        let ids: Vec<String> = again.held().into_iter().map(|j| j.job_id).collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn an_older_term_is_refused_and_changes_nothing() {
        let d = dir();
        let h = Holdings::load(d.path());
        h.sync(5, 1, &[job("a", 1)]).unwrap();
        assert!(matches!(
            h.sync(4, 2, &[]),
            Err(HoldError::StaleTerm {
                given: 4,
                current: 5
            })
        ));
        assert!(h.remove(4, 0, &["a".into()]).is_err());
        assert_eq!(h.len(), 1);
        assert_eq!(h.sync(6, 2, &[]).unwrap(), 2);
        assert!(h.is_empty());
    }

    #[test]
    fn a_held_record_that_does_not_convert_is_dropped_and_counted() {
        let d = dir();
        let (mut file, _) = HeldFile::open(d.path());
        let unusable = JobSpec {
            timezone: "Mars/Olympus".into(),
            ..crate::job::fixture::spec("bad")
        };
        let specs = [crate::job::fixture::spec("good"), unusable];
        file.snapshot(1, 2, specs.into_iter()).unwrap();
        drop(file);
        let h = Holdings::load(d.path());
        assert_eq!(h.unusable_on_load(), 1);
        let ids: Vec<String> = h.held().into_iter().map(|j| j.job_id).collect();
        assert_eq!(ids, ["good"]);
        assert_eq!(h.generation(), 2);
    }

    #[test]
    fn admitting_an_unchanged_job_answers_the_held_copy() {
        let d = dir();
        let h = Holdings::load(d.path());
        let held = job("a", 1);
        h.sync(1, 1, std::slice::from_ref(&held)).unwrap();
        let pushed = |epoch| JobSpec {
            assignment_epoch: epoch,
            ..crate::job::fixture::spec("a")
        };
        let same = h.admit(vec![pushed(1), pushed(2)]).unwrap();
        assert!(Arc::ptr_eq(&same[0], &held), "unchanged: the held copy");
        assert!(!Arc::ptr_eq(&same[1], &held));
        assert_eq!(same[1].assignment_epoch, 2);
        let bad = JobSpec {
            misfire: 9,
            ..pushed(1)
        };
        let refused = h.admit(vec![pushed(1), bad]).unwrap_err();
        assert_eq!(refused.field, "misfire");
    }

    #[test]
    fn a_delta_with_a_generation_moves_the_generation() {
        let d = dir();
        let h = Holdings::load(d.path());
        h.sync(1, 7, &[job("a", 1)]).unwrap();
        assert_eq!(h.assign(1, 0, &[job("b", 1)]).unwrap(), 7, "0 keeps it");
        assert_eq!(h.assign(1, 8, &[job("c", 1)]).unwrap(), 8);
        assert_eq!(h.remove(1, 9, &["a".into()]).unwrap(), 9);
        assert_eq!(h.remove(1, 0, &["b".into()]).unwrap(), 9);
        assert_eq!(Holdings::load(d.path()).generation(), 9);
    }
}
