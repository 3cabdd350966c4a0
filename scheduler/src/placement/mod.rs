//! Placement: choosing the agent for a job from a snapshot of live agents, as pure functions.
//!
//! Nothing here does I/O or awaits: the caller takes a snapshot of the registry, calls
//! [`Placer::place`] once per job, and persists the outcome itself. That keeps placement cheap
//! to test exhaustively and lets one snapshot serve a whole batch of jobs.

use std::collections::{BTreeMap, HashSet};

use crate::domain::ids::AgentId;

pub mod fewest;
pub mod wrr;

/// One agent as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: AgentId,
    /// Relative capacity, `>= 1`; a 0 is treated as 1 so a misconfigured agent still gets a share
    /// instead of breaking the arithmetic of either strategy.
    pub weight: u32,
    pub labels: BTreeMap<String, String>,
    pub allow_shell: bool,
    pub drained: bool,
    /// Jobs currently assigned to this agent (kept up to date by the caller and by
    /// `Placer::place`).
    pub assigned: u64,
}

impl Candidate {
    /// The weight the strategies compute with (never 0).
    pub(crate) fn effective_weight(&self) -> u32 {
        self.weight.max(1)
    }
}

/// How the scheduler spreads jobs over eligible agents.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Smooth weighted round-robin: shares follow the weights, interleaved without bursts.
    WeightedRoundRobin,
    /// The agent with the least load relative to its weight.
    FewestJobs,
}

/// What a job requires of its agent.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    /// Every pair must be present on the agent.
    pub labels: BTreeMap<String, String>,
    /// Only this agent id.
    pub pinned: Option<AgentId>,
    /// Shell jobs only go to agents with `allow_shell`.
    pub needs_shell: bool,
}

/// Whether `c` may run a job with requirements `r`.
pub fn is_eligible(c: &Candidate, r: &Requirements) -> bool {
    !c.drained
        && (!r.needs_shell || c.allow_shell)
        && r.pinned.as_ref().is_none_or(|id| *id == c.id)
        && r.labels
            .iter()
            .all(|(k, v)| c.labels.get(k).is_some_and(|have| have == v))
}

/// Stateful placer: holds smooth-WRR current weights across calls (keyed by agent id), so that
/// successive placements interleave smoothly. Forget agents that left with
/// [`Placer::forget_except`].
#[derive(Debug, Default)]
pub struct Placer {
    wrr: wrr::SmoothWrr,
}

