//! Placement as a plan: a pure function from (jobs, live agents with their operator settings
//! and load, current owners) to the decisions that make the assignment what it should be.
//! Nothing here does I/O; `reconcile` carries the decisions out (two-phase for moves).
//!
//! Keep-or-move: a job stays with its owner while that agent is live and eligible for it. It
//! moves (two-phase) when its live owner stops being eligible — drained, labels or pin changed,
//! shell no longer allowed — and is placed anew when it has no live owner.

use std::collections::{BTreeMap, HashMap};

use crony_common::registry::AgentRecord;

use super::index::IndexedJob;
use crate::domain::agent::AgentAdmin;
use crate::domain::ids::{AgentId, JobId};
use crate::placement::{Candidate, Placer, Strategy, is_eligible};

/// One step toward the desired assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No live owner (new job, or its agent left): `to` takes it, starting at its misfire window.
    Place { job: JobId, to: AgentId },
    /// A live owner that may no longer hold it, or rebalancing: `from` stops it and says the
    /// newest instant it fired before `to` is armed (docs/placement.md).
    Move {
        job: JobId,
        from: AgentId,
        to: AgentId,
    },
    /// Nobody should hold it (paused, or no agent may): `from` stops it, if it is live.
    Release { job: JobId, from: AgentId },
}

impl Decision {
    pub fn job(&self) -> &JobId {
        match self {
            Decision::Place { job, .. }
            | Decision::Move { job, .. }
            | Decision::Release { job, .. } => job,
        }
    }
}

/// What one plan produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub decisions: Vec<Decision>,
    /// Enabled jobs no live agent may hold.
    pub unplaceable: Vec<JobId>,
    /// How many of the decisions are rebalancing moves.
    pub rebalanced: usize,
}

/// The live agents as placement candidates: operator settings applied, load from `count`.
pub fn candidates(
    live: &[AgentRecord],
    admin: &HashMap<AgentId, AgentAdmin>,
    count: impl Fn(&AgentId) -> u64,
) -> Vec<Candidate> {
    live.iter()
        .map(|a| {
            let settings = admin.get(a.id.as_str()).copied().unwrap_or_default();
            let id = AgentId::from(a.id.clone());
            Candidate {
                assigned: count(&id),
                id,
                weight: settings.weight_override.unwrap_or(a.weight).max(1),
                labels: a.labels.clone(),
                allow_shell: a.allow_shell,
                drained: settings.drained,
            }
        })
        .collect()
}

