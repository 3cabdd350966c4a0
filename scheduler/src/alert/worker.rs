//! The delivery worker (leader only, so a cluster sends each alert once): claims due rows,
//! groups a burst for one recipient into one message, sends, and records `sent`, `failed` with
//! the next attempt by backoff, or `dead`. Rows are claimed by a conditional update that pushes
//! their next attempt past the claim's lease, so an overlapping worker at a leader change finds
//! nothing to take, and a worker that dies mid-send leaves rows that become due again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::delivery::Channels;
use super::store::{AlertRow, CLAIM_LEASE, Delivery};
use super::throttle::{BURST_WINDOW, after_failure, group, is_burst};
use super::{Alert, SendError};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Rows claimed per pass.
const BATCH: u32 = 200;

#[derive(Clone)]
pub struct Worker {
    pub store: Arc<dyn Store>,
    pub channels: Arc<Channels>,
    pub metrics: Arc<Metrics>,
    /// How often due rows are looked for (rows recorded on this scheduler also wake it).
    pub interval: Duration,
    pub wake: Arc<Notify>,
}

impl Worker {
    /// Delivers until `cancel` (the end of this leadership).
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            loop {
                match self.pass().await {
                    Ok(n) if n >= BATCH as usize && !cancel.is_cancelled() => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "alert delivery pass failed; retrying");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// One pass over the due rows; how many were claimed.
    async fn pass(&self) -> Result<usize, StoreError> {
        let claim = uuid::Uuid::now_v7().to_string();
        let rows = self
            .store
            .claim_due(&claim, Utc::now(), CLAIM_LEASE, BATCH)
            .await?;
        let claimed = rows.len();
        let mut by_recipient: HashMap<(String, String), Vec<AlertRow>> = HashMap::new();
        for row in rows {
            by_recipient
                .entry((row.channel.clone(), row.recipient.clone()))
                .or_default()
                .push(row);
        }
        // Recipients are independent: one slow SMTP server must not hold back Feishu.
        let mut sends = tokio::task::JoinSet::new();
        for (_, rows) in by_recipient {
            let worker = self.clone();
            let claim = claim.clone();
            sends.spawn(async move { worker.deliver_to_one(&claim, rows).await });
        }
        while let Some(done) = sends.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "recording an alert delivery failed");
            }
        }
        Ok(claimed)
    }

    /// Delivers one recipient's due rows: one by one, or as one message in a burst.
    async fn deliver_to_one(&self, claim: &str, rows: Vec<AlertRow>) -> Result<(), StoreError> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        if rows.len() > 1
            && let Some(channel) = first.channel()
        {
            let since = Utc::now() - chrono::Duration::from_std(BURST_WINDOW).unwrap_or_default();
            let recent = self
                .store
                .sent_since(channel, &first.recipient, since)
                .await?;
            if is_burst(rows.len(), recent as usize) {
                let alerts: Vec<Alert> = rows.iter().filter_map(|r| r.alert().ok()).collect();
                let grouped = group(&alerts);
                let others: Vec<u64> = rows[1..].iter().map(|r| r.id).collect();
                self.store
                    .group_into(first.id, &grouped, &others, Utc::now())
                    .await?;
                self.metrics.alerts_suppressed.inc_by(others.len() as u64);
                tracing::info!(
                    carrier = first.id,
                    grouped = rows.len(),
                    channel = %first.channel,
                    "burst of alerts grouped into one message"
                );
                return self.deliver(claim, first, Ok(grouped)).await;
            }
        }
        for row in &rows {
            self.deliver(claim, row, row.alert()).await?;
        }
        Ok(())
    }

    async fn deliver(
        &self,
        claim: &str,
        row: &AlertRow,
        alert: Result<Alert, String>,
    ) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let result = match alert {
            Ok(alert) => {
                let sent = self
                    .channels
                    .send_row(self.store.as_ref(), row, &alert)
                    .await;
                self.metrics
                    .alert_delivery_seconds
                    .with_label_values(&[row.channel.as_str()])
                    .observe(started.elapsed().as_secs_f64());
                sent
            }
            Err(message) => Err(SendError {
                message,
                retryable: false,
            }),
        };
        let now = Utc::now();
        let outcome = match result {
            Ok(()) => {
                self.metrics
                    .alerts_sent
                    .with_label_values(&[row.channel.as_str()])
                    .inc();
                Delivery::Sent
            }
            Err(e) => {
                self.metrics
                    .alerts_failed
                    .with_label_values(&[row.channel.as_str()])
                    .inc();
                tracing::warn!(
                    alert = row.id,
                    channel = %row.channel,
                    attempts = row.attempts + 1,
                    error = %e.message,
                    "alert delivery failed"
                );
                match after_failure(row.attempts, e.retryable) {
                    Some(wait) => Delivery::Retry {
                        error: e.message,
                        at: now + chrono::Duration::from_std(wait).unwrap_or_default(),
                    },
                    None => Delivery::Dead { error: e.message },
                }
            }
        };
        self.store.finish(row.id, claim, &outcome, now).await
    }
}