impl Placer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Picks the agent for one job among `candidates` (index into the slice), or `None` when no
    /// candidate is eligible. Increments `assigned` of the chosen candidate, so that a batch of
    /// placements over one snapshot sees its own earlier choices.
    pub fn place(
        &mut self,
        strategy: Strategy,
        candidates: &mut [Candidate],
        req: &Requirements,
    ) -> Option<usize> {
        let chosen = match strategy {
            Strategy::WeightedRoundRobin => self.wrr.pick(candidates, req),
            Strategy::FewestJobs => fewest::pick(candidates, req),
        }?;
        let c = candidates.get_mut(chosen)?;
        c.assigned = c.assigned.saturating_add(1);
        Some(chosen)
    }

    /// Drops the WRR state of agents no longer present, so a departed agent's leftover credit
    /// neither leaks memory nor skews its share if the same id comes back later.
    pub fn forget_except(&mut self, live_ids: &HashSet<AgentId>) {
        self.wrr.retain(|id| live_ids.contains(id));
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Candidate;

    pub fn cand(id: &str, weight: u32) -> Candidate {
        Candidate {
            id: id.into(),
            weight,
            labels: Default::default(),
            allow_shell: true,
            drained: false,
            assigned: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::cand;
    use super::*;
    // Not the prelude glob: its `Strategy` trait would clash with our `Strategy` enum.
    use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, proptest};
    use proptest::strategy::Strategy as Gen;

    const STRATEGIES: [Strategy; 2] = [Strategy::WeightedRoundRobin, Strategy::FewestJobs];

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn req_labels(pairs: &[(&str, &str)]) -> Requirements {
        let labels = labels(pairs);
        Requirements {
            labels,
            ..Default::default()
        }
    }

    fn req_pinned(id: &str) -> Requirements {
        let pinned = Some(id.into());
        Requirements {
            pinned,
            ..Default::default()
        }
    }

    #[test]
    fn eligibility_checks_every_requirement() {
        let mut c = cand("a", 1);
        c.labels = labels(&[("zone", "eu"), ("gpu", "yes")]);
        c.allow_shell = false;
        let shell = Requirements {
            needs_shell: true,
            ..Default::default()
        };
        let cases = [
            (Requirements::default(), true),
            (req_labels(&[("zone", "eu")]), true),
            (req_labels(&[("zone", "eu"), ("gpu", "yes")]), true),
            (req_labels(&[("zone", "us")]), false),
            (req_labels(&[("ssd", "yes")]), false),
            (req_pinned("a"), true),
            (req_pinned("b"), false),
            (shell.clone(), false),
        ];
        for (req, want) in &cases {
            assert_eq!(is_eligible(&c, req), *want, "{req:?}");
        }
        c.allow_shell = true;
        assert!(is_eligible(&c, &shell));
        c.drained = true;
        assert!(!is_eligible(&c, &Requirements::default()));
    }

    #[test]
    fn ineligible_or_unpinned_agents_are_never_chosen() {
        let (eu, us) = (labels(&[("zone", "eu")]), labels(&[("zone", "us")]));
        let drained = Candidate {
            drained: true,
            labels: eu.clone(),
            ..cand("drained", 100)
        };
        let wrong_zone = Candidate {
            labels: us,
            ..cand("wrong-zone", 100)
        };
        let no_shell = Candidate {
            allow_shell: false,
            labels: eu.clone(),
            ..cand("no-shell", 100)
        };
        let ok = Candidate {
            labels: eu,
            ..cand("ok", 1)
        };
        let req = Requirements {
            needs_shell: true,
            ..req_labels(&[("zone", "eu")])
        };

        for strategy in STRATEGIES {
            let mut cands = [&drained, &wrong_zone, &no_shell, &ok].map(Candidate::clone);
            let mut placer = Placer::new();
            for _ in 0..50 {
                let chosen = placer.place(strategy, &mut cands, &req);
                assert_eq!(chosen, Some(3), "{strategy:?}");
            }
            assert_eq!(cands[3].assigned, 50);
            assert!(cands[..3].iter().all(|c| c.assigned == 0));
            // A pin beats everyone's weight and load; a pin to a missing or drained agent fails.
            for (pin, want) in [("wrong-zone", Some(1)), ("gone", None), ("drained", None)] {
                assert_eq!(placer.place(strategy, &mut cands, &req_pinned(pin)), want);
            }
        }
    }

    #[test]
    fn no_eligible_candidate_gives_none_and_changes_nothing() {
        let any = Requirements::default();
        for strategy in STRATEGIES {
            let mut placer = Placer::new();
            assert_eq!(placer.place(strategy, &mut [], &any), None);
            let mut cands = [cand("a", 1), cand("b", 2)].map(|c| Candidate { drained: true, ..c });
            let before = cands.clone();
            assert_eq!(placer.place(strategy, &mut cands, &any), None);
            assert_eq!(cands, before);
        }
    }

    #[test]
    fn forget_except_drops_departed_agents_only() {
        let (mut placer, any) = (Placer::new(), Requirements::default());
        let mut cands = [cand("a", 3), cand("b", 1)];
        for _ in 0..3 {
            placer.place(Strategy::WeightedRoundRobin, &mut cands, &any);
        }
        assert_eq!(placer.wrr.len(), 2);
        placer.forget_except(&HashSet::from(["a".into()]));
        assert_eq!(placer.wrr.len(), 1);
    }

    #[test]
    fn hundred_thousand_jobs_over_ten_agents_all_placed_by_weight() {
        // How long this takes is measured by `crony-bench placement`, not asserted here.
        let any = Requirements::default();
        for strategy in STRATEGIES {
            let mut cands: Vec<_> = (1..=10).map(|w| cand(&format!("agent-{w}"), w)).collect();
            let mut placer = Placer::new();
            let placed = (0..110_000)
                .filter(|_| placer.place(strategy, &mut cands, &any).is_some())
                .count();
            assert_eq!(placed, 110_000);
            // Weights 1..=10 sum to 55: 110,000 jobs are 2,000 per unit of weight.
            for c in &cands {
                assert!(
                    c.assigned.abs_diff(2_000 * u64::from(c.weight)) <= 1,
                    "{strategy:?}: {c:?}"
                );
            }
        }
    }

    /// A small alphabet so that label matches and mismatches both happen often.
    fn arb_labels() -> impl Gen<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map(
            prop::sample::select(vec!["zone", "gpu", "os"]).prop_map(str::to_owned),
            prop::sample::select(vec!["x", "y"]).prop_map(str::to_owned),
            0..=3,
        )
    }

    fn arb_candidates() -> impl Gen<Value = Vec<Candidate>> {
        let drained = prop::bool::weighted(0.3);
        let spec = (1u32..=10, arb_labels(), any::<bool>(), drained, 0u64..20);
        proptest::collection::vec(spec, 0..=8).prop_map(|specs| {
            let built = specs.into_iter().enumerate().map(|(i, spec)| {
                let (weight, labels, allow_shell, drained, assigned) = spec;
                let id = format!("agent-{i}").into();
                Candidate {
                    id,
                    weight,
                    labels,
                    allow_shell,
                    drained,
                    assigned,
                }
            });
            built.collect()
        })
    }

    fn arb_requirements() -> impl Gen<Value = Requirements> {
        // Pins agent-0..agent-9, so some pins name an agent that is not in the snapshot.
        let pinned = proptest::option::weighted(0.3, 0usize..10);
        (arb_labels(), pinned, any::<bool>()).prop_map(|(labels, pinned, needs_shell)| {
            let pinned = pinned.map(|i| format!("agent-{i}").into());
            Requirements {
                labels,
                pinned,
                needs_shell,
            }
        })
    }

    proptest! {
        #[test]
        fn placement_never_picks_ineligible(
            cands in arb_candidates(),
            reqs in proptest::collection::vec(arb_requirements(), 1..20),
        ) {
            for strategy in STRATEGIES {
                let mut cands = cands.clone();
                let mut placer = Placer::new();
                for req in &reqs {
                    let any_eligible = cands.iter().any(|c| is_eligible(c, req));
                    let pure = fewest::pick(&cands, req);
                    prop_assert_eq!(pure.is_some(), any_eligible);
                    if let Some(i) = pure {
                        prop_assert!(is_eligible(&cands[i], req));
                    }
                    match placer.place(strategy, &mut cands, req) {
                        Some(i) => prop_assert!(is_eligible(&cands[i], req)),
                        None => prop_assert!(!any_eligible),
                    }
                }
            }
        }
    }
}
