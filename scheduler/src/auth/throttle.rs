//! Slows down password guessing: after a few failed logins for one user name from one client,
//! or many from one client for any names, every further attempt from there must wait, twice as
//! long each time, up to a cap.
//!
//! The per-user limit is kept per (user, client) pair, never per user alone: otherwise anyone
//! could lock a user out of signing in from everywhere just by failing with their name. A
//! client is an IPv4 address or an IPv6 /64 (one machine usually holds a whole /64).
//!
//! Kept in memory per scheduler, and bounded: at most `capacity` keys, the least recently
//! failed forgotten first, so a flood of names and addresses cannot grow it without end. A
//! guesser spreading attempts over several schedulers gets a few more tries, which the
//! doubling delay still makes useless.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// Failures allowed for one user name from one client before attempts are delayed.
const FREE_FAILURES_PER_USER: u32 = 5;
/// Failures allowed from one client for any names, where many people may sit behind one NAT.
const FREE_FAILURES_PER_CLIENT: u32 = 20;
const MAX_DELAY: Duration = Duration::from_secs(300);
/// A key with no failure for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Keys kept at most (a key is well under 200 bytes).
const MAX_KEYS: usize = 10_000;

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// One user name (lower-cased) from one client; `None` when the address is unknown.
    UserFrom { user: String, client: Option<IpNet> },
    /// Every name from one client.
    Client(IpNet),
}

impl ThrottleKey {
    fn free_failures(&self) -> u32 {
        match self {
            ThrottleKey::UserFrom { .. } => FREE_FAILURES_PER_USER,
            ThrottleKey::Client(_) => FREE_FAILURES_PER_CLIENT,
        }
    }
}

/// The keys of one login attempt. `user` must already be length-checked.
pub fn login_keys(user: &str, ip: Option<IpAddr>) -> Vec<ThrottleKey> {
    let client = ip.map(client_network);
    let mut keys = vec![ThrottleKey::UserFrom {
        user: user.to_lowercase(),
        client,
    }];
    keys.extend(client.map(ThrottleKey::Client));
    keys
}

/// An IPv4 address, or the /64 of an IPv6 one.
fn client_network(ip: IpAddr) -> IpNet {
    let ip = ip.to_canonical();
    let prefix = if ip.is_ipv4() { 32 } else { 64 };
    IpNet::new(ip, prefix)
        .expect("32 and 64 are valid prefix lengths")
        .trunc()
}

#[derive(Debug)]
pub struct LoginThrottle {
    keys: Mutex<HashMap<ThrottleKey, Failures>>,
    capacity: usize,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::with_capacity(MAX_KEYS)
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

impl LoginThrottle {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// `Err(wait)` while any of `keys` must still wait.
    pub fn check(&self, keys: &[ThrottleKey], now: Instant) -> Result<(), Duration> {
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

    pub fn failed(&self, keys: &[ThrottleKey], now: Instant) {
        let mut map = self.keys.lock().expect("throttle lock");
        map.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        for key in keys {
            if !map.contains_key(key) && map.len() >= self.capacity {
                evict_oldest(&mut map);
            }
            let entry = map.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: None,
            });
            entry.count += 1;
            entry.last = now;
            let free = key.free_failures();
            if entry.count >= free {
                let doublings = (entry.count - free).min(16);
                let delay = (Duration::from_secs(1) * 2u32.pow(doublings)).min(MAX_DELAY);
                entry.blocked_until = Some(now + delay);
            }
        }
    }

