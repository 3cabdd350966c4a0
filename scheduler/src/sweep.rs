//! The leader's sweeps over executions: async runs whose deadline passed become `timed_out`
//! (every second), and executions older than the retention are deleted in batches (at the
//! start of each leadership and every ten minutes), and runs of dead agents become `lost`
//! (see `lost.rs`). Only the leader sweeps, so instances do not
//! repeat each other's work; the statements are conditional, so an overlap at a leader change
//! is harmless.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::domain::execution::Status;
use crate::metrics::Metrics;
use crate::store::Store;

/// Rows timed out per statement.
const TIMEOUT_BATCH: u32 = 1_000;
/// Rows deleted per statement: small enough not to hold locks for long.
const PURGE_BATCH: u32 = 5_000;

#[derive(Clone)]
pub struct Sweeper {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub retention: Duration,
    pub async_interval: Duration,
    pub retention_interval: Duration,
    /// How often runs of dead agents are looked for (also on every change of the live set).
    pub lost_interval: Duration,
    pub live: Arc<crate::registry::LiveAgents>,
    /// Calls agents when a lost execution is retried.
    pub agent_dialer: crate::leader::push::AgentDialer,
    /// Where timed-out and lost executions are reported for alerting.
    pub alerts: crate::alert::events::AlertEvents,
}

impl Sweeper {
    /// Sweeps until `cancel` (the end of this leadership).
    pub async fn run(self, cancel: CancellationToken) {
        tokio::join!(
            self.async_timeouts(&cancel),
            self.retention(&cancel),
            self.lost(&cancel)
        );
    }

    async fn async_timeouts(&self, cancel: &CancellationToken) {
        let mut tick = tokio::time::interval(self.async_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            loop {
                match self.store.time_out_async(Utc::now(), TIMEOUT_BATCH).await {
                    Ok(jobs) => {
                        self.metrics.async_timeouts.inc_by(jobs.len() as u64);
                        if !jobs.is_empty() {
                            self.alerts.written();
                        }
                        for (_, job) in &jobs {
                            self.metrics
                                .settled(job.as_str(), Status::TimedOut.as_str());
                        }
                        if !jobs.is_empty() {
                            tracing::info!(count = jobs.len(), "async executions timed out");
                        }
                        if jobs.len() < TIMEOUT_BATCH as usize || cancel.is_cancelled() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "async timeout sweep failed; retrying");
                        break;
                    }
                }
            }
        }
    }

    async fn retention(&self, cancel: &CancellationToken) {
        let mut tick = tokio::time::interval(self.retention_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Ok(retention) = chrono::Duration::from_std(self.retention) else {
                return;
            };
            let before = Utc::now() - retention;
            let mut purged = 0;
            loop {
                match self.store.purge_executions(before, PURGE_BATCH).await {
                    Ok(n) => {
                        purged += n;
                        if n < u64::from(PURGE_BATCH) || cancel.is_cancelled() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "retention purge failed; retrying later");
                        break;
                    }
                }
            }
            if purged > 0 {
                tracing::info!(purged, %before, "executions past their retention deleted");
            }
        }
    }
}
