//! How long a retry the scheduler hands on (after an async `failed` or `timed_out`) waits:
//! the job's backoff, without the agent's jitter so that any leader computes the same due time
//! from the row (the agent jitters its own in-run retries; these are one per execution).

use std::time::Duration;

use super::job::{Backoff, RetryPolicy};

impl RetryPolicy {
    /// The wait before retry number `retry` (1 = the first retry): `initial_secs` for a fixed
    /// backoff; for exponential, `initial_secs` doubled per earlier retry, capped at `max_secs`.
    pub fn delay_before(&self, retry: u32) -> Duration {
        let initial = u64::from(self.initial_secs);
        let secs = match self.backoff {
            Backoff::Fixed => initial,
            Backoff::Exponential => {
                let doublings = retry.saturating_sub(1).min(62);
                initial
                    .saturating_mul(1u64 << doublings)
                    .min(u64::from(self.max_secs).max(initial))
            }
        };
        Duration::from_secs(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: Backoff) -> RetryPolicy {
        RetryPolicy {
            max_retries: 10,
            backoff,
            initial_secs: 5,
            max_secs: 30,
        }
    }

    #[test]
    fn fixed_waits_the_same_every_time() {
        let p = policy(Backoff::Fixed);
        assert_eq!(p.delay_before(1), Duration::from_secs(5));
        assert_eq!(p.delay_before(7), Duration::from_secs(5));
    }

    #[test]
    fn exponential_doubles_up_to_its_cap() {
        let p = policy(Backoff::Exponential);
        let secs: Vec<u64> = (1..=5).map(|n| p.delay_before(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 30, 30]);
        assert_eq!(
            p.delay_before(u32::MAX),
            Duration::from_secs(30),
            "no overflow"
        );
    }
}
