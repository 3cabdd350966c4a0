//! Pieces both Crony binaries need alike: the etcd layout contract, layered configuration
//! (file, then `CRONY_*` environment, then flags), job schedules, logging set-up and shutdown
//! signals.

pub mod boot_clock;
pub mod build_info;
pub mod callback_allow;
pub mod cluster_auth;
pub mod error_chain;
pub mod etcd;
pub mod etcd_access;
mod etcd_probe;
pub mod job_series;
pub mod lease;
pub mod leased_key;
pub mod metrics_token;
pub mod registry;
pub mod report_token;
pub mod schedule;
pub mod secret_file;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod traces;
pub mod unrun;
