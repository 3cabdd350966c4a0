//! The recorder: turns happenings into alerts by the rules and writes them to MySQL as
//! `pending` rows before anything is delivered. Every scheduler runs one for the happenings it
//! saw itself (its ingest, its API); agent and reconcile happenings come from the leader only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::events::Happening;
use super::rules::{
    self, Target, event_for, failure_rate_crossed, is_failure, is_outcome, is_recovery, wants,
};
use super::settings::AlertSettings;
use super::store::NewAlert;
use super::{Alert, AlertItem, EventKind};
use crate::domain::execution::Status;
use crate::domain::ids::{AgentId, ExecutionId, JobId};
use crate::domain::job::Job;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// How long a job's alert settings are reused before they are read again: settlements come in
/// bursts, and most jobs alert nobody.
const JOB_CACHE: Duration = Duration::from_secs(5);
/// Tries to record one event while MySQL is away, a second apart.
const RECORD_TRIES: u32 = 30;
/// Events taken from the queue at a time.
const BATCH: usize = 1_000;
/// More cache misses than this in one batch: read every job at once instead.
const BULK_LOAD_AT: usize = 50;
/// Jobs kept in the cache (a bound, not a working-set guess: 100k jobs fit).
const MAX_CACHED: usize = 200_000;

pub struct Recorder {
    pub store: Arc<dyn Store>,
    pub settings: AlertSettings,
    /// Base of links in alerts, without a trailing slash.
    pub dashboard: String,
    pub metrics: Arc<Metrics>,
    /// Woken after rows are written, so a worker in this process delivers at once.
    pub wake: Arc<Notify>,
    jobs: HashMap<JobId, (Option<Job>, Instant)>,
}

