//! The recorder (leader only): turns the alert outbox's happenings into alerts by the rules
//! and writes them to MySQL as `pending` rows, deleting each happening in the transaction that
//! records its alerts (`outbox.rs`), before anything is delivered. A pass that fails (MySQL
//! away) leaves the rest of the outbox for the next one: nothing is dropped while it waits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::events::Happening;
use super::outbox::OutboxEntry;
use super::rules::{
    self, Target, event_for, failure_rate_crossed, is_failure, is_outcome, is_recovery, wants,
};
use super::settings::AlertSettings;
use super::store::NewAlert;
use super::{Alert, AlertItem, AlertLang, EventKind};
use crate::domain::execution::Status;
use crate::domain::ids::{AgentId, ExecutionId, JobId};
use crate::domain::job::Job;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// How long a job's alert settings are reused before they are read again: settlements come in
/// bursts, and most jobs alert nobody.
const JOB_CACHE: Duration = Duration::from_secs(5);
/// Outbox rows taken at a time.
const BATCH: u32 = 1_000;
/// More cache misses than this in one batch: read every job at once instead.
const BULK_LOAD_AT: usize = 50;
/// Jobs kept in the cache (a bound, not a working-set guess: 100k jobs fit).
const MAX_CACHED: usize = 200_000;
/// Passes a happening may fail with an error that is not an outage before it is given up
/// (with an error log), so one damaged row cannot hold back every alert after it.
const POISON_AFTER: u32 = 5;

#[derive(Clone)]
pub struct Recorder {
    pub store: Arc<dyn Store>,
    pub settings: AlertSettings,
    /// Base of links in alerts, without a trailing slash.
    pub dashboard: String,
    pub metrics: Arc<Metrics>,
    /// Woken after rows are written, so the delivery worker sends at once.
    pub wake: Arc<Notify>,
    /// Woken when this process wrote outbox rows; other schedulers' rows are found by polling.
    pub outbox: Arc<Notify>,
    /// How often the outbox is read when nothing wakes the recorder.
    pub interval: Duration,
    jobs: HashMap<JobId, (Option<Job>, Instant)>,
    failures: HashMap<u64, u32>,
}

