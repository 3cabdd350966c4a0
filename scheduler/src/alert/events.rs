//! What the rest of the scheduler tells the alert pipeline: raw happenings (an execution
//! settled, an agent left or came back, a job has nowhere to run). The recorder turns them
//! into alerts by the rules; this file only carries them.

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::domain::execution::Status;
use crate::domain::ids::{AgentId, ExecutionId, JobId};

/// Events queued before the sources stop waiting for the recorder: enough for a burst of a
/// few thousand settlements; beyond that the recorder is hopelessly behind anyway.
const QUEUE: usize = 16_384;

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

/// Where happenings are sent. Cheap to clone; sending never blocks the caller (the ingest
/// writer must not wait on alerting), so a full queue drops and logs.
#[derive(Clone)]
pub struct AlertEvents(Option<mpsc::Sender<Happening>>);

impl AlertEvents {
    pub fn channel() -> (Self, mpsc::Receiver<Happening>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self(Some(tx)), rx)
    }

    /// Sends nowhere (for tests of other parts).
    pub fn none() -> Self {
        Self(None)
    }

    pub fn emit(&self, happening: Happening) {
        let Some(tx) = &self.0 else { return };
        if let Err(e) = tx.try_send(happening) {
            match e {
                mpsc::error::TrySendError::Full(h) => {
                    tracing::error!(?h, "alert queue full; event dropped")
                }
                mpsc::error::TrySendError::Closed(_) => {}
            }
        }
    }

    /// An execution settled; only final statuses are passed on.
    pub fn settled(&self, execution_id: &ExecutionId, job_id: &JobId, status: Status) {
        if status.is_final() {
            self.emit(Happening::Settled {
                execution_id: execution_id.clone(),
                job_id: job_id.clone(),
                status,
            });
        }
    }
}
