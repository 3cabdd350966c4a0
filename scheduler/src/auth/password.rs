//! Password hashing with argon2id (PHC strings), and the rules a new password must meet.
//!
//! Each hash or verification costs tens of milliseconds of CPU and 19 MiB, so it runs on
//! tokio's blocking pool, never on an async worker (which would stall every request that
//! worker serves), and at most [`CONCURRENT`] at once: a login flood must neither occupy the
//! whole blocking pool (file reads and DNS lookups share it) nor every core.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

/// argon2 computations running at once, per process.
pub const CONCURRENT: usize = 2;
static PERMITS: Semaphore = Semaphore::const_new(CONCURRENT);

/// Long enough to resist guessing once throttled; the cap keeps hashing cheap for attackers'
/// megabyte "passwords".
pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 256;

/// Why a new password is refused, in words for the person choosing it.
pub fn check_new(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(format!("must be at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} bytes"));
    }
    Ok(())
}

/// The PHC string of `password` with a fresh salt.
pub async fn hash(password: &str) -> String {
    let password = password.to_owned();
    off_workers(&PERMITS, move || hash_now(&password)).await
}

/// Whether `password` matches the stored PHC string; an unreadable hash matches nothing.
pub async fn verify(password: &str, phc: &str) -> bool {
    let (password, phc) = (password.to_owned(), phc.to_owned());
    off_workers(&PERMITS, move || verify_now(&password, &phc)).await
}

/// Spends the time of one verification, so an unknown user name answers as slowly as a wrong
/// password (no user enumeration by timing).
pub async fn verify_nobody(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let password = password.to_owned();
    off_workers(&PERMITS, move || {
        let phc = DUMMY.get_or_init(|| hash_now("no user has this password"));
        verify_now(&password, phc)
    })
    .await;
}

/// Runs `work` on the blocking pool once a permit is free. The permit moves into the blocking
/// task, so a request that gives up waiting for the answer still frees it only when the work
/// is done: the bound holds for the CPU, not only for the waiting requests.
async fn off_workers<T: Send + 'static>(
    permits: &'static Semaphore,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let permit = permits
        .acquire()
        .await
        .expect("the argon2 semaphore is never closed");
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    });
    match task.await {
        Ok(value) => value,
        // As if it had run here: a panic goes on up, as it would have without the pool.
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("argon2 task did not finish: {e}"),
        },
    }
}

fn hash_now(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

fn verify_now(password: &str, phc: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery").await;
        let b = hash("correct horse battery").await;
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &a).await);
        assert!(!verify("correct horse battery!", &a).await);
        assert!(!verify("anything", "not a phc string").await);
        verify_nobody("anything").await;
    }

    /// On a single-threaded runtime, other tasks keep running while hashes are computed (they
    /// would not if argon2 ran on the runtime's thread), and never more than `CONCURRENT`
    /// computations run at once.
    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_off_the_async_thread_and_is_bounded() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Its own permits: other tests hash at the same time.
        static TEST_PERMITS: Semaphore = Semaphore::const_new(CONCURRENT);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(off_workers(&TEST_PERMITS, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        let ticks = tokio::spawn(async {
            let mut n = 0;
            for _ in 0..10 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                n += 1;
            }
            n
        });
        assert_eq!(ticks.await.unwrap(), 10);
        assert!(
            running.load(Ordering::SeqCst) > 0,
            "the work is still going on"
        );
        for job in jobs {
            job.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), CONCURRENT);
    }

    #[test]
    fn new_passwords_have_a_length_range() {
        assert!(check_new("short").unwrap_err().contains("at least 10"));
        assert!(check_new(&"x".repeat(300)).unwrap_err().contains("at most"));
        assert!(check_new("ten chars!").is_ok());
    }
}