impl Recorder {
    pub fn new(
        store: Arc<dyn Store>,
        settings: AlertSettings,
        dashboard: String,
        metrics: Arc<Metrics>,
        (wake, outbox): (Arc<Notify>, Arc<Notify>),
        interval: Duration,
    ) -> Self {
        Self {
            store,
            settings,
            dashboard,
            metrics,
            wake,
            outbox,
            interval,
            jobs: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    /// Records until `cancel` (the end of this leadership).
    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            loop {
                match self.pass().await {
                    Ok(n) if n >= BATCH as usize && !cancel.is_cancelled() => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "recording alerts failed; the outbox keeps them");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.outbox.notified() => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// One pass over the oldest outbox rows; how many there were.
    async fn pass(&mut self) -> Result<usize, StoreError> {
        let entries = self.store.outbox_due(BATCH).await?;
        // Under load most events concern jobs not in the cache: one read of every job is
        // far cheaper than thousands of single look-ups.
        let misses = entries
            .iter()
            .filter(|e| {
                matches!(&e.happening, Happening::Settled { job_id, .. } if !self.is_cached(job_id))
            })
            .count();
        if misses > BULK_LOAD_AT {
            self.load_all_jobs().await;
        }
        let mut quiet = Vec::new();
        for entry in &entries {
            match self.record_one(entry).await {
                Ok(false) => quiet.push(entry.id),
                Ok(true) => {}
                Err(e) if is_outage(&e) => {
                    self.store.drop_outbox(&quiet).await?;
                    return Err(e);
                }
                Err(e) => self.note_failure(entry, &e, &mut quiet),
            }
        }
        self.store.drop_outbox(&quiet).await?;
        Ok(entries.len())
    }

    /// Records one happening's alerts with its outbox row; false when it alerts nobody (the
    /// row is deleted with the others of the pass).
    async fn record_one(&mut self, entry: &OutboxEntry) -> Result<bool, StoreError> {
        let alerts = self.handle(&entry.happening).await?;
        if alerts.is_empty() {
            return Ok(false);
        }
        let now = Utc::now();
        let throttle = self.settings.throttle;
        let Some(rows) = self
            .store
            .record_from_outbox(entry.id, &alerts, throttle, now)
            .await?
        else {
            return Ok(true); // another leader recorded it
        };
        self.failures.remove(&entry.id);
        let suppressed = rows.iter().filter(|r| r.suppressed).count();
        self.metrics.alerts_suppressed.inc_by(suppressed as u64);
        for alert in &alerts {
            tracing::info!(
                event = alert.event.as_str(),
                group = %alert.group_key,
                recipients = alert.targets.len(),
                "alert recorded"
            );
        }
        if suppressed < rows.len() {
            self.wake.notify_one();
        }
        Ok(true)
    }

    fn note_failure(&mut self, entry: &OutboxEntry, e: &StoreError, quiet: &mut Vec<u64>) {
        let failures = self.failures.entry(entry.id).or_default();
        *failures += 1;
        if *failures >= POISON_AFTER {
            tracing::error!(error = %e, happening = ?entry.happening, "alert not recorded; given up");
            self.failures.remove(&entry.id);
            quiet.push(entry.id);
        } else {
            tracing::warn!(error = %e, happening = ?entry.happening, "recording an alert failed; retrying");
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

    /// The alerts one happening raises, by the rules (none when nobody is to be told).
    async fn handle(&mut self, happening: &Happening) -> Result<Vec<NewAlert>, StoreError> {
        match happening {
            Happening::Settled {
                execution_id,
                job_id,
                status,
            } => self.settled(execution_id, job_id, *status).await,
            Happening::AgentOffline { agent_id, at } => {
                let item = self.agent_item(EventKind::AgentOffline, agent_id, *at);
                let targets = rules::system_targets(&self.settings);
                Ok(new_alert(item, targets, self.settings.lang)
                    .into_iter()
                    .collect())
            }
            Happening::AgentOnline { agent_id, at } => {
                let item = self.agent_item(EventKind::AgentOnline, agent_id, *at);
                let targets = rules::system_targets(&self.settings);
                Ok(new_alert(item, targets, self.settings.lang)
                    .into_iter()
                    .collect())
            }
            Happening::Unassigned { job_id, at } => {
                let Some(job) = self.job(job_id).await? else {
                    return Ok(Vec::new());
                };
                let mut targets = rules::system_targets(&self.settings);
                if wants(&job.spec.alerts, EventKind::Unassigned) {
                    targets.extend(rules::job_targets(&job.spec.alerts, &self.settings));
                }
                let lang = self.lang_of(&job);
                let mut item = self.job_item(EventKind::Unassigned, &job, *at);
                item.error = lang.unassigned_reason().into();
                Ok(new_alert(item, rules::dedupe(targets), lang)
                    .into_iter()
                    .collect())
            }
        }
    }

    async fn settled(
        &mut self,
        execution_id: &ExecutionId,
        job_id: &JobId,
        status: Status,
    ) -> Result<Vec<NewAlert>, StoreError> {
        let Some(job) = self.job(job_id).await? else {
            return Ok(Vec::new()); // deleted since
        };
        let spec = &job.spec.alerts;
        let mut events: Vec<EventKind> = event_for(status)
            .filter(|e| wants(spec, *e))
            .into_iter()
            .collect();
        let recovery = status == Status::Succeeded && wants(spec, EventKind::Recovered);
        let rate = is_outcome(status) && wants(spec, EventKind::FailureRate);
        if events.is_empty() && !recovery && !rate {
            return Ok(Vec::new());
        }
        let Some(execution) = self.store.get_execution(execution_id).await? else {
            return Ok(Vec::new()); // purged since
        };
        let summary = &execution.summary;
        let window = self.settings.failure_window;
        let lang = self.lang_of(&job);
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
                rate_note = lang.failure_rate_note(failed, window, threshold);
                events.push(EventKind::FailureRate);
            }
        }
        let at = summary.finished_at.unwrap_or(summary.scheduled_at);
        let targets = rules::job_targets(spec, &self.settings);
        let mut alerts = Vec::new();
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
            alerts.extend(new_alert(item, targets.clone(), lang));
        }
        Ok(alerts)
    }

    /// The job's own `alert_lang`, else the cluster's `CRONY_ALERT_LANG`.
    fn lang_of(&self, job: &Job) -> AlertLang {
        job.spec.alert_lang.unwrap_or(self.settings.lang)
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

/// Connection trouble: the pass stops and the outbox keeps everything for the next one.
fn is_outage(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Unavailable(_) | StoreError::Retry(_) | StoreError::Deposed { .. }
    )
}

/// The alert to record for `item`; `None` when nobody is configured to receive it.
fn new_alert(item: AlertItem, targets: Vec<Target>, lang: AlertLang) -> Option<NewAlert> {
    if targets.is_empty() {
        tracing::debug!(
            event = item.event.as_str(),
            "alert with no recipients configured"
        );
        return None;
    }
    Some(NewAlert {
        event: item.event,
        job_id: item.job_id.clone(),
        execution_id: item.execution_id.clone(),
        agent_id: item.agent_id.clone(),
        group_key: rules::group_key(item.event, &item),
        alert: Alert {
            id: 0,
            title: rules::title(&item, lang),
            items: vec![item],
            lang,
        },
        targets,
        throttle: true,
        claim: None,
    })
}
