//! Smooth weighted round-robin (the nginx algorithm) over eligible candidates.
//!
//! Plain weighted round-robin sends a weight-5 agent five jobs in a row; the smooth variant
//! interleaves them (weights 5,1,1 give `a a b a c a a`) while keeping the exact shares over each
//! period of `sum(weights)` picks. Each agent's credit is `picks_due - picks_given` scaled by the
//! total weight, so it stays bounded and no agent can build up a burst.

use std::collections::HashMap;

use super::{Candidate, Requirements, is_eligible};
use crate::domain::ids::AgentId;

/// Current weights (credit) per agent id, kept across picks.
#[derive(Debug, Default)]
pub struct SmoothWrr {
    current: HashMap<AgentId, i64>,
}

impl SmoothWrr {
    pub fn new() -> Self {
        Self::default()
    }

    /// Picks one eligible candidate (index into `candidates`), or `None` when none is eligible.
    ///
    /// Ineligible candidates keep their credit untouched, like nginx's down peers: a briefly
    /// excluded agent resumes where it was rather than being reset.
    pub fn pick(&mut self, candidates: &[Candidate], req: &Requirements) -> Option<usize> {
        let mut total: i64 = 0;
        let mut best: Option<(usize, i64)> = None;
        for (i, c) in candidates.iter().enumerate() {
            if !is_eligible(c, req) {
                continue;
            }
            let weight = i64::from(c.effective_weight());
            total += weight;
            // Look up by &str first: cloning the id only on an agent's first pick keeps the
            // steady state allocation-free.
            let credit = match self.current.get_mut(c.id.as_str()) {
                Some(cur) => {
                    *cur += weight;
                    *cur
                }
                None => {
                    self.current.insert(c.id.clone(), weight);
                    weight
                }
            };
            // Strictly greater, so ties go to the lowest index.
            if best.is_none_or(|(_, b)| credit > b) {
                best = Some((i, credit));
            }
        }
        let (chosen, _) = best?;
        if let Some(cur) = self.current.get_mut(candidates[chosen].id.as_str()) {
            *cur -= total;
        }
        Some(chosen)
    }

    /// Keeps only the agents for which `keep(id)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&AgentId) -> bool) {
        self.current.retain(|id, _| keep(id));
    }

    /// Number of agents with remembered credit.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::cand;
    use crate::placement::{Placer, Strategy};
    use proptest::prelude::*;

    fn sequence(weights: &[u32], picks: usize) -> Vec<usize> {
        let cands: Vec<Candidate> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| cand(&format!("agent-{i}"), *w))
            .collect();
        let mut wrr = SmoothWrr::new();
        (0..picks)
            .map(|_| {
                wrr.pick(&cands, &Requirements::default())
                    .expect("all eligible")
            })
            .collect()
    }

    #[test]
    fn shares_follow_weights_exactly() {
        let mut cands = vec![cand("a", 1), cand("b", 2), cand("c", 3)];
        let mut placer = Placer::new();
        for _ in 0..300 {
            placer.place(
                Strategy::WeightedRoundRobin,
                &mut cands,
                &Requirements::default(),
            );
        }
        let counts: Vec<u64> = cands.iter().map(|c| c.assigned).collect();
        assert_eq!(counts, [50, 100, 150]);
    }

    #[test]
    fn heavy_agent_is_interleaved_not_bursted() {
        let names: Vec<&str> = sequence(&[5, 1, 1], 7)
            .into_iter()
            .map(|i| ["a", "b", "c"][i])
            .collect();
        assert_eq!(names, ["a", "a", "b", "a", "c", "a", "a"]);
    }

    #[test]
    fn equal_weights_rotate_in_index_order() {
        assert_eq!(sequence(&[1, 1, 1], 6), [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn ineligible_agent_keeps_its_credit_and_is_skipped() {
        let mut cands = vec![cand("a", 1), cand("b", 1)];
        let mut wrr = SmoothWrr::new();
        cands[0].drained = true;
        for _ in 0..5 {
            assert_eq!(wrr.pick(&cands, &Requirements::default()), Some(1));
        }
        cands[0].drained = false;
        // Back in: the two alternate again instead of one catching up in a burst.
        assert_eq!(sequence_from(&mut wrr, &cands, 4), [0, 1, 0, 1]);
    }

    fn sequence_from(wrr: &mut SmoothWrr, cands: &[Candidate], picks: usize) -> Vec<usize> {
        (0..picks)
            .map(|_| wrr.pick(cands, &Requirements::default()).expect("eligible"))
            .collect()
    }

    #[test]
    fn zero_weight_counts_as_one() {
        assert_eq!(sequence(&[0, 1], 4), [0, 1, 0, 1]);
    }

    proptest! {
        #[test]
        fn wrr_shares_exact_and_without_bursts(
            weights in proptest::collection::vec(1u32..=10, 1..=8),
            k in 1usize..=5,
        ) {
            let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
            let n = weights.len() as u64;
            let picks = sequence(&weights, k * total as usize);
            let mut counts = vec![0u64; weights.len()];
            for (t, chosen) in picks.iter().enumerate() {
                counts[*chosen] += 1;
                let prefix = t as u64 + 1;
                for (i, w) in weights.iter().enumerate() {
                    // |count - prefix*w/W| < 1 + n, scaled by W to stay in integers.
                    let ideal = i128::from(prefix * u64::from(*w));
                    let scaled = i128::from(counts[i] * total) - ideal;
                    prop_assert!(
                        scaled.unsigned_abs() < u128::from((1 + n) * total),
                        "agent {} has {} after {} picks (weights {:?})",
                        i, counts[i], prefix, weights
                    );
                }
            }
            for (i, w) in weights.iter().enumerate() {
                prop_assert_eq!(counts[i], k as u64 * u64::from(*w));
            }
        }
    }
}
