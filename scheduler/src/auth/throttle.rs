//! Slows down password guessing: after a few failed logins for one user name (or from one
//! address) every further attempt must wait, twice as long each time, up to a cap. Kept in
//! memory per scheduler: a guesser spreading attempts over several schedulers gets a few more
//! tries, which the doubling delay still makes useless.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed for one user name before attempts are delayed.
const FREE_FAILURES: u32 = 5;
/// Failures allowed from one address (`ip:` keys), where many people may sit behind one NAT.
const FREE_FAILURES_PER_ADDRESS: u32 = 20;

fn free_failures(key: &str) -> u32 {
    if key.starts_with("ip:") {
        FREE_FAILURES_PER_ADDRESS
    } else {
        FREE_FAILURES
    }
}
const MAX_DELAY: Duration = Duration::from_secs(300);
/// A key with no failure for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(900);

#[derive(Debug, Default)]
pub struct LoginThrottle {
    keys: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

impl LoginThrottle {
    /// `Err(wait)` while any of `keys` must still wait.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let map = self.keys.lock().expect("throttle lock");
        let wait = keys
            .iter()
            .filter_map(|k| map.get(k))
            .filter_map(|f| f.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.keys.lock().expect("throttle lock");
        map.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        for key in keys {
            let entry = map.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: None,
            });
            entry.count += 1;
            entry.last = now;
            let free = free_failures(key);
            if entry.count >= free {
                let doublings = (entry.count - free).min(16);
                let delay = (Duration::from_secs(1) * 2u32.pow(doublings)).min(MAX_DELAY);
                entry.blocked_until = Some(now + delay);
            }
        }
    }

    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.keys.lock().expect("throttle lock");
        for key in keys {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_the_free_failures_and_success_clears_them() {
        let t = LoginThrottle::default();
        let keys = vec!["user:alice".to_owned()];
        let start = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed(&keys, start);
            assert!(t.check(&keys, start).is_ok());
        }
        t.failed(&keys, start);
        assert_eq!(t.check(&keys, start), Err(Duration::from_secs(1)));
        assert!(t.check(&keys, start + Duration::from_secs(1)).is_ok());
        t.failed(&keys, start + Duration::from_secs(1));
        assert_eq!(
            t.check(&keys, start + Duration::from_secs(1)),
            Err(Duration::from_secs(2))
        );
        // Another user is not affected.
        assert!(t.check(&["user:bob".to_owned()], start).is_ok());
        t.succeeded(&keys);
        assert!(t.check(&keys, start + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn the_delay_is_capped() {
        let t = LoginThrottle::default();
        let keys = vec!["ip:127.0.0.1".to_owned()];
        let now = Instant::now();
        for _ in 0..40 {
            t.failed(&keys, now);
        }
        assert_eq!(t.check(&keys, now), Err(MAX_DELAY));
    }
}
