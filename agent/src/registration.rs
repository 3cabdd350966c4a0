//! Registration in etcd: the agent's key under a lease, kept alive, made again after the lease
//! is lost, revoked on graceful shutdown ([`crony_common::leased_key`]); the fence of
//! [`crony_common::lease`] follows that lease and gates every fire.

pub use crony_common::lease::{Fence, fence_margin};
pub use crony_common::leased_key::LeasedKey as Registrar;
