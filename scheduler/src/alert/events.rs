//! What the rest of the scheduler tells the alert pipeline: raw happenings (an execution
//! settled, an agent left or came back, a job has nowhere to run), stored in the alert outbox
//! (`outbox.rs`). The recorder turns them into alerts by the rules; this file only carries them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::domain::execution::Status;
use crate::domain::ids::{AgentId, ExecutionId, JobId};
use crate::store::Store;

/// Agent and reconcile events queued while MySQL is away: far more than a cluster's agents.
const QUEUE: usize = 16_384;
/// Events written to the outbox at a time.
const FEED_BATCH: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    /// An execution's stored status changed to a final one (ingest, async result, sweeper).
    Settled {
        execution_id: ExecutionId,
        job_id: JobId,
        status: Status,
    },
    AgentOffline {
        agent_id: AgentId,
        at: DateTime<Utc>,
    },
    AgentOnline {
        agent_id: AgentId,
        at: DateTime<Utc>,
    },
    /// An enabled job has no eligible agent (found by the leader's reconcile).
    Unassigned { job_id: JobId, at: DateTime<Utc> },
}

/// Where happenings are told. Cheap to clone; never blocks the caller (the ingest writer must
/// not wait on alerting). Settlements are written to the outbox by the store in their own
/// transactions, so only a wake-up goes through here for them; agent and reconcile happenings
/// (no database change of their own) queue for [`feed`], which writes them to the outbox.
#[derive(Clone)]
pub struct AlertEvents {
    tx: Option<mpsc::Sender<Happening>>,
    outbox: Arc<Notify>,
}

impl AlertEvents {
    pub fn channel() -> (Self, mpsc::Receiver<Happening>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let events = Self {
            tx: Some(tx),
            outbox: Arc::new(Notify::new()),
        };
        (events, rx)
    }

    /// Sends nowhere (for tests of other parts).
    pub fn none() -> Self {
        Self {
            tx: None,
            outbox: Arc::new(Notify::new()),
        }
    }

    /// Woken whenever this process wrote outbox rows (the leader's recorder waits on it).
    pub fn outbox_written(&self) -> Arc<Notify> {
        self.outbox.clone()
    }

    /// Outbox rows were committed in this process: the recorder, if it runs here, reads now.
    pub fn written(&self) {
        self.outbox.notify_one();
    }

    /// Queues a happening that is not part of a database change.
    pub fn emit(&self, happening: Happening) {
        let Some(tx) = &self.tx else { return };
        if let Err(e) = tx.try_send(happening) {
            match e {
                mpsc::error::TrySendError::Full(h) => {
                    tracing::error!(?h, "alert queue full; event dropped")
                }
                mpsc::error::TrySendError::Closed(_) => {}
            }
        }
    }
}

/// Writes emitted happenings to the outbox, trying again a second apart while MySQL is away
/// (they wait in the bounded queue meanwhile), until `shutdown`.
pub async fn feed(
    mut rx: mpsc::Receiver<Happening>,
    store: Arc<dyn Store>,
    events: AlertEvents,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(FEED_BATCH);
    loop {
        batch.clear();
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            n = rx.recv_many(&mut batch, FEED_BATCH) => n,
        };
        if received == 0 {
            return;
        }
        while let Err(e) = store.add_happenings(&batch).await {
            tracing::warn!(error = %e, events = batch.len(), "cannot write alert events yet; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => {
                    tracing::error!(events = ?batch, "shut down before alert events were written");
                    return;
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        events.written();
    }
}
