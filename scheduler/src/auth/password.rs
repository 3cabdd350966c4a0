//! Password hashing with argon2id (PHC strings), and the rules a new password must meet.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::rngs::OsRng;

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

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

/// Whether `password` matches the stored PHC string; an unreadable hash matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
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

/// Spends the time of one verification, so an unknown user name answers as slowly as a wrong
/// password (no user enumeration by timing).
pub fn verify_nobody(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("no user has this password"));
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery");
        let b = hash("correct horse battery");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse battery!", &a));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn new_passwords_have_a_length_range() {
        assert!(check_new("short").unwrap_err().contains("at least 10"));
        assert!(check_new(&"x".repeat(300)).unwrap_err().contains("at most"));
        assert!(check_new("ten chars!").is_ok());
    }
}
