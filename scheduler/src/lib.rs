//! The Crony scheduler: watches the agent registry in etcd, records agents in MySQL, places
//! jobs while it leads, ingests agents' execution reports (gRPC), records and delivers alerts
//! (`alert/`) and serves the HTTP API.
//!
//! Everything lives here rather than in `main.rs` so tests can start schedulers in-process.

pub mod alert;
pub mod announce;
pub mod api;
mod async_settled;
pub mod audit;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod election;
pub mod error;
pub mod https;
pub mod ingest;
mod job_names;
pub mod leader;
pub mod lost;
pub mod metrics;
pub mod migrate;
mod owed_retries;
pub mod placement;
pub mod registry;
pub mod startup;
pub mod store;
pub mod sweep;
pub mod traced;

pub use config::SchedulerConfig;
pub use startup::{Scheduler, StartupError};

/// Entry point of the `crony-scheduler` binary.
pub fn main_entry() -> std::process::ExitCode {
    match run_from_env() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line naming what is wrong, not a backtrace: operators read this first.
            eprintln!("crony-scheduler: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_from_env() -> anyhow::Result<()> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "migrate") {
        args.remove(1);
        return migrate::run(args);
    }
    let config = SchedulerConfig::from_env_and_args(args)?;
    crony_common::telemetry::init(config.log_format);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        crony_common::shutdown::cancel_on_signal(shutdown.clone());
        let scheduler = Scheduler::start(config, shutdown).await?;
        scheduler.wait().await;
        Ok(())
    })
}
