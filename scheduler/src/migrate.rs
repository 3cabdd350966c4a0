//! `crony-scheduler migrate [--dry-run]`: for operators who migrate the schema ahead of a
//! rollout (or want to see what a new version would change) instead of letting the first
//! upgraded scheduler do it at start.

use std::ffi::OsString;

use crate::config::SchedulerConfig;
use crate::store::migrations::{self, SchemaStatus};

/// Runs the subcommand; `args` are the process's arguments without `migrate`.
pub fn run(mut args: Vec<OsString>) -> anyhow::Result<()> {
    let before = args.len();
    args.retain(|a| a != "--dry-run");
    let dry_run = args.len() != before;
    let options = SchedulerConfig::database_from_env_and_args(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let status = migrations::status(&options).await?;
        print!("{}", report(&status));
        if dry_run || status.pending.is_empty() {
            return Ok(());
        }
        // Connecting creates the database when missing and applies what is pending.
        let store = crate::store::mysql::MySqlStore::connect(&options).await?;
        store.pool().close().await;
        println!("applied {} migration(s)", status.pending.len());
        Ok(())
    })
}

/// What `migrate` prints: one line per pending migration, and what the database has that this
/// binary does not know. Pure.
pub fn report(status: &SchemaStatus) -> String {
    let mut out = String::new();
    if !status.database_exists {
        out += "the database does not exist yet: it is created first\n";
    }
    out += &format!(
        "{} migration(s) applied, {} pending\n",
        status.applied.len(),
        status.pending.len()
    );
    for m in &status.pending {
        out += &format!("  pending  {} {}\n", m.version, m.description);
    }
    if !status.unknown.is_empty() {
        out += &format!(
            "the database has {} migration(s) newer than this binary ({:?}): a newer scheduler ran \
             on it; this one runs on it too (migrations only add), but do not downgrade further \
             than one version (UPGRADING.md)\n",
            status.unknown.len(),
            status.unknown
        );
    }
    out
}
