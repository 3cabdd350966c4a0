//! The one batched writer: requests from all `Report` calls queue on a channel; the writer
//! takes what is queued (up to ~1,000 reports or 5 ms after the first), writes it in one
//! transaction, and only then answers each request — so an ack always means "committed".
//! Executions whose status really changed to a final one are passed on to alerting.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::retained::Retained;
use crate::alert::events::AlertEvents;
use crate::domain::execution::ExecutionRecord;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Reports per MySQL batch: 100–1,000 rows per INSERT is where MariaDB's throughput levels off
/// (design §10).
const MAX_REPORTS: usize = 1_000;
/// Bytes of output and errors per batch, so a few huge outputs do not make a huge transaction.
const MAX_BYTES: usize = 16 * 1024 * 1024;
/// How long the first request of a batch waits for company.
const MAX_WAIT: Duration = Duration::from_millis(5);
/// Queued requests before `Report` calls wait (back-pressure on agents).
const QUEUE: usize = 1_024;
/// How often reports kept through a MySQL outage are written again.
const RETRY_RETAINED: Duration = Duration::from_secs(1);

struct WriteRequest {
    records: Vec<ExecutionRecord>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the scheduler is shutting down")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where `Report` calls hand their reports to the writer.
#[derive(Clone)]
pub struct Writer(mpsc::Sender<WriteRequest>);

impl Writer {
    /// Starts the writer task; it stops at `shutdown` (queued requests then fail, unacked).
    pub fn spawn(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        alerts: AlertEvents,
        shutdown: CancellationToken,
        tracker: &tokio_util::task::TaskTracker,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tracker.spawn(run(rx, store, metrics, alerts, shutdown));
        Self(tx)
    }

    /// Resolves once `records` are committed (or failed to be).
    pub async fn write(&self, records: Vec<ExecutionRecord>) -> Result<(), WriteError> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(WriteRequest { records, reply })
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer
            .await
            .map_err(|_| WriteError::Stopped)?
            .map_err(Into::into)
    }
}

async fn run(
    mut rx: mpsc::Receiver<WriteRequest>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    alerts: AlertEvents,
    shutdown: CancellationToken,
) {
    let mut retained = Retained::default();
    let mut retry = tokio::time::interval(RETRY_RETAINED);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = retry.tick(), if !retained.is_empty() => {
                write_retained(&mut retained, store.as_ref(), &metrics, &alerts).await;
                continue;
            }
            first = rx.recv() => match first {
                Some(first) => first,
                None => return,
            },
        };
        let batch = collect(first, &mut rx, &shutdown).await;
        let written = write(&batch, store.as_ref(), &metrics, &alerts).await;
        written.retain_or_forget(&batch, &mut retained, &metrics);
        written.answer(batch);
    }
}

/// Writes kept reports again, a batch at a time, while MySQL takes them.
async fn write_retained(
    retained: &mut Retained,
    store: &dyn Store,
    metrics: &Metrics,
    alerts: &AlertEvents,
) {
    while !retained.is_empty() {
        let records = retained.batch(MAX_REPORTS);
        if write_records(&records, store, metrics, alerts)
            .await
            .is_err()
        {
            break;
        }
        retained.committed(&records);
        tracing::info!(
            reports = records.len(),
            left = retained.len(),
            "kept execution reports committed"
        );
    }
    metrics.ingest_retained.set(retained.len() as i64);
}

/// The first request plus whatever arrives within [`MAX_WAIT`], up to the size limits.
async fn collect(
    first: WriteRequest,
    rx: &mut mpsc::Receiver<WriteRequest>,
    shutdown: &CancellationToken,
) -> Vec<WriteRequest> {
    let deadline = Instant::now() + MAX_WAIT;
    let mut reports = first.records.len();
    let mut bytes = size(&first);
    let mut batch = vec![first];
    while reports < MAX_REPORTS && bytes < MAX_BYTES {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(deadline) => break,
            next = rx.recv() => match next {
                Some(next) => next,
                None => break,
            },
        };
        reports += next.records.len();
        bytes += size(&next);
        batch.push(next);
    }
    batch
}

fn size(request: &WriteRequest) -> usize {
    request.records.iter().map(|r| r.approx_bytes()).sum()
}

enum Written {
    All(Result<(), StoreError>),
    /// The combined batch failed for a reason other than MySQL being away: each request was
    /// written on its own, so one bad request cannot hold back everyone else's.
    Each(Vec<Result<(), StoreError>>),
}

impl Written {
    /// Keeps the batch's reports when MySQL was away; forgets kept ones now committed.
    fn retain_or_forget(&self, batch: &[WriteRequest], retained: &mut Retained, metrics: &Metrics) {
        let records = batch.iter().flat_map(|r| r.records.iter());
        match self {
            Written::All(Err(StoreError::Unavailable(_))) => {
                let records: Vec<ExecutionRecord> = records.cloned().collect();
                let taken = retained.taken();
                let refused = retained.keep(&records);
                metrics
                    .ingest_retained_total
                    .inc_by(retained.taken() - taken);
                if refused > 0 {
                    tracing::warn!(
                        refused,
                        "too many execution reports kept while MySQL is away; the agents \
                         still hold these"
                    );
                }
            }
            Written::All(Ok(())) if !retained.is_empty() => retained.committed(records),
            _ => {}
        }
        metrics.ingest_retained.set(retained.len() as i64);
    }

    fn answer(self, batch: Vec<WriteRequest>) {
        match self {
            Written::All(result) => {
                for request in batch {
                    let _ = request.reply.send(result.clone());
                }
            }
            Written::Each(results) => {
                for (request, result) in batch.into_iter().zip(results) {
                    let _ = request.reply.send(result);
                }
            }
        }
    }
}

async fn write(
    batch: &[WriteRequest],
    store: &dyn Store,
    metrics: &Metrics,
    alerts: &AlertEvents,
) -> Written {
    let records: Vec<ExecutionRecord> = batch
        .iter()
        .flat_map(|r| r.records.iter().cloned())
        .collect();
    match write_records(&records, store, metrics, alerts).await {
        Err(e) if batch.len() > 1 && !matches!(e, StoreError::Unavailable(_)) => {
            tracing::warn!(error = %e, "report batch failed; writing its requests one by one");
            let mut results = Vec::with_capacity(batch.len());
            for request in batch {
                results.push(write_records(&request.records, store, metrics, alerts).await);
            }
            Written::Each(results)
        }
        result => Written::All(result),
    }
}

async fn write_records(
    records: &[ExecutionRecord],
    store: &dyn Store,
    metrics: &Metrics,
    alerts: &AlertEvents,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let result = store.ingest(records, Utc::now()).await;
    metrics
        .report_batch_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.report_batch_size.observe(records.len() as f64);
    match result {
        Ok(outcome) => {
            if !outcome.settled.is_empty() {
                alerts.written();
            }
            for (_, job, status) in outcome.settled {
                metrics.settled(job.as_str(), status.as_str());
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(reports = records.len(), error = %e, "writing execution reports failed");
            Err(e)
        }
    }
}
