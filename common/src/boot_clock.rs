//! A clock that keeps counting while the machine is suspended (Linux `CLOCK_BOOTTIME`).
//! `Instant` is `CLOCK_MONOTONIC`, which stops during a VM pause or a laptop's sleep; a lease
//! fence measured on it alone would still say "alive" after resuming, although etcd, on
//! another machine, kept counting and expired the lease. One `libc` call (as `executor/shell.rs`
//! does for `setsid`): smaller than taking `rustix`'s time feature for it.

use std::time::Duration;

/// Time since boot, suspend included (elsewhere than Linux: the monotonic clock).
#[allow(unsafe_code)]
pub fn now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[cfg(target_os = "linux")]
    let clock = libc::CLOCK_BOOTTIME;
    #[cfg(not(target_os = "linux"))]
    let clock = libc::CLOCK_MONOTONIC;
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn it_moves_forward_with_real_time() {
        let a = super::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = super::now();
        assert!(a > std::time::Duration::ZERO);
        assert!(
            b - a >= std::time::Duration::from_millis(20),
            "{a:?} → {b:?}"
        );
    }
}
