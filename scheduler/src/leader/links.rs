//! What the leader knows each live agent holds — acknowledged job versions, and the lease it
//! was last fully synced under — and the pure diff from that to what the index says it should
//! hold. An agent registering again (a new lease id in its record, even inside one process)
//! un-arms its jobs, so it is always fully synced again.

use std::collections::{HashMap, HashSet};

use crony_common::registry::AgentRecord;
use crony_proto::v1::JobSpec;
use tokio::time::Instant;

use super::index::{JobIndex, Version};
use crate::domain::ids::{AgentId, JobId};

/// One live agent as the leader pushes to it.
#[derive(Debug)]
pub struct Link {
    /// `record.id`, typed once when the agent appears.
    pub id: AgentId,
    pub record: AgentRecord,
    /// The lease the agent was fully synced under; `None`: it needs a full sync.
    pub synced: Option<i64>,
    /// What the agent acknowledged holding.
    pub acked: HashMap<JobId, Version>,
    /// After a failed push, nothing more is sent before this.
    pub retry_at: Option<Instant>,
    /// Jobs this agent has not been brought up to date for (a push failed or was deferred).
    pub pending: HashSet<JobId>,
}

impl Link {
    fn new(record: AgentRecord) -> Self {
        Self {
            id: record.id.clone().into(),
            record,
            synced: None,
            acked: HashMap::new(),
            retry_at: None,
            pending: HashSet::new(),
        }
    }

    pub fn needs_sync(&self) -> bool {
        self.synced != Some(self.record.lease_id)
    }

    pub fn may_push(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }
}

/// What to send one agent: jobs to add or replace, jobs to stop.
#[derive(Debug, Default, PartialEq)]
pub struct Delta {
    pub assign: Vec<JobSpec>,
    pub remove: Vec<JobId>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.assign.is_empty() && self.remove.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct Links {
    pub by_agent: HashMap<AgentId, Link>,
}

impl Links {
    /// Follows the registry: new agents appear unsynced, departed ones are forgotten, and an
    /// agent whose record changed (new lease, address, TLS) is synced again. True if anything
    /// changed.
    pub fn refresh(&mut self, live: &[AgentRecord]) -> bool {
        let ids: HashSet<&str> = live.iter().map(|a| a.id.as_str()).collect();
        let before = self.by_agent.len();
        self.by_agent.retain(|id, _| ids.contains(id.as_str()));
        let mut changed = before != self.by_agent.len();
        for record in live {
            match self.by_agent.get_mut(record.id.as_str()) {
                Some(link) if link.record == *record => {}
                Some(link) => {
                    *link = Link::new(record.clone());
                    changed = true;
                }
                None => {
                    let link = Link::new(record.clone());
                    self.by_agent.insert(link.id.clone(), link);
                    changed = true;
                }
            }
        }
        changed
    }
}

/// Every job `agent` should hold.
pub fn full_set(index: &JobIndex, agent: &AgentId) -> Vec<JobSpec> {
    index
        .iter()
        .filter(|(_, j)| j.enabled() && j.agent.as_ref() == Some(agent))
        .map(|(_, j)| j.spec.clone())
        .collect()
}

/// The pushes that bring `link` to the index for the jobs in `ids`.
pub fn delta<'a>(link: &Link, index: &JobIndex, ids: impl IntoIterator<Item = &'a JobId>) -> Delta {
    let agent = Some(&link.id);
    let mut delta = Delta::default();
    for id in ids {
        let desired = index
            .get(id)
            .filter(|j| j.enabled() && j.agent.as_ref() == agent);
        match (desired, link.acked.get(id)) {
            (Some(job), Some(held)) if job.version() == *held => {}
            (Some(job), _) => delta.assign.push(job.spec.clone()),
            (None, Some(_)) => delta.remove.push(id.clone()),
            (None, None) => {}
        }
    }
    delta
}

/// The pushes that bring `link` to the index for every job (a periodic check that nothing
/// drifted).
pub fn full_delta(link: &Link, index: &JobIndex) -> Delta {
    let agent = Some(&link.id);
    let mut ids: HashSet<&JobId> = link.acked.keys().collect();
    ids.extend(
        index
            .iter()
            .filter(|(_, j)| j.agent.as_ref() == agent)
            .map(|(id, _)| id),
    );
    delta(link, index, ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leader::index::Window;

    fn record(id: &str, lease: i64) -> AgentRecord {
        AgentRecord {
            id: id.into(),
            grpc_addr: "127.0.0.1:1".into(),
            hostname: "h".into(),
            weight: 1,
            labels: Default::default(),
            version: "0".into(),
            allow_shell: false,
            started_at: "2026-01-01T00:00:00Z".into(),
            tls: false,
            lease_id: lease,
        }
    }

    fn index() -> JobIndex {
        let jobs = ["a", "b", "c"]
            .iter()
            .map(|id| crate::leader::index::tests::job(id))
            .collect();
        let mut index = JobIndex::load(jobs);
        for id in ["a", "b", "c"] {
            index.assign(&id.into(), Some("x".into()), 1, Window::default());
        }
        index
    }

    #[test]
    fn a_new_lease_means_a_full_sync() {
        let mut links = Links::default();
        assert!(links.refresh(&[record("x", 1)]));
        let link = links.by_agent.get_mut("x").unwrap();
        assert!(link.needs_sync());
        link.synced = Some(1);
        assert!(!links.refresh(&[record("x", 1)]));
        assert!(!links.by_agent["x"].needs_sync());
        assert!(
            links.refresh(&[record("x", 2)]),
            "registered again in-process"
        );
        assert!(links.by_agent["x"].needs_sync());
        assert!(links.refresh(&[]));
        assert!(links.by_agent.is_empty());
    }

    #[test]
    fn the_delta_sends_only_what_differs() {
        let mut index = index();
        let mut links = Links::default();
        links.refresh(&[record("x", 1)]);
        let link = links.by_agent.get_mut("x").unwrap();
        for id in ["a", "b", "c"] {
            let id = JobId::from(id);
            let version = index.get(&id).unwrap().version();
            link.acked.insert(id, version);
        }
        link.acked.insert(
            "gone".into(),
            crate::leader::index::Version {
                epoch: 1,
                updated_at_ms: 0,
            },
        );
        index.assign(&"b".into(), Some("y".into()), 2, Window::default()); // moved away
        index.assign(&"c".into(), Some("x".into()), 3, Window::default()); // new epoch
        let all = full_delta(link, &index);
        let mut removed = all.remove.clone();
        removed.sort();
        assert_eq!(removed, ["b", "gone"]);
        assert_eq!(
            all.assign.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        let only_a = delta(link, &index, [&JobId::from("a")]);
        assert!(only_a.is_empty());
        assert_eq!(full_set(&index, &"x".into()).len(), 2);
    }
}
