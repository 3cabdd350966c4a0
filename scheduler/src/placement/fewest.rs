//! Fewest-jobs placement: the eligible agent with the least load relative to its weight.
//!
//! Stateless on purpose: the load lives in `Candidate::assigned`, which the caller refreshes
//! from the store, so a restarted scheduler picks up exactly where the old one left off.

use std::cmp::Ordering;

use super::{Candidate, Requirements, is_eligible};

/// Picks the eligible candidate with the lowest `assigned / weight` (index into `candidates`),
/// or `None` when none is eligible. Ties go to the higher weight (it has more headroom per
/// extra job), then to the lowest index.
pub fn pick(candidates: &[Candidate], req: &Requirements) -> Option<usize> {
    let mut best: Option<(usize, &Candidate)> = None;
    for (i, c) in candidates.iter().enumerate() {
        if !is_eligible(c, req) {
            continue;
        }
        if best.is_none_or(|(_, b)| better(c, b)) {
            best = Some((i, c));
        }
    }
    best.map(|(i, _)| i)
}

/// Whether `a` should be preferred over `b` (strictly; equal candidates keep the earlier one).
fn better(a: &Candidate, b: &Candidate) -> bool {
    let (wa, wb) = (a.effective_weight(), b.effective_weight());
    // a.assigned / wa < b.assigned / wb without division; u64 * u32 always fits in u128.
    let load_a = u128::from(a.assigned) * u128::from(wb);
    let load_b = u128::from(b.assigned) * u128::from(wa);
    match load_a.cmp(&load_b) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => wa > wb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::cand;
    use crate::placement::{Placer, Strategy};
    use proptest::prelude::*;

    fn place_n(cands: &mut [Candidate], n: usize) {
        let mut placer = Placer::new();
        for _ in 0..n {
            placer
                .place(Strategy::FewestJobs, cands, &Requirements::default())
                .expect("all eligible");
        }
    }

    #[test]
    fn fills_up_the_idle_agents_first() {
        let mut cands = vec![cand("a", 1), cand("b", 1), cand("c", 1)];
        cands[0].assigned = 10;
        place_n(&mut cands, 20);
        let counts: Vec<u64> = cands.iter().map(|c| c.assigned).collect();
        assert_eq!(counts, [10, 10, 10]);
    }

    #[test]
    fn load_is_relative_to_weight() {
        let mut cands = vec![cand("a", 1), cand("b", 3)];
        place_n(&mut cands, 40);
        let counts: Vec<u64> = cands.iter().map(|c| c.assigned).collect();
        assert_eq!(counts, [10, 30]);
    }

    #[test]
    fn ties_prefer_higher_weight_then_lowest_index() {
        let cands = vec![cand("a", 1), cand("b", 2), cand("c", 2)];
        assert_eq!(pick(&cands, &Requirements::default()), Some(1));
        let equal = vec![cand("a", 2), cand("b", 2)];
        assert_eq!(pick(&equal, &Requirements::default()), Some(0));
    }

    #[test]
    fn huge_loads_do_not_overflow() {
        let mut a = cand("a", u32::MAX);
        a.assigned = u64::MAX;
        let mut b = cand("b", 1);
        b.assigned = u64::MAX - 1;
        assert_eq!(pick(&[a, b], &Requirements::default()), Some(0));
    }

    #[test]
    fn no_eligible_gives_none() {
        let mut cands = vec![cand("a", 1)];
        cands[0].drained = true;
        assert_eq!(pick(&cands, &Requirements::default()), None);
        assert_eq!(pick(&[], &Requirements::default()), None);
    }

    proptest! {
        #[test]
        fn fewest_keeps_equal_weights_within_one(agents in 1usize..=8, jobs in 0usize..500) {
            let mut cands: Vec<Candidate> =
                (0..agents).map(|i| cand(&format!("agent-{i}"), 1)).collect();
            place_n(&mut cands, jobs);
            let counts: Vec<u64> = cands.iter().map(|c| c.assigned).collect();
            let max = counts.iter().max().unwrap_or(&0);
            let min = counts.iter().min().unwrap_or(&0);
            prop_assert!(max - min <= 1, "counts {:?}", counts);
        }

        #[test]
        fn fewest_keeps_weighted_spread_bounded(
            weights in proptest::collection::vec(1u32..=10, 1..=8),
            jobs in 0usize..500,
        ) {
            let mut cands: Vec<Candidate> = weights
                .iter()
                .enumerate()
                .map(|(i, w)| cand(&format!("agent-{i}"), *w))
                .collect();
            let mut placer = Placer::new();
            for _ in 0..jobs {
                placer.place(Strategy::FewestJobs, &mut cands, &Requirements::default());
                // Greedy on assigned/weight: no agent is ever more than one of its own jobs
                // ahead of any other, i.e. (a_i - 1) / w_i <= a_j / w_j.
                for a in &cands {
                    for b in &cands {
                        if a.assigned > 0 {
                            prop_assert!(
                                u128::from(a.assigned - 1) * u128::from(b.weight)
                                    <= u128::from(b.assigned) * u128::from(a.weight),
                                "{} ahead of {}", a.id, b.id
                            );
                        }
                    }
                }
            }
            prop_assert_eq!(cands.iter().map(|c| c.assigned).sum::<u64>(), jobs as u64);
        }
    }
}
