//! Keeps the `job_name` label of per-job series true on every scheduler: names are read from
//! MySQL at start and every few seconds, so a job deleted or renamed through another scheduler
//! loses its old series here too, and settlements of jobs not named yet are counted.

use std::sync::Arc;
use std::time::Duration;

use crony_common::job_series::{AUTO_MAX_JOBS, PerJob};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::store::Store;

/// How often names are read again: a deleted job's series outlive it at most this long.
pub const REFRESH: Duration = Duration::from_secs(10);

/// How long one read of the names may take.
const READ_WITHIN: Duration = Duration::from_secs(3);

/// Refreshes until `shutdown`; nothing to do when per-job series are off.
pub async fn run(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    per_job: PerJob,
    shutdown: CancellationToken,
) {
    let max = match per_job {
        PerJob::Off => return,
        PerJob::On => usize::MAX,
        PerJob::Auto => AUTO_MAX_JOBS,
    };
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Bounded: a frozen MySQL must not hold one of the pool's connections for good.
        match tokio::time::timeout(READ_WITHIN, store.all_job_names(max)).await {
            Ok(Ok((count, names))) => metrics.names_loaded(names.unwrap_or_default(), count),
            Ok(Err(e)) => tracing::debug!(error = %e, "job names not read; series keep theirs"),
            Err(_) => tracing::debug!("job names not read in time; series keep theirs"),
        }
    }
}
