//! The Crony agent: registers itself in etcd under a lease, serves `AgentService` to the leader
//! scheduler, fires the jobs it holds on its own clock and reports every execution.
//!
//! Everything lives here rather than in `main.rs` so tests can start agents in-process.

pub mod catch_up;
pub mod clock;
pub mod config;
pub mod executor;
pub mod held_file;
pub mod holdings;
pub mod identity;
pub mod job;
pub mod metrics;
pub mod poison;
pub mod registration;
pub mod reporter;
pub mod retry;
pub mod runner;
pub mod schedulers;
pub mod service;
pub mod spool;
pub mod staging;
pub mod startup;
pub mod status;

pub use config::AgentConfig;
pub use startup::{Agent, AgentError};

/// Entry point of the `crony-agent` binary: configuration from file, environment and flags,
/// then run until SIGTERM or ctrl-c.
pub fn main_entry() -> std::process::ExitCode {
    match run_from_env() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line naming what is wrong, not a backtrace: operators read this first.
            eprintln!("crony-agent: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_from_env() -> anyhow::Result<()> {
    let config = AgentConfig::from_env_and_args(std::env::args_os())?;
    crony_common::telemetry::init(config.log_format);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        crony_common::shutdown::cancel_on_signal(shutdown.clone());
        let agent = Agent::start(config, shutdown).await?;
        agent.wait().await;
        Ok(())
    })
}