impl Recorder {
    pub fn new(
        store: Arc<dyn Store>,
        settings: AlertSettings,
        dashboard: String,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            settings,
            dashboard,
            metrics,
            wake,
            jobs: HashMap::new(),
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Happening>, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            batch.clear();
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                n = rx.recv_many(&mut batch, BATCH) => n,
            };
            if received == 0 {
                return;
            }
            // Under load most events concern jobs not in the cache: one read of every job is
            // far cheaper than thousands of single look-ups (and keeps the queue from filling).
            let misses = batch
                .iter()
                .filter(
                    |h| matches!(h, Happening::Settled { job_id, .. } if !self.is_cached(job_id)),
                )
                .count();
            if misses > BULK_LOAD_AT {
                self.load_all_jobs().await;
            }
            for happening in &batch {
                self.record_one(happening, &shutdown).await;
            }
        }
    }

    async fn record_one(&mut self, happening: &Happening, shutdown: &CancellationToken) {
        for attempt in 1..=RECORD_TRIES {
            match self.handle(happening).await {
                Ok(()) => break,
                Err(e) if attempt < RECORD_TRIES && !shutdown.is_cancelled() => {
                    tracing::warn!(error = %e, ?happening, "recording an alert failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, ?happening, "alert not recorded");
                    break;
                }
            }
        }
    }

    fn is_cached(&self, id: &JobId) -> bool {
        self.jobs
            .get(id)
            .is_some_and(|(_, at)| at.elapsed() < JOB_CACHE)
    }

    async fn load_all_jobs(&mut self) {
        match self.store.load_jobs().await {
            Ok(jobs) => {
                let now = Instant::now();
                self.jobs = jobs
                    .into_iter()
                    .map(|job| (job.id.clone(), (Some(job), now)))
                    .collect();
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the jobs for alert rules"),
        }
    }

    async fn handle(&mut self, happening: &Happening) -> Result<(), StoreError> {
        match happening {
            Happening::Settled {
                execution_id,
                job_id,
                status,
            } => self.settled(execution_id, job_id, *status).await,
            Happening::AgentOffline { agent_id, at } => {
                let item = self.agent_item(EventKind::AgentOffline, agent_id, *at);
                let targets = rules::system_targets(&self.settings);
                self.record(item, targets).await
            }
            Happening::AgentOnline { agent_id, at } => {
                let item = self.agent_item(EventKind::AgentOnline, agent_id, *at);
                let targets = rules::system_targets(&self.settings);
                self.record(item, targets).await
            }
            Happening::Unassigned { job_id, at } => {
                let Some(job) = self.job(job_id).await? else {
                    return Ok(());
                };
                let mut targets = rules::system_targets(&self.settings);
                if wants(&job.spec.alerts, EventKind::Unassigned) {
                    targets.extend(rules::job_targets(&job.spec.alerts, &self.settings));
                }
                let mut item = self.job_item(EventKind::Unassigned, &job, *at);
                item.error = "no live agent matches the job's placement (labels, pinned agent, \
                              shell) or every match is drained"
                    .into();
                self.record(item, rules::dedupe(targets)).await
            }
        }
    }

    async fn settled(
        &mut self,
        execution_id: &ExecutionId,
        job_id: &JobId,
        status: Status,
    ) -> Result<(), StoreError> {
        let Some(job) = self.job(job_id).await? else {
            return Ok(()); // deleted since
        };
        let spec = &job.spec.alerts;
        let mut events: Vec<EventKind> = event_for(status)
            .filter(|e| wants(spec, *e))
            .into_iter()
            .collect();
        let recovery = status == Status::Succeeded && wants(spec, EventKind::Recovered);
        let rate = is_outcome(status) && wants(spec, EventKind::FailureRate);
        if events.is_empty() && !recovery && !rate {
            return Ok(());
        }
        let Some(execution) = self.store.get_execution(execution_id).await? else {
            return Ok(()); // purged since
        };
        let summary = &execution.summary;
        let window = self.settings.failure_window;
        let mut rate_note = String::new();
        if recovery || rate {
            let previous = self
                .store
                .outcomes_before(job_id, summary.scheduled_at, execution_id, window)
                .await?;
            if recovery && is_recovery(status, previous.first().copied()) {
                events.push(EventKind::Recovered);
            }
            let threshold = self.settings.failure_rate;
            if rate && failure_rate_crossed(status, &previous, window as usize, threshold) {
                let failed = std::iter::once(status)
                    .chain(previous.iter().copied())
                    .take(window as usize)
                    .filter(|s| is_failure(*s))
                    .count();
                rate_note = format!(
                    "{failed} of the last {window} executions failed (threshold {:.0} %)",
                    threshold * 100.0
                );
                events.push(EventKind::FailureRate);
            }
        }
        let at = summary.finished_at.unwrap_or(summary.scheduled_at);
        let targets = rules::job_targets(spec, &self.settings);
        for event in events {
            let mut item = self.job_item(event, &job, at);
            item.execution_id = Some(execution_id.clone());
            item.agent_id = Some(summary.agent_id.clone());
            item.link = Some(format!("{}/executions/{execution_id}", self.dashboard));
            item.error = match event {
                EventKind::FailureRate => rate_note.clone(),
                EventKind::Recovered => String::new(),
                _ => summary.error.clone(),
            };
            if event != EventKind::FailureRate {
                item.output_excerpt = rules::excerpt(&execution.output);
            }
            self.record(item, targets.clone()).await?;
        }
        Ok(())
    }

    async fn record(&mut self, item: AlertItem, targets: Vec<Target>) -> Result<(), StoreError> {
        if targets.is_empty() {
            tracing::debug!(
                event = item.event.as_str(),
                "alert with no recipients configured"
            );
            return Ok(());
        }
        let alert = NewAlert {
            event: item.event,
            job_id: item.job_id.clone(),
            execution_id: item.execution_id.clone(),
            agent_id: item.agent_id.clone(),
            group_key: rules::group_key(item.event, &item),
            alert: Alert {
                id: 0,
                title: rules::title(&item),
                items: vec![item],
            },
            targets,
            throttle: true,
            claim: None,
        };
        let rows = self
            .store
            .record_alert(&alert, self.settings.throttle, Utc::now())
            .await?;
        let suppressed = rows.iter().filter(|r| r.suppressed).count();
        self.metrics.alerts_suppressed.inc_by(suppressed as u64);
        tracing::info!(
            event = alert.event.as_str(),
            group = %alert.group_key,
            recipients = rows.len(),
            suppressed,
            "alert recorded"
        );
        if suppressed < rows.len() {
            self.wake.notify_one();
        }
        Ok(())
    }

    fn job_item(&self, event: EventKind, job: &Job, at: DateTime<Utc>) -> AlertItem {
        AlertItem {
            event,
            job_id: Some(job.id.clone()),
            job_name: Some(job.spec.name.clone()),
            agent_id: job.agent_id.clone(),
            execution_id: None,
            at,
            timezone: job.spec.timezone.clone(),
            error: String::new(),
            output_excerpt: String::new(),
            link: Some(format!("{}/jobs/{}", self.dashboard, job.id)),
        }
    }

    fn agent_item(&self, event: EventKind, agent: &AgentId, at: DateTime<Utc>) -> AlertItem {
        AlertItem {
            event,
            job_id: None,
            job_name: None,
            agent_id: Some(agent.clone()),
            execution_id: None,
            at,
            timezone: "UTC".into(),
            error: if event == EventKind::AgentOffline {
                "its etcd lease expired or was revoked; its jobs move to other agents".into()
            } else {
                String::new()
            },
            output_excerpt: String::new(),
            link: Some(format!("{}/agents/{agent}", self.dashboard)),
        }
    }

    async fn job(&mut self, id: &JobId) -> Result<Option<Job>, StoreError> {
        if let Some((job, at)) = self.jobs.get(id)
            && at.elapsed() < JOB_CACHE
        {
            return Ok(job.clone());
        }
        let job = self.store.get_job(id).await?;
        if self.jobs.len() > MAX_CACHED {
            self.jobs.clear();
        }
        self.jobs.insert(id.clone(), (job.clone(), Instant::now()));
        Ok(job)
    }
}
