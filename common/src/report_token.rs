//! Per-execution report tokens for async results (design §5 `POST /executions/{id}/result`).
//!
//! A token is HMAC-SHA256 over the execution id, under a key derived from the cluster token
//! (never from a constant: a cluster without a token issues no report tokens). Agents mint it
//! when they call a target and any scheduler can check it without a lookup, so a result that
//! arrives before the agent's own report of the execution is still verified, and a token
//! minted for one execution is useless for any other.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cluster_auth::ClusterToken;

type HmacSha256 = Hmac<Sha256>;

/// Key material shared by the agents and schedulers of one cluster.
#[derive(Clone)]
pub struct ReportKey(Vec<u8>);

impl std::fmt::Debug for ReportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportKey(..)")
    }
}

impl ReportKey {
    /// Derived from the cluster token as HMAC(token, label): the label keeps this key apart
    /// from any other use of the same secret, and the token itself never keys a report token.
    pub fn derive(token: &ClusterToken) -> Self {
        let mut mac = HmacSha256::new_from_slice(token.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"crony/v1/report-token-key");
        Self(mac.finalize().into_bytes().to_vec())
    }

    pub fn token_for(&self, execution_id: &str) -> String {
        hex::encode(self.mac(execution_id).finalize().into_bytes())
    }

    /// Constant-time check of `token` against `execution_id`.
    pub fn verify(&self, execution_id: &str, token: &str) -> bool {
        match hex::decode(token.trim()) {
            Ok(bytes) => self.mac(execution_id).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }

    fn mac(&self, execution_id: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(execution_id.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> ReportKey {
        ReportKey::derive(&ClusterToken::parse(&secret.repeat(8)).unwrap())
    }

    #[test]
    fn a_token_opens_only_its_own_execution() {
        let key = key("secret");
        let token = key.token_for("exec-1");
        assert!(key.verify("exec-1", &token));
        assert!(!key.verify("exec-2", &token));
        assert!(!key.verify("exec-1", "not-hex"));
        assert!(!self::key("other").verify("exec-1", &token));
    }

    #[test]
    fn the_key_is_not_the_cluster_token_itself() {
        let secret = "secret".repeat(8);
        let plain = ReportKey(secret.as_bytes().to_vec());
        assert_ne!(plain.token_for("exec-1"), key("secret").token_for("exec-1"));
    }
}
