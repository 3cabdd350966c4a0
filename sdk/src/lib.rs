//! Rust SDK for services that Crony calls (callbacks, async result reports, job management).
//!
//! The callback and report helpers arrive with job execution; for now the SDK re-exports the
//! wire types a service implements (`crony_sdk::proto::v1::job_callback_server::JobCallback`).

pub use crony_proto as proto;
