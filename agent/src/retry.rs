//! A job's retry policy and its arithmetic: how many attempts a job gets and how long to wait
//! before each retry.

use std::time::Duration;

use rand::Rng;

/// Ceiling for an exponential backoff whose `max_secs` is 0 ("no cap"): without it, a job with
/// many retries would wait for years (or overflow) after a few dozen doublings.
pub const UNCAPPED_MAX: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    Fixed,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub max_retries: u32,
    pub backoff: Backoff,
    /// The first retry's wait (and every retry's, when fixed).
    pub initial: Duration,
    /// Longest exponential wait; `None`: [`UNCAPPED_MAX`].
    pub cap: Option<Duration>,
}

/// Attempts a job gets in total: the first one plus `max_retries`.
pub fn attempts_allowed(policy: &RetryPolicy) -> u32 {
    policy.max_retries.saturating_add(1)
}

/// The wait before retry number `retry_number` (1 = the first retry, i.e. the second attempt).
///
/// - fixed: always `initial`;
/// - exponential: `initial * 2^(n-1)`, capped at `cap` (or [`UNCAPPED_MAX`] without one),
///   with **equal jitter**: a uniform pick in `[ceiling / 2, ceiling]`. Jitter spreads retries
///   of many jobs that failed together (same dependency down); equal rather than full jitter
///   because full jitter can retry almost at once, which defeats the point of a backoff the
///   user configured. The result never exceeds the cap.
pub fn backoff_delay(policy: &RetryPolicy, retry_number: u32, rng: &mut impl Rng) -> Duration {
    let initial_ms = millis(policy.initial);
    match policy.backoff {
        Backoff::Exponential => {
            let cap_ms = millis(policy.cap.unwrap_or(UNCAPPED_MAX));
            let doublings = retry_number.saturating_sub(1).min(63);
            let ceiling_ms = initial_ms.saturating_mul(1u64 << doublings).min(cap_ms);
            let floor_ms = ceiling_ms / 2;
            Duration::from_millis(rng.gen_range(floor_ms..=ceiling_ms))
        }
        Backoff::Fixed => policy.initial,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn policy(backoff: Backoff, initial_secs: u64, max_secs: u64) -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            backoff,
            initial: Duration::from_secs(initial_secs),
            cap: (max_secs != 0).then(|| Duration::from_secs(max_secs)),
        }
    }

    #[test]
    fn attempts_are_retries_plus_one() {
        assert_eq!(attempts_allowed(&policy(Backoff::Fixed, 1, 0)), 6);
        let none = RetryPolicy {
            max_retries: 0,
            ..policy(Backoff::Fixed, 1, 0)
        };
        assert_eq!(attempts_allowed(&none), 1);
        let huge = RetryPolicy {
            max_retries: u32::MAX,
            ..none
        };
        assert_eq!(attempts_allowed(&huge), u32::MAX);
    }

    #[test]
    fn fixed_is_always_initial() {
        let mut rng = StdRng::seed_from_u64(1);
        let p = policy(Backoff::Fixed, 7, 3);
        for n in 1..20 {
            assert_eq!(backoff_delay(&p, n, &mut rng), Duration::from_secs(7));
        }
    }

    #[test]
    fn exponential_grows_within_jitter_bounds() {
        let mut rng = StdRng::seed_from_u64(42);
        let p = policy(Backoff::Exponential, 2, 0);
        for n in 1..=10u32 {
            let ceiling = Duration::from_secs(2 * (1 << (n - 1)));
            for _ in 0..50 {
                let d = backoff_delay(&p, n, &mut rng);
                assert!(d >= ceiling / 2 && d <= ceiling, "retry {n}: {d:?}");
            }
        }
    }

    #[test]
    fn exponential_is_capped() {
        let mut rng = StdRng::seed_from_u64(7);
        let p = policy(Backoff::Exponential, 5, 300);
        for n in [7, 8, 20, 64, 1000, u32::MAX] {
            let d = backoff_delay(&p, n, &mut rng);
            assert!(
                d >= Duration::from_secs(150) && d <= Duration::from_secs(300),
                "{n}: {d:?}"
            );
        }
        // max_secs 0 still stops at a day rather than overflowing.
        let uncapped = policy(Backoff::Exponential, 5, 0);
        let d = backoff_delay(&uncapped, u32::MAX, &mut rng);
        assert!(d <= UNCAPPED_MAX && d >= UNCAPPED_MAX / 2, "{d:?}");
    }

    #[test]
    fn jitter_actually_varies() {
        let mut rng = StdRng::seed_from_u64(3);
        let p = policy(Backoff::Exponential, 10, 0);
        let delays: std::collections::HashSet<_> =
            (0..20).map(|_| backoff_delay(&p, 3, &mut rng)).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn zero_initial_means_no_wait() {
        let mut rng = StdRng::seed_from_u64(0);
        let p = policy(Backoff::Exponential, 0, 0);
        assert_eq!(backoff_delay(&p, 5, &mut rng), Duration::ZERO);
    }

    #[test]
    fn retry_zero_is_treated_as_first() {
        let mut rng = StdRng::seed_from_u64(0);
        let p = policy(Backoff::Exponential, 4, 0);
        let d = backoff_delay(&p, 0, &mut rng);
        assert!(d >= Duration::from_secs(2) && d <= Duration::from_secs(4));
    }
}
