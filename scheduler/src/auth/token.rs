//! Random secrets: API tokens, session ids, CSRF tokens and the setup token. Stored only as
//! SHA-256 hashes: they are 192 random bits, so there is nothing to brute-force and no salt
//! or slow hash is needed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// What every API token starts with, so scanners and people recognise one (and so the API
/// tells an API token from an execution's report token).
pub const API_TOKEN_PREFIX: &str = "crony_";

/// 24 random bytes, URL-safe base64 (32 characters).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_secret())
}

/// Hex SHA-256, the stored form of a token or session id.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The first characters of a token, shown in lists so people can tell tokens apart.
pub fn display_prefix(token: &str) -> String {
    token.chars().take(API_TOKEN_PREFIX.len() + 4).collect()
}

/// Compares secrets in constant time.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = new_api_token();
        let b = new_api_token();
        assert_ne!(a, b);
        assert!(a.starts_with(API_TOKEN_PREFIX));
        assert_eq!(a.len(), API_TOKEN_PREFIX.len() + 32);
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(display_prefix(&a).len(), 10);
        assert!(same(&a, &a.clone()) && !same(&a, &b));
    }
}
