//! When each run still going here ends at the latest — its attempts' timeouts and the backoffs
//! between them, or its async deadline once handed off — so that a job moved away while it
//! runs tells its new owner how long it may still be running here (`Released.busy_until_ms`:
//! the new owner's `overlap` counts it as a run of its own until then).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::retry::{Backoff, RetryPolicy, UNCAPPED_MAX, attempts_allowed};

/// By execution id; the runner finds a job's runs in its own per-job map.
#[derive(Default)]
pub(super) struct Bounds {
    by_execution: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Bounds {
    pub(super) fn set(&self, id: &str, ends_by: DateTime<Utc>) {
        self.lock().insert(id.to_owned(), ends_by);
    }

    pub(super) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// The latest end among `ids`; `None` if none of them is going.
    pub(super) fn latest<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a String>,
    ) -> Option<DateTime<Utc>> {
        let bounds = self.lock();
        ids.into_iter()
            .filter_map(|id| bounds.get(id).copied())
            .max()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DateTime<Utc>>> {
        self.by_execution.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The longest a run can take from its first attempt: every attempt's timeout plus the longest
/// wait before each retry.
pub(super) fn worst_case(policy: &RetryPolicy, timeout: Duration) -> Duration {
    let attempts = attempts_allowed(policy);
    let mut total = timeout.saturating_mul(attempts);
    let cap = policy.cap.unwrap_or(UNCAPPED_MAX);
    for retry in 1..attempts.min(10_000) {
        let wait = match policy.backoff {
            Backoff::Fixed => policy.initial,
            Backoff::Exponential => policy
                .initial
                .saturating_mul(1u32 << (retry - 1).min(31))
                .min(cap),
        };
        total = total.saturating_add(wait);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_case_adds_every_timeout_and_every_backoff() {
        let policy = RetryPolicy {
            max_retries: 2,
            backoff: Backoff::Exponential,
            initial: Duration::from_secs(5),
            cap: Some(Duration::from_secs(8)),
        };
        // 3 × 10 s of attempts, then waits of 5 s and min(10, 8) s.
        assert_eq!(
            worst_case(&policy, Duration::from_secs(10)),
            Duration::from_secs(43)
        );
        let once = RetryPolicy {
            max_retries: 0,
            ..policy
        };
        assert_eq!(
            worst_case(&once, Duration::from_secs(10)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn the_latest_of_the_runs_bounds_them() {
        let bounds = Bounds::default();
        let t = Utc::now();
        bounds.set("1", t);
        bounds.set("2", t + chrono::Duration::seconds(5));
        bounds.set("3", t + chrono::Duration::seconds(50));
        let ids = ["1".to_owned(), "2".to_owned()];
        assert_eq!(bounds.latest(&ids), Some(t + chrono::Duration::seconds(5)));
        bounds.remove("2");
        assert_eq!(bounds.latest(&ids), Some(t));
        bounds.remove("1");
        assert_eq!(bounds.latest(&ids), None);
    }
}
