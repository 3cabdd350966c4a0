//! TEMPORARY until the executor branch lands.
use std::time::Duration;

use crony_proto::v1::RetryPolicy;

pub fn attempts_allowed(policy: &RetryPolicy) -> u32 {
    policy.max_retries + 1
}

pub fn backoff_delay(
    policy: &RetryPolicy,
    _retry_number: u32,
    _rng: &mut impl rand::Rng,
) -> Duration {
    Duration::from_secs(u64::from(policy.initial_secs))
}
