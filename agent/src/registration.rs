//! Registration in etcd: the agent's key under a lease, kept alive, made again after the lease
//! is lost, revoked on graceful shutdown ([`crony_common::leased_key`]); the fence of
//! [`crony_common::lease`] follows that lease and gates every fire.

use crony_common::leased_key::ValueFn;
use crony_common::registry::AgentRecord;

pub use crony_common::lease::{Fence, fence_margin};
pub use crony_common::leased_key::LeasedKey as Registrar;

/// The agent's record as put under each lease: the same record, naming that lease, so the
/// leader sees every registration as new (the jobs are un-armed until it syncs them again).
pub fn record_value(record: AgentRecord) -> ValueFn {
    Box::new(move |lease_id| {
        let record = AgentRecord {
            lease_id,
            ..record.clone()
        };
        serde_json::to_string(&record).expect("agent record serialises")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_registration_publishes_its_own_lease() {
        let record = AgentRecord {
            id: "a".into(),
            grpc_addr: "127.0.0.1:1".into(),
            hostname: "h".into(),
            weight: 1,
            labels: Default::default(),
            version: "0".into(),
            allow_shell: false,
            started_at: "2026-01-01T00:00:00Z".into(),
            tls: false,
            lease_id: 0,
        };
        let value = record_value(record.clone());
        let (first, second) = (value(7), value(8));
        assert_ne!(first, second);
        let parsed: AgentRecord = serde_json::from_str(&second).unwrap();
        assert_eq!(parsed.lease_id, 8);
        assert_eq!(
            parsed,
            AgentRecord {
                lease_id: 8,
                ..record
            }
        );
    }
}