/// Decides for each of `jobs` (all of them, or only those that changed).
pub fn plan<'a>(
    jobs: impl IntoIterator<Item = (&'a JobId, &'a IndexedJob)>,
    candidates: &mut [Candidate],
    placer: &mut Placer,
    default: Strategy,
) -> Plan {
    let at: BTreeMap<AgentId, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.clone(), i))
        .collect();
    let mut plan = Plan::default();
    for (id, job) in jobs {
        let owner = job.agent.as_ref();
        let live_owner = owner.and_then(|o| at.get(o).copied());
        if !job.enabled() {
            if let Some(from) = owner {
                plan.decisions.push(Decision::Release {
                    job: id.clone(),
                    from: from.clone(),
                });
            }
            continue;
        }
        if live_owner.is_some_and(|i| is_eligible(&candidates[i], &job.needs)) {
            continue;
        }
        let strategy = job.strategy.unwrap_or(default);
        let chosen = placer
            .place(strategy, candidates, &job.needs)
            .map(|i| candidates[i].id.clone());
        match (chosen, live_owner.and(owner)) {
            (Some(to), Some(from)) => plan.decisions.push(Decision::Move {
                job: id.clone(),
                from: from.clone(),
                to,
            }),
            (Some(to), None) => plan.decisions.push(Decision::Place {
                job: id.clone(),
                to,
            }),
            (None, _) => {
                if let Some(from) = owner {
                    plan.decisions.push(Decision::Release {
                        job: id.clone(),
                        from: from.clone(),
                    });
                }
                plan.unplaceable.push(id.clone());
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leader::index::{JobIndex, Window};
    use crate::placement::test_support::cand;

    fn index(jobs: &[(&str, Option<&str>)]) -> JobIndex {
        let mut index = JobIndex::load(
            jobs.iter()
                .map(|(id, _)| crate::leader::index::tests::job(id))
                .collect(),
        );
        for (id, owner) in jobs {
            index.assign(
                &(*id).into(),
                owner.map(AgentId::from),
                1,
                Window::default(),
            );
        }
        index
    }

    fn run(index: &JobIndex, candidates: &mut [Candidate]) -> Plan {
        let mut jobs: Vec<_> = index.iter().collect();
        jobs.sort_by(|a, b| a.0.cmp(b.0));
        plan(
            jobs,
            candidates,
            &mut Placer::new(),
            Strategy::WeightedRoundRobin,
        )
    }

    fn edit(index: &mut JobIndex, id: &str, change: impl FnOnce(&mut crate::domain::job::Job)) {
        let id = JobId::from(id);
        let owner = index.get(&id).unwrap().agent.clone();
        let mut job = crate::leader::index::tests::job(id.as_str());
        change(&mut job);
        index.apply_change(&job);
        assert_eq!(index.get(&id).unwrap().agent, owner);
    }

    #[test]
    fn a_job_on_a_live_eligible_agent_stays() {
        let index = index(&[("j", Some("a"))]);
        let plan = run(&index, &mut [cand("a", 1), cand("b", 100)]);
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn new_and_orphaned_jobs_are_placed() {
        let index = index(&[("new", None), ("orphan", Some("gone"))]);
        let plan = run(&index, &mut [cand("a", 1)]);
        assert_eq!(
            plan.decisions,
            [
                Decision::Place {
                    job: "new".into(),
                    to: "a".into()
                },
                Decision::Place {
                    job: "orphan".into(),
                    to: "a".into()
                },
            ]
        );
    }

    #[test]
    fn draining_moves_jobs_two_phase_to_another_agent() {
        let index = index(&[("j", Some("a"))]);
        let mut agents = [cand("a", 1), cand("b", 1)];
        agents[0].drained = true;
        let plan = run(&index, &mut agents);
        assert_eq!(
            plan.decisions,
            [Decision::Move {
                job: "j".into(),
                from: "a".into(),
                to: "b".into()
            }]
        );
    }

    #[test]
    fn label_pin_and_shell_rules_move_or_release() {
        let mut index = index(&[("labels", Some("a")), ("pin", Some("a")), ("sh", Some("a"))]);
        edit(&mut index, "labels", |j| {
            j.spec.placement.labels = [("zone".into(), "b".into())].into();
        });
        edit(&mut index, "pin", |j| {
            j.spec.placement.agent_id = Some("b".into())
        });
        edit(&mut index, "sh", |j| {
            j.spec.target =
                serde_json::from_value(serde_json::json!({"kind": "shell", "command": "true"}))
                    .unwrap();
        });
        let mut agents = [cand("a", 1), cand("b", 1)];
        agents[1].labels = [("zone".to_owned(), "b".to_owned())].into();
        // Shell no longer allowed anywhere: the shell job may run nowhere.
        agents[0].allow_shell = false;
        agents[1].allow_shell = false;
        let plan = run(&index, &mut agents);
        assert_eq!(
            plan.decisions,
            [
                Decision::Move {
                    job: "labels".into(),
                    from: "a".into(),
                    to: "b".into()
                },
                Decision::Move {
                    job: "pin".into(),
                    from: "a".into(),
                    to: "b".into()
                },
                Decision::Release {
                    job: "sh".into(),
                    from: "a".into()
                },
            ]
        );
        assert_eq!(plan.unplaceable, [JobId::from("sh")]);
    }

    #[test]
    fn paused_jobs_are_released_and_unowned_paused_jobs_left_alone() {
        let mut index = index(&[("on_a", Some("a")), ("nowhere", None)]);
        for id in ["on_a", "nowhere"] {
            edit(&mut index, id, |j| j.spec.enabled = false);
        }
        let plan = run(&index, &mut [cand("a", 1)]);
        assert_eq!(
            plan.decisions,
            [Decision::Release {
                job: "on_a".into(),
                from: "a".into()
            }]
        );
        assert!(plan.unplaceable.is_empty());
    }

    #[test]
    fn weight_shares_new_jobs_and_no_agent_means_unplaceable() {
        let ids: Vec<String> = (0..40).map(|i| format!("j{i:02}")).collect();
        let index = index(&ids.iter().map(|i| (i.as_str(), None)).collect::<Vec<_>>());
        let mut agents = [cand("a", 3), cand("b", 1)];
        let plan = run(&index, &mut agents);
        let on_a = plan
            .decisions
            .iter()
            .filter(|d| matches!(d, Decision::Place { to, .. } if to == "a"))
            .count();
        assert_eq!(on_a, 30);
        let plan = run(&index, &mut []);
        assert_eq!(plan.unplaceable.len(), 40);
        assert!(plan.decisions.is_empty());
    }
}