    /// A sign-in worked: that user's failures from that client are forgiven. The client's
    /// own count stays (it forgets with time): otherwise a guesser with an account of its own
    /// could sign in now and then to guess on at other names without ever waiting.
    pub fn succeeded(&self, keys: &[ThrottleKey]) {
        let mut map = self.keys.lock().expect("throttle lock");
        for key in keys {
            if matches!(key, ThrottleKey::UserFrom { .. }) {
                map.remove(key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.lock().expect("throttle lock").len()
    }
}

/// O(keys), only when full: failures are rare next to the argon2 verification each one costs.
fn evict_oldest(map: &mut HashMap<ThrottleKey, Failures>) {
    let oldest = map
        .iter()
        .min_by_key(|(_, f)| f.last)
        .map(|(k, _)| k.clone());
    if let Some(key) = oldest {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn delays_double_after_the_free_failures_and_success_clears_them() {
        let t = LoginThrottle::default();
        let keys = login_keys("alice", ip("192.0.2.1"));
        let start = Instant::now();
        for _ in 0..FREE_FAILURES_PER_USER - 1 {
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
        // Another user from the same client is not affected.
        assert!(t.check(&login_keys("bob", ip("192.0.2.1")), start).is_ok());
        t.succeeded(&keys);
        assert!(t.check(&keys, start + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn failures_from_one_client_do_not_lock_the_user_out_elsewhere() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let attacker = login_keys("Alice", ip("192.0.2.1"));
        for _ in 0..10 {
            t.failed(&attacker, now);
        }
        assert!(t.check(&attacker, now).is_err());
        // Names are compared as the database does, case-insensitively.
        assert!(t.check(&login_keys("alice", ip("192.0.2.1")), now).is_err());
        assert!(t.check(&login_keys("alice", ip("192.0.2.2")), now).is_ok());
        // An IPv6 client is its /64: hopping addresses inside it does not help.
        let v6 = login_keys("alice", ip("2001:db8:1:2::1"));
        for _ in 0..5 {
            t.failed(&v6, now);
        }
        assert!(
            t.check(&login_keys("alice", ip("2001:db8:1:2::ffff")), now)
                .is_err()
        );
        assert!(
            t.check(&login_keys("alice", ip("2001:db8:1:3::1")), now)
                .is_ok()
        );
    }

    #[test]
    fn a_client_failing_with_many_names_waits_and_a_success_does_not_forgive_it() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for n in 0..FREE_FAILURES_PER_CLIENT {
            t.failed(&login_keys(&format!("user{n}"), ip("192.0.2.1")), now);
        }
        let own_account = login_keys("mallory", ip("192.0.2.1"));
        assert_eq!(t.check(&own_account, now), Err(Duration::from_secs(1)));
        t.succeeded(&own_account);
        assert!(
            t.check(&login_keys("victim", ip("192.0.2.1")), now)
                .is_err()
        );
        assert!(t.check(&login_keys("victim", ip("192.0.2.9")), now).is_ok());
    }

    #[test]
    fn the_delay_is_capped() {
        let t = LoginThrottle::default();
        let keys = login_keys("alice", ip("127.0.0.1"));
        let now = Instant::now();
        for _ in 0..40 {
            t.failed(&keys, now);
        }
        assert_eq!(t.check(&keys, now), Err(MAX_DELAY));
    }

    #[test]
    fn the_number_of_keys_is_bounded_and_the_oldest_go_first() {
        let t = LoginThrottle::with_capacity(100);
        let start = Instant::now();
        let early = login_keys("early", ip("192.0.2.1"));
        for _ in 0..5 {
            t.failed(&early, start);
        }
        for n in 0..1000u32 {
            let addr = IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
            let at = start + Duration::from_millis(u64::from(n) + 1);
            t.failed(&login_keys(&format!("name{n}"), Some(addr)), at);
            assert!(t.len() <= 100);
        }
        // The flood pushed out the oldest entries; the newest are still counted.
        assert!(t.check(&early, start).is_ok());
        let last = login_keys("name999", Some(IpAddr::from([10, 0, 3, 231])));
        for _ in 0..4 {
            t.failed(&last, start + Duration::from_secs(2));
        }
        assert!(t.check(&last, start + Duration::from_secs(2)).is_err());
    }

    #[test]
    fn keys_are_forgotten_after_a_quiet_while() {
        let t = LoginThrottle::default();
        let start = Instant::now();
        t.failed(&login_keys("alice", ip("192.0.2.1")), start);
        t.failed(
            &login_keys("bob", ip("192.0.2.2")),
            start + FORGET_AFTER + Duration::from_secs(1),
        );
        assert_eq!(t.len(), 2, "bob's two keys; alice's are forgotten");
    }

    #[test]
    fn an_unknown_address_still_counts_per_user() {
        let t = LoginThrottle::default();
        let keys = login_keys("alice", None);
        assert_eq!(keys.len(), 1);
        let now = Instant::now();
        for _ in 0..5 {
            t.failed(&keys, now);
        }
        assert!(t.check(&keys, now).is_err());
    }
}
