//! Retry policy arithmetic: how many attempts a job gets and how long to wait before each retry.

use std::time::Duration;

use crony_proto::v1::{Backoff, RetryPolicy};
use rand::Rng;

/// Ceiling for an exponential backoff whose `max_secs` is 0 ("no cap"): without it, a job with
/// many retries would wait for years (or overflow) after a few dozen doublings.
pub const UNCAPPED_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// Attempts a job gets in total: the first one plus `max_retries`.
pub fn attempts_allowed(policy: &RetryPolicy) -> u32 {
    policy.max_retries.saturating_add(1)
}

/// The wait before retry number `retry_number` (1 = the first retry, i.e. the second attempt).
///
/// - fixed (and unspecified or unknown, the conservative reading): always `initial_secs`;
/// - exponential: `initial_secs * 2^(n-1)`, capped at `max_secs` (or [`UNCAPPED_MAX`] when 0),
///   with **equal jitter**: a uniform pick in `[ceiling / 2, ceiling]`. Jitter spreads retries
///   of many jobs that failed together (same dependency down); equal rather than full jitter
///   because full jitter can retry almost at once, which defeats the point of a backoff the
///   user configured. The result never exceeds the cap.
pub fn backoff_delay(policy: &RetryPolicy, retry_number: u32, rng: &mut impl Rng) -> Duration {
    let initial_ms = u64::from(policy.initial_secs) * 1000;
    match Backoff::try_from(policy.backoff) {
        Ok(Backoff::Exponential) => {
            let cap_ms = if policy.max_secs == 0 {
                UNCAPPED_MAX.as_millis() as u64
            } else {
                u64::from(policy.max_secs) * 1000
            };
            let doublings = retry_number.saturating_sub(1).min(63);
            let ceiling_ms = initial_ms.saturating_mul(1u64 << doublings).min(cap_ms);
            let floor_ms = ceiling_ms / 2;
            Duration::from_millis(rng.gen_range(floor_ms..=ceiling_ms))
        }
        Ok(Backoff::Fixed | Backoff::Unspecified) | Err(_) => Duration::from_millis(initial_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn policy(backoff: Backoff, initial_secs: u32, max_secs: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            backoff: backoff as i32,
            initial_secs,
            max_secs,
        }
    }

    #[test]
    fn attempts_are_retries_plus_one() {
        assert_eq!(attempts_allowed(&policy(Backoff::Fixed, 1, 0)), 6);
        let none = RetryPolicy::default();
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
        let unspecified = policy(Backoff::Unspecified, 4, 0);
        assert_eq!(
            backoff_delay(&unspecified, 9, &mut rng),
            Duration::from_secs(4)
        );
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
