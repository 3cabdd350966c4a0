//! The leader's in-memory job index: every job as placement and pushes need it, loaded once per
//! leadership and kept current from the job change queue (`store::job_feed`). While it leads,
//! the leader is the only writer of assignments, so the index's owner and epoch of a job it
//! already knows are the truth; the feed only brings definitions (and new jobs).

use std::collections::HashMap;

use crony_proto::v1 as pb;

use super::convert;
use crate::domain::ids::{AgentId, JobId};
use crate::domain::job::Job;
use crate::placement::{Requirements, Strategy};

/// One job as the leader keeps it.
#[derive(Debug, Clone)]
pub struct IndexedJob {
    /// What agents receive, with the current epoch, misfire window and move instant in it.
    pub spec: pb::JobSpec,
    pub needs: Requirements,
    /// `None`: the cluster default.
    pub strategy: Option<Strategy>,
    pub agent: Option<AgentId>,
}

impl IndexedJob {
    pub fn from_job(job: &Job) -> Self {
        Self {
            spec: convert::to_proto(job),
            needs: Requirements {
                labels: job.spec.placement.labels.clone(),
                pinned: job.spec.placement.agent_id.clone(),
                needs_shell: job.spec.needs_shell(),
            },
            strategy: job.spec.placement.strategy,
            agent: job.agent_id.clone(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.spec.enabled
    }

    pub fn epoch(&self) -> u64 {
        self.spec.assignment_epoch
    }

    /// What an agent acknowledged holding is current when this matches.
    pub fn version(&self) -> Version {
        Version {
            epoch: self.spec.assignment_epoch,
            updated_at_ms: self.spec.updated_at_ms,
        }
    }
}

/// A job's version as an agent holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub epoch: u64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Default)]
pub struct JobIndex {
    jobs: HashMap<JobId, IndexedJob>,
    /// Enabled jobs per owner, kept with every change (placement's load figures).
    counts: HashMap<AgentId, u64>,
}

impl JobIndex {
    pub fn load(jobs: Vec<Job>) -> Self {
        let mut index = Self::default();
        for job in &jobs {
            index.insert(job.id.clone(), IndexedJob::from_job(job));
        }
        index
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub fn get(&self, id: &JobId) -> Option<&IndexedJob> {
        self.jobs.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&JobId, &IndexedJob)> {
        self.jobs.iter()
    }

    /// Every agent the index has enabled jobs on.
    pub fn owners(&self) -> impl Iterator<Item = &AgentId> {
        self.counts.keys()
    }

    /// Enabled jobs the index has on `agent`.
    pub fn count(&self, agent: &AgentId) -> u64 {
        self.counts.get(agent).copied().unwrap_or(0)
    }

    /// A definition from the feed. A job already known keeps the owner, epoch and misfire
    /// window the leader gave it: a feed page read before the leader's own write must not
    /// undo it.
    pub fn apply_change(&mut self, job: &Job) {
        let mut fresh = IndexedJob::from_job(job);
        if let Some(known) = self.jobs.get(&job.id) {
            fresh.agent = known.agent.clone();
            fresh.spec.assignment_epoch = known.spec.assignment_epoch;
            fresh.spec.misfire_since_ms =
                known.spec.misfire_since_ms.max(fresh.spec.misfire_since_ms);
            fresh.spec.resume_after_ms = known.spec.resume_after_ms;
            fresh.spec.uncertain_through_ms = known.spec.uncertain_through_ms;
            fresh.spec.busy_until_ms = known.spec.busy_until_ms;
        }
        self.insert(job.id.clone(), fresh);
    }

    pub fn remove(&mut self, id: &JobId) -> Option<IndexedJob> {
        let gone = self.jobs.remove(id)?;
        self.uncount(&gone);
        Some(gone)
    }

    /// Records a new owner (or none) and epoch written to MySQL; the window is where the new
    /// owner's fires start.
    pub fn assign(&mut self, id: &JobId, to: Option<AgentId>, epoch: u64, window: Window) {
        let Some(mut job) = self.remove(id) else {
            return;
        };
        job.agent = to;
        job.spec.assignment_epoch = epoch;
        job.spec.resume_after_ms = window.resume_after_ms;
        job.spec.uncertain_through_ms = window.uncertain_through_ms;
        job.spec.busy_until_ms = window.busy_until_ms;
        job.spec.misfire_since_ms = job.spec.misfire_since_ms.max(window.misfire_since_ms);
        self.insert(id.clone(), job);
    }

    fn insert(&mut self, id: JobId, job: IndexedJob) {
        if let Some(old) = self.jobs.remove(&id) {
            self.uncount(&old);
        }
        if let (true, Some(agent)) = (job.enabled(), &job.agent) {
            *self.counts.entry(agent.clone()).or_default() += 1;
        }
        self.jobs.insert(id, job);
    }

    fn uncount(&mut self, job: &IndexedJob) {
        if let (true, Some(agent)) = (job.enabled(), &job.agent)
            && let Some(n) = self.counts.get_mut(agent)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.counts.remove(agent);
            }
        }
    }
}

/// Where a job's new owner starts firing (see `JobSpec.resume_after_ms`, `misfire_since_ms`,
/// `uncertain_through_ms`, `busy_until_ms`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub resume_after_ms: i64,
    pub misfire_since_ms: i64,
    pub uncertain_through_ms: i64,
    pub busy_until_ms: i64,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::Utc;

    pub(crate) fn job(id: &str) -> Job {
        let spec = serde_json::from_value(serde_json::json!({
            "name": id, "schedule": "@every 1s",
            "target": {"kind": "http", "url": "http://127.0.0.1:9/"}
        }))
        .unwrap();
        Job {
            id: id.into(),
            spec,
            agent_id: None,
            assignment_epoch: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            last_scheduled_at: None,
        }
    }

    #[test]
    fn counts_follow_owners_and_enabled() {
        let mut index = JobIndex::load(vec![job("a"), job("b")]);
        index.assign(&"a".into(), Some("x".into()), 1, Window::default());
        index.assign(&"b".into(), Some("x".into()), 1, Window::default());
        assert_eq!(index.count(&"x".into()), 2);
        let mut paused = job("b");
        paused.spec.enabled = false;
        index.apply_change(&paused);
        assert_eq!(index.count(&"x".into()), 1, "a paused job is no load");
        index.assign(&"a".into(), Some("y".into()), 2, Window::default());
        assert_eq!((index.count(&"x".into()), index.count(&"y".into())), (0, 1));
        index.remove(&"a".into());
        assert_eq!(index.count(&"y".into()), 0);
    }

    #[test]
    fn a_feed_change_keeps_the_leaders_owner_and_epoch() {
        let mut index = JobIndex::load(vec![job("a")]);
        index.assign(&"a".into(), Some("x".into()), 5, Window::default());
        let mut stale = job("a"); // read from MySQL before the assignment was written
        stale.spec.description = "changed".into();
        index.apply_change(&stale);
        let a = index.get(&"a".into()).unwrap();
        assert_eq!(
            (a.agent.as_ref().map(AgentId::as_str), a.epoch()),
            (Some("x"), 5)
        );
    }
}
