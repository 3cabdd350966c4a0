//! Sends the spool to a scheduler's `ReportService` in batches and drops what it acknowledges.
//! One batch in flight at a time keeps an execution's snapshots in order; when no scheduler
//! answers, reports simply wait in the spool (on disk) and the loop backs off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crony_common::lease::Backoff;
use crony_common::registry::SchedulerRecord;
use crony_common::tls::{CaBundle, ServerIdentity, client_config};
use crony_proto::auth::AttachClusterToken;
use crony_proto::v1::report_service_client::ReportServiceClient;
use crony_proto::v1::{ExecutionReport, ReportBatch};
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::metrics::Metrics;
use crate::poison::Refusals;
use crate::schedulers::SchedulerDirectory;
use crate::spool::Spool;

/// Reports per batch: large enough that MySQL writes them in one multi-row insert.
const BATCH: usize = 1000;
/// Even with nothing new, look again this often (a wake-up might have been missed).
const IDLE_POLL: Duration = Duration::from_millis(500);
/// A batch that is not full waits until this long after the previous one: a short run's
/// `running` snapshot is then usually replaced in the spool by its outcome before it is sent,
/// which halves what schedulers and MySQL write, and a burst of fires is reported after it
/// rather than competing with its calls for CPU (issue 16: lateness of a 1,000-job burst).
const LINGER: Duration = Duration::from_millis(100);

pub struct Reporter {
    pub agent_id: String,
    pub spool: Spool,
    pub directory: Arc<SchedulerDirectory>,
    pub token: AttachClusterToken,
    /// Verifies schedulers that serve TLS (`None`: the webpki roots).
    pub ca: Option<CaBundle>,
    /// Presented to schedulers that require client certificates (mutual TLS).
    pub identity: Option<ServerIdentity>,
    pub metrics: Arc<Metrics>,
    pub clients: HashMap<String, Client>,
    /// Where reports refused again and again go ([`crate::poison`]).
    pub set_aside: std::path::PathBuf,
    pub refusals: Refusals,
}

type Client = ReportServiceClient<InterceptedService<Channel, AttachClusterToken>>;

impl Reporter {
    /// Runs until `cancel`; then makes one last attempt to flush within `flush_for`.
    pub async fn run(mut self, cancel: CancellationToken, flush_for: Duration) {
        let mut backoff = Backoff::new();
        let mut last_send = tokio::time::Instant::now();
        loop {
            self.metrics.spool_depth.set(self.spool.depth() as i64);
            self.metrics
                .spool_bytes
                .set(self.spool.pending_bytes() as i64);
            if self.spool.depth() == 0 {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = self.spool.wake.notified() => last_send = tokio::time::Instant::now(),
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
            if self.spool.depth() < BATCH && last_send.elapsed() < LINGER {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep_until(last_send + LINGER) => {}
                }
            }
            last_send = tokio::time::Instant::now();
            if self.send_one().await {
                backoff.reset();
            } else if !backoff.sleep(&cancel).await {
                break;
            }
        }
        let flushed = tokio::time::timeout(flush_for, async {
            while self.spool.depth() > 0 {
                if !self.send_one().await {
                    return false;
                }
            }
            true
        })
        .await;
        if flushed != Ok(true) && self.spool.depth() > 0 {
            tracing::warn!(
                pending = self.spool.depth(),
                "stopping with reports unsent; they stay in the spool for the next start"
            );
        }
    }

    /// The client for a scheduler's `ReportService`, kept per URL so batches reuse one
    /// connection instead of opening a new one each time.
    fn client(&mut self, scheduler: &SchedulerRecord) -> Option<Client> {
        let url = scheduler.grpc_url.as_str();
        if let Some(client) = self.clients.get(url) {
            return Some(client.clone());
        }
        let mut endpoint = match tonic::transport::Endpoint::from_shared(url.to_owned()) {
            Ok(endpoint) => endpoint,
            Err(e) => {
                tracing::warn!(%url, error = %e, "bad scheduler URL in etcd");
                return None;
            }
        };
        if scheduler.tls || url.starts_with("https://") {
            endpoint = match endpoint
                .tls_config(client_config(self.ca.as_ref(), self.identity.as_ref()))
            {
                Ok(endpoint) => endpoint,
                Err(e) => {
                    tracing::warn!(%url, error = %e, "cannot set up TLS to the scheduler");
                    return None;
                }
            };
        }
        let channel = endpoint
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        let client = ReportServiceClient::with_interceptor(channel, self.token.clone());
        self.clients.insert(url.to_owned(), client.clone());
        Some(client)
    }

