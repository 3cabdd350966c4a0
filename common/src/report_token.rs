//! Per-execution report tokens for async results (design §5 `POST /executions/{id}/result`).
//!
//! A token is HMAC-SHA256 over the execution id, keyed by the cluster token. Agents mint it
//! when they call a target and any scheduler can check it without a lookup, so a result that
//! arrives before the agent's own report of the execution is still verified, and a token
//! minted for one execution is useless for any other.

use hmac::{Hmac, Mac};
use sha2::Sha256;

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
    /// Derived from `CRONY_CLUSTER_TOKEN`. Without one every cluster shares the same key, so
    /// tokens only prove the caller saw the execution's headers: start-up warns about it.
    pub fn from_cluster_token(token: Option<&str>) -> Self {
        let mut key = b"crony-report-token/v1:".to_vec();
        key.extend_from_slice(token.unwrap_or_default().as_bytes());
        Self(key)
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

    #[test]
    fn a_token_opens_only_its_own_execution() {
        let key = ReportKey::from_cluster_token(Some("secret"));
        let token = key.token_for("exec-1");
        assert!(key.verify("exec-1", &token));
        assert!(!key.verify("exec-2", &token));
        assert!(!key.verify("exec-1", "not-hex"));
        assert!(!ReportKey::from_cluster_token(Some("other")).verify("exec-1", &token));
    }
}
