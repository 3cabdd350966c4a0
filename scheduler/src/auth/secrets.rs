//! Encryption of job secrets at rest (secret header, metadata and environment values, Feishu
//! signing secrets) with AES-256-GCM under `CRONY_SECRET_KEY`, so that reading MySQL alone does
//! not reveal them. Stored form: `enc:v1:<key id>:<base64 nonce ‖ ciphertext>`; the key id (the
//! start of the key's SHA-256) tells a wrong key from damaged data.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc:v1:";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "CRONY_SECRET_KEY must be 32 bytes as base64 or 64 hex digits (e.g. `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error(
        "a secret was encrypted with key {stored} but CRONY_SECRET_KEY is {configured}: configure the key it was written with"
    )]
    WrongKey { stored: String, configured: String },
    #[error("a secret is encrypted (key {0}) but CRONY_SECRET_KEY is not set")]
    NoKey(String),
    #[error("an encrypted secret is damaged")]
    Damaged,
}

/// The configured key, or none (secrets are then stored in clear, as before a key is set).
#[derive(Clone)]
pub struct SecretBox {
    cipher: Option<(Aes256Gcm, String)>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("SecretBox")
            .field("key_id", &self.cipher.as_ref().map(|(_, id)| id))
            .finish()
    }
}

impl SecretBox {
    pub fn none() -> Self {
        Self { cipher: None }
    }

    /// Parses `CRONY_SECRET_KEY`: 32 bytes as standard base64 or as hex.
    pub fn from_key(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| SecretError::BadKey)?
        } else {
            STANDARD.decode(text).map_err(|_| SecretError::BadKey)?
        };
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let id = hex::encode(&Sha256::digest(&bytes)[..4]);
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretError::BadKey)?;
        Ok(Self {
            cipher: Some((cipher, id)),
        })
    }

    pub fn is_configured(&self) -> bool {
        self.cipher.is_some()
    }

    /// The stored form of `clear` (unchanged without a key).
    pub fn seal(&self, clear: &str) -> String {
        let Some((cipher, id)) = &self.cipher else {
            return clear.to_owned();
        };
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), clear.as_bytes())
            .expect("AES-GCM encrypts any message under 64 GiB");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        format!("{PREFIX}{id}:{}", STANDARD.encode(blob))
    }

    /// The clear text of a stored value; values stored before a key was set pass through.
    pub fn open(&self, stored: &str) -> Result<String, SecretError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (stored_id, b64) = rest.split_once(':').ok_or(SecretError::Damaged)?;
        let Some((cipher, id)) = &self.cipher else {
            return Err(SecretError::NoKey(stored_id.to_owned()));
        };
        if stored_id != id {
            return Err(SecretError::WrongKey {
                stored: stored_id.to_owned(),
                configured: id.clone(),
            });
        }
        let blob = STANDARD.decode(b64).map_err(|_| SecretError::Damaged)?;
        if blob.len() < 12 {
            return Err(SecretError::Damaged);
        }
        let (nonce, sealed) = blob.split_at(12);
        let clear = cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| SecretError::Damaged)?;
        String::from_utf8(clear).map_err(|_| SecretError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

    #[test]
    fn sealed_values_hide_the_secret_and_open_again() {
        let b = SecretBox::from_key(KEY).unwrap();
        let sealed = b.seal("Bearer s3cr3t");
        assert!(sealed.starts_with("enc:v1:"));
        assert!(!sealed.contains("s3cr3t"));
        assert_ne!(sealed, b.seal("Bearer s3cr3t"), "a fresh nonce each time");
        assert_eq!(b.open(&sealed).unwrap(), "Bearer s3cr3t");
        // Clear values from before the key pass through.
        assert_eq!(b.open("plain").unwrap(), "plain");
    }

    #[test]
    fn a_wrong_or_missing_key_is_named_not_garbage() {
        let sealed = SecretBox::from_key(KEY).unwrap().seal("x");
        let other = SecretBox::from_key(&"ab".repeat(32)).unwrap();
        assert!(matches!(
            other.open(&sealed),
            Err(SecretError::WrongKey { .. })
        ));
        assert!(matches!(
            SecretBox::none().open(&sealed),
            Err(SecretError::NoKey(_))
        ));
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push('A');
        assert!(SecretBox::from_key(KEY).unwrap().open(&damaged).is_err());
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert_eq!(
            SecretBox::from_key("short").unwrap_err(),
            SecretError::BadKey
        );
        assert!(SecretBox::from_key(&"00".repeat(32)).is_ok());
        assert_eq!(
            SecretBox::from_key(&"00".repeat(16)).unwrap_err(),
            SecretError::BadKey
        );
    }
}