    /// Moves the reports `poison` names out of the spool into the set-aside file; true if
    /// any moved. If the file cannot be written they stay in the spool.
    async fn set_aside(
        &self,
        batch: &[ExecutionReport],
        sent: &[(String, u32)],
        poison: Vec<String>,
    ) -> bool {
        if poison.is_empty() {
            return false;
        }
        let poison: std::collections::HashSet<String> = poison.into_iter().collect();
        let reports: Vec<ExecutionReport> = batch
            .iter()
            .filter(|r| poison.contains(&r.execution_id))
            .cloned()
            .collect();
        let path = self.set_aside.clone();
        let written = tokio::task::spawn_blocking(move || {
            let n = reports.len();
            crate::poison::write(&path, &reports).map(|()| (n, reports))
        })
        .await;
        match written {
            Ok(Ok((n, reports))) => {
                for r in &reports {
                    tracing::error!(execution = %r.execution_id, job = %r.job_id,
                        file = %self.set_aside.display(),
                        "schedulers refused this report {} times; set aside",
                        crate::poison::SET_ASIDE_AFTER);
                }
                self.metrics.reports_set_aside.inc_by(n as u64);
                self.spool.ack(
                    sent.iter()
                        .filter(|(id, _)| poison.contains(id))
                        .cloned()
                        .collect(),
                );
                true
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, file = %self.set_aside.display(),
                    "cannot set refused reports aside; they stay in the spool");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "setting refused reports aside failed");
                false
            }
        }
    }

    /// Sends one batch to the first scheduler that takes it; false if none did.
    async fn send_one(&mut self) -> bool {
        let batch = self.spool.batch(BATCH);
        if batch.is_empty() {
            return true;
        }
        let sent: Vec<(String, u32)> = batch
            .iter()
            .map(|r| (r.execution_id.clone(), r.revision))
            .collect();
        let schedulers = self.directory.schedulers().await;
        if schedulers.is_empty() {
            tracing::debug!("no scheduler registered; reports wait in the spool");
            return false;
        }
        for scheduler in schedulers {
            let started = std::time::Instant::now();
            let Some(mut client) = self.client(&scheduler) else {
                continue;
            };
            let request = ReportBatch {
                agent_id: self.agent_id.clone(),
                reports: batch.clone(),
            };
            match client.report(request).await {
                Ok(ack) => {
                    let acked = ack.into_inner().acked_execution_ids;
                    let acked: std::collections::HashSet<String> = acked.into_iter().collect();
                    self.spool.ack(
                        sent.iter()
                            .filter(|(id, _)| acked.contains(id))
                            .cloned()
                            .collect(),
                    );
                    self.metrics
                        .report_batch_seconds
                        .observe(started.elapsed().as_secs_f64());
                    let poison = self.refusals.note(&sent, &acked);
                    let set_aside = self.set_aside(&batch, &sent, poison).await;
                    self.metrics.spool_depth.set(self.spool.depth() as i64);
                    self.metrics
                        .spool_bytes
                        .set(self.spool.pending_bytes() as i64);
                    return !acked.is_empty() || set_aside;
                }
                Err(status) => {
                    tracing::warn!(
                        scheduler = %scheduler.id,
                        code = ?status.code(),
                        message = status.message(),
                        "report batch refused; trying another scheduler"
                    );
                    self.directory.demote(&scheduler.id);
                }
            }
        }
        self.directory.invalidate();
        false
    }
}
