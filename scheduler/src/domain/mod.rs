//! Domain types: parsed and validated at the edge, no I/O.

pub mod agent;
pub mod execution;
pub mod ids;
pub mod job;
mod job_allow;
pub mod job_diff;
mod job_secrets;
mod job_validate;
mod retry_delay;
pub mod schedule;
