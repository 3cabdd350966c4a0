//! Rebalancing (`CRONY_REBALANCE=on`, the default): when agents join or weights change, move a
//! bounded number of jobs per pass from agents above their weighted share to agents below it,
//! each by the same two-phase move as any other (docs/placement.md), so evening out load can
//! neither double nor drop a fire. Pure: `reconcile` carries the moves out.

use std::collections::HashSet;

use super::index::IndexedJob;
use super::plan::Decision;
use crate::domain::ids::JobId;
use crate::placement::{Candidate, is_eligible};

/// Moves per pass by default: enough that 10,000 jobs even out in well under a minute, few
/// enough that one pass's pushes stay small.
pub const DEFAULT_BUDGET: usize = 500;

/// Up to `budget` moves toward the weighted shares; `busy` jobs (already moving) stay put.
/// `candidates` carry the current load and are updated with the moves.
pub fn rebalance<'a>(
    jobs: impl IntoIterator<Item = (&'a JobId, &'a IndexedJob)>,
    candidates: &mut [Candidate],
    budget: usize,
    busy: &HashSet<JobId>,
) -> Vec<Decision> {
    let active: Vec<usize> = (0..candidates.len())
        .filter(|&i| !candidates[i].drained)
        .collect();
    let total: u64 = active.iter().map(|&i| candidates[i].assigned).sum();
    let weights: u64 = active
        .iter()
        .map(|&i| u64::from(candidates[i].effective_weight()))
        .sum();
    if active.len() < 2 || total == 0 || budget == 0 {
        return Vec::new();
    }
    let share = |c: &Candidate| total as f64 * f64::from(c.effective_weight()) / weights as f64;
    let over = |c: &Candidate| c.assigned as f64 > share(c).ceil();
    let under = |c: &Candidate| (c.assigned as f64) < share(c).floor();
    let any_over = active.iter().any(|&i| over(&candidates[i]));
    let any_under = active.iter().any(|&i| under(&candidates[i]));
    if !any_over || !any_under {
        return Vec::new();
    }
    let mut moves = Vec::new();
    for (id, job) in jobs {
        if moves.len() == budget {
            break;
        }
        let Some(from) = job.agent.as_ref() else {
            continue;
        };
        if !job.enabled() || busy.contains(id) {
            continue;
        }
        let Some(&f) = active.iter().find(|&&i| candidates[i].id == *from) else {
            continue;
        };
        if !over(&candidates[f]) {
            continue;
        }
        let target = active
            .iter()
            .copied()
            .filter(|&i| under(&candidates[i]) && is_eligible(&candidates[i], &job.needs))
            .min_by(|&a, &b| {
                let load = |i: usize| {
                    candidates[i].assigned as f64 / f64::from(candidates[i].effective_weight())
                };
                load(a).total_cmp(&load(b))
            });
        let Some(t) = target else {
            continue;
        };
        candidates[f].assigned -= 1;
        candidates[t].assigned += 1;
        moves.push(Decision::Move {
            job: id.clone(),
            from: from.clone(),
            to: candidates[t].id.clone(),
        });
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leader::index::{JobIndex, Window};
    use crate::placement::test_support::cand;

    fn on(agent: &str, n: usize) -> JobIndex {
        let ids: Vec<String> = (0..n).map(|i| format!("j{i:03}")).collect();
        let mut index = JobIndex::load(
            ids.iter()
                .map(|id| crate::leader::index::tests::job(id))
                .collect(),
        );
        for id in &ids {
            index.assign(
                &id.as_str().into(),
                Some(agent.into()),
                1,
                Window::default(),
            );
        }
        index
    }

    fn loads(candidates: &[Candidate]) -> Vec<u64> {
        candidates.iter().map(|c| c.assigned).collect()
    }

    #[test]
    fn a_joining_agent_gets_its_share_within_the_budget() {
        let index = on("a", 100);
        let mut agents = [cand("a", 1), cand("b", 1)];
        agents[0].assigned = 100;
        let first = rebalance(index.iter(), &mut agents, 30, &HashSet::new());
        assert_eq!(first.len(), 30, "bounded per pass");
        assert_eq!(loads(&agents), [70, 30]);
        let rest = rebalance(index.iter(), &mut agents, 500, &HashSet::new());
        assert_eq!(loads(&agents), [50, 50]);
        assert!(rest.iter().all(|m| matches!(m,
            Decision::Move { from, to, .. } if from == "a" && to == "b")));
        assert!(rebalance(index.iter(), &mut agents, 500, &HashSet::new()).is_empty());
    }

    #[test]
    fn shares_follow_weights_and_drained_agents_take_nothing() {
        let index = on("a", 100);
        let mut agents = [cand("a", 1), cand("b", 3), cand("c", 5)];
        agents[0].assigned = 100;
        agents[2].drained = true;
        rebalance(index.iter(), &mut agents, 500, &HashSet::new());
        assert_eq!(loads(&agents), [25, 75, 0]);
    }

    #[test]
    fn ineligible_and_moving_jobs_stay() {
        let mut index = on("a", 10);
        let mut pinned = crate::leader::index::tests::job("j000");
        pinned.spec.placement.agent_id = Some("a".into());
        index.apply_change(&pinned);
        let busy: HashSet<JobId> = ["j001".into()].into();
        let mut agents = [cand("a", 1), cand("b", 1)];
        agents[0].assigned = 10;
        let moves = rebalance(index.iter(), &mut agents, 500, &busy);
        assert_eq!(moves.len(), 5);
        assert!(
            moves
                .iter()
                .all(|m| !["j000", "j001"].contains(&m.job().as_str()))
        );
    }

    #[test]
    fn a_balanced_cluster_moves_nothing() {
        let index = on("a", 3);
        let mut agents = [cand("a", 1), cand("b", 1)];
        agents[0].assigned = 2;
        agents[1].assigned = 1;
        assert!(rebalance(index.iter(), &mut agents, 500, &HashSet::new()).is_empty());
    }
}
