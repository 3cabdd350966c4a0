//! The agent's shutdown, in order: stop firing, let running work finish within the grace
//! period (then kill it), flush the outcomes, and only then give up the lease.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::runner::Runner;

/// How long the last spans may take to reach the collector at shutdown.
const TRACES_FLUSH: Duration = Duration::from_secs(3);

pub(super) struct Drain {
    pub clock_stop: CancellationToken,
    pub clock_task: JoinHandle<()>,
    pub runner: Arc<Runner>,
    pub grace: Duration,
    pub reporter_stop: CancellationToken,
    pub reporting: JoinHandle<()>,
    /// Cancelled last: while running work finishes and its outcome is flushed, the agent
    /// still owns its jobs, so nothing is marked lost or run twice.
    pub lease_stop: CancellationToken,
    /// Exports the spans still queued, bounded (a dead collector must not hold up the stop).
    pub traces: crony_common::traces::Traces,
}

impl Drain {
    /// Waits for `shutdown`, then drains.
    pub async fn after(self, shutdown: CancellationToken) {
        shutdown.cancelled().await;
        self.clock_stop.cancel();
        let _ = self.clock_task.await;
        let runner = &self.runner;
        // Async runs waiting for their result do their work at their service: nothing here
        // to wait for (their results reach the scheduler directly).
        runner.release_async_holds();
        if runner.running() > 0 {
            tracing::info!(
                running = runner.running(),
                grace_secs = self.grace.as_secs(),
                "waiting for running executions"
            );
        }
        if tokio::time::timeout(self.grace, runner.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = runner.running(),
                "grace period over; killing running executions"
            );
            runner.kill_all();
            runner.wait().await;
        }
        self.reporter_stop.cancel();
        let _ = self.reporting.await;
        self.lease_stop.cancel();
        self.traces.shutdown(TRACES_FLUSH).await;
    }
}
