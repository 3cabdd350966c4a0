//! The life of one execution on this agent: overlap policy, attempts with timeout, retries
//! with backoff, kill, async hand-off, and a snapshot in the spool at every step (running at
//! the start, after each failed attempt, and the outcome), so the scheduler learns of it even
//! if this agent dies right after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use crony_common::lease::Fence;
use crony_common::report_token::ReportKey;
use crony_common::traces::{ExecSpan, Parent, Tracer};
use crony_proto::v1::{Attempt, ExecutionReport, ExecutionStatus, TriggerKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::executor::{AttemptContext, AttemptStatus, Executors, run_attempt};
use crate::job::{Job, JobId};
use crate::metrics::Metrics;
use crate::schedulers::SchedulerDirectory;
use crate::spool::Spool;

mod awaiting;
mod bounds;
mod start;
mod traced;
mod unrun;

use awaiting::Awaiting;
use bounds::Bounds;
use start::Started;

/// One fire to run.
#[derive(Debug, Clone)]
pub struct Fire {
    pub job: Arc<Job>,
    pub scheduled_at: DateTime<Utc>,
    pub kind: TriggerKind,
    /// For retries of a lost execution: which one, and the attempts it already used.
    pub retry_of: String,
    pub attempts_used: u32,
    /// The span this execution's trace continues (a trigger from a tracing scheduler).
    pub parent: Option<Parent>,
}

/// Running executions by job id, then execution id: overlap checks look at one job's runs
/// on every fire, so they must not scan everything that runs.
type Runs = HashMap<JobId, HashMap<String, CancellationToken>>;

pub struct Runner {
    pub agent_id: String,
    pub executors: Executors,
    pub spool: Spool,
    /// `None` without a cluster token: targets get no report token.
    pub key: Option<ReportKey>,
    pub directory: Arc<SchedulerDirectory>,
    pub fence: Arc<Fence>,
    pub metrics: Arc<Metrics>,
    /// Told when an execution ends (fixed-delay schedules count from there).
    pub finished: mpsc::UnboundedSender<(JobId, DateTime<Utc>)>,
    tracker: TaskTracker,
    runs: Mutex<Runs>,
    /// Async runs handed to their service, holding their place until settled.
    awaiting: Awaiting,
    /// When each run going here ends at the latest.
    bounds: Bounds,
    /// Makes the spans of executions (off unless `CRONY_OTEL_ENDPOINT` is set).
    tracer: Tracer,
}

impl Runner {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        agent_id: String,
        executors: Executors,
        spool: Spool,
        key: Option<ReportKey>,
        directory: Arc<SchedulerDirectory>,
        fence: Arc<Fence>,
        metrics: Arc<Metrics>,
        finished: mpsc::UnboundedSender<(JobId, DateTime<Utc>)>,
    ) -> Self {
        Self {
            agent_id,
            executors,
            spool,
            key,
            directory,
            fence,
            metrics,
            finished,
            tracker: TaskTracker::new(),
            runs: Mutex::new(HashMap::new()),
            awaiting: Awaiting::default(),
            bounds: Bounds::default(),
            tracer: Tracer::off(),
        }
    }

    /// Traces every execution with `tracer`.
    pub fn with_tracer(mut self, tracer: Tracer) -> Self {
        self.tracer = tracer;
        self
    }

    /// Stops a running execution; false if it is not running here.
    pub fn kill(&self, execution_id: &str) -> bool {
        match self
            .lock()
            .values()
            .find_map(|of_job| of_job.get(execution_id))
        {
            Some(kill) => {
                kill.cancel();
                true
            }
            None => false,
        }
    }

    /// An async run's result arrived at a scheduler: its place is free. False if this agent
    /// was not holding it.
    pub fn settled(&self, execution_id: &str) -> bool {
        self.awaiting.settled(execution_id)
    }

    /// When the runs of `job` going here end at the latest; `None` if none is going.
    pub fn busy_until(&self, job: &JobId) -> Option<DateTime<Utc>> {
        let runs = self.lock();
        self.bounds
            .latest(runs.get(job).into_iter().flat_map(HashMap::keys))
    }

    /// Ends every async hold at once (shutdown: there is no work here to wait for).
    pub fn release_async_holds(&self) {
        self.awaiting.release_all();
    }

    /// Stops every running execution (shutdown after the grace period).
    pub fn kill_all(&self) {
        for kill in self.lock().values().flat_map(HashMap::values) {
            kill.cancel();
        }
    }

    pub fn running(&self) -> usize {
        self.lock().values().map(HashMap::len).sum()
    }

    /// Waits for every execution task to end.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    fn snapshot(&self, fire: &Fire, id: &str) -> ExecutionReport {
        ExecutionReport {
            execution_id: id.to_owned(),
            job_id: fire.job.id.to_string(),
            agent_id: self.agent_id.clone(),
            epoch: fire.job.assignment_epoch,
            scheduled_at_ms: fire.scheduled_at.timestamp_millis(),
            started_at_ms: Utc::now().timestamp_millis(),
            status: ExecutionStatus::Running as i32,
            trigger: fire.kind as i32,
            retry_of: fire.retry_of.clone(),
            revision: 1,
            ..ExecutionReport::default()
        }
    }

    /// Spools a snapshot: fsynced when `report` is an outcome, only written (safe from the agent
    /// dying, not from the machine) for the snapshots taken before and between attempts.
    /// Spools `report`; false if it could not be written (it is still sent from memory).
    async fn save(&self, report: &mut ExecutionReport) -> bool {
        let settled =
            report.status != ExecutionStatus::Running as i32 || report.async_deadline_ms > 0;
        let spooled = if settled {
            self.spool.push(vec![report.clone()]).await
        } else {
            self.spool.push_written(vec![report.clone()]).await
        };
        if let Err(e) = &spooled {
            tracing::error!(execution = %report.execution_id, error = %e, "cannot spool an execution report");
        }
        report.revision += 1;
        spooled.is_ok()
    }

    /// Why a fire whose start is on record must not start after all, if so: the record could
    /// not be written (a run nobody could learn of), or the lease lapsed while it was written
    /// (the job may be another agent's by now; the timer's fence check came before the write).
    fn refuse_start(&self, recorded: bool) -> Option<&'static str> {
        if self.spool.is_full() {
            self.metrics.unrecorded.inc();
            return Some(
                "not run: the agent's spool is full of reports no scheduler has taken \
                 (back-pressure; it starts runs again once schedulers take reports)",
            );
        }
        if !recorded {
            self.metrics.unrecorded.inc();
            return Some(
                "not run: the agent could not record its start in the spool (is the disk of \
                 its data dir full?)",
            );
        }
        if !self.fence.is_alive() {
            self.metrics.fenced.inc();
            return Some(
                "not run: the agent's lease was no longer certainly alive when its first \
                 attempt was due (self-fenced)",
            );
        }
        None
    }

    /// Runs `fire` whose start is on record (`recorded`: the spool took `report`).
    async fn execute(&self, start: Started, mut report: ExecutionReport, recorded: bool) {
        let Started {
            fire,
            id,
            kill,
            span,
        } = start;
        let job = fire.job.clone();
        if let Some(why) = self.refuse_start(recorded) {
            report.status = ExecutionStatus::Skipped as i32;
            report.started_at_ms = 0;
            report.error = why.into();
            return self.finish(&job, report, span).await;
        }
        let executor = match self.executors.for_job(&job) {
            Ok(executor) => executor,
            Err(why) => {
                report.status = ExecutionStatus::Failed as i32;
                report.error = why;
                return self.finish(&job, report, span).await;
            }
        };
        let timeout = job.timeout;
        let policy = job.retry;
        let allowed = crate::retry::attempts_allowed(&policy);
        let mut number = fire.attempts_used + 1;
        let report_url = self
            .directory
            .http_url()
            .map(|base| format!("{base}/api/v1/executions/{id}/result"))
            .unwrap_or_default();
        loop {
            let started = Utc::now();
            let attempt_span = self.attempt_span(&span, number, job.target.kind());
            let ctx = AttemptContext {
                execution_id: id.clone(),
                job_id: job.id.to_string(),
                job_name: job.name.clone(),
                payload: job.payload.clone(),
                attempt: number,
                scheduled_at: fire.scheduled_at,
                deadline: started + timeout,
                report_url: report_url.clone(),
                report_token: self
                    .key
                    .as_ref()
                    .map(|key| key.token_for(&id))
                    .unwrap_or_default(),
                traceparent: attempt_span.traceparent(),
            };
            let outcome = run_attempt(executor.as_ref(), &ctx, timeout, &kill).await;
            traced::end_attempt(attempt_span, &outcome);
            let status = match outcome.status {
                AttemptStatus::Succeeded => ExecutionStatus::Succeeded,
                AttemptStatus::Failed => ExecutionStatus::Failed,
                AttemptStatus::Accepted => ExecutionStatus::Running,
                AttemptStatus::TimedOut => ExecutionStatus::TimedOut,
                AttemptStatus::Killed => ExecutionStatus::Killed,
            };
            report.attempts.push(Attempt {
                number,
                started_at_ms: started.timestamp_millis(),
                finished_at_ms: Utc::now().timestamp_millis(),
                status: status as i32,
                exit_code: outcome.exit_code,
                http_status: outcome.http_status.map(u32::from),
                error: outcome.error.clone(),
            });
            report.output = outcome.output;
            report.output_truncated = outcome.output_truncated;
            report.error = outcome.error;
            report.exit_code = outcome.exit_code;
            report.http_status = outcome.http_status.map(u32::from);
            report.status = status as i32;
            let retryable = matches!(
                outcome.status,
                AttemptStatus::Failed | AttemptStatus::TimedOut
            );
            if outcome.status == AttemptStatus::Accepted {
                report.async_deadline_ms = (Utc::now()
                    + chrono::Duration::from_std(job.async_timeout)
                        .unwrap_or(chrono::Duration::MAX))
                .timestamp_millis();
                // Settled later by the result the service posts, or by the async timeout;
                // until then the run holds its place (overlap, `@delay`).
                self.save(&mut report).await;
                traced::end_fire(span, &report);
                let deadline = DateTime::from_timestamp_millis(report.async_deadline_ms);
                self.bounds.set(&id, deadline.unwrap_or_else(Utc::now));
                self.awaiting.hold(&id, job.async_timeout, &kill).await;
                return;
            }
            if !retryable || number >= allowed {
                break;
            }
            // Still running as far as anyone can tell, with the failed attempt on record.
            report.status = ExecutionStatus::Running as i32;
            self.save(&mut report).await;
            let delay = crate::retry::backoff_delay(&policy, number, &mut rand::thread_rng());
            tokio::select! {
                _ = kill.cancelled() => {
                    report.status = ExecutionStatus::Killed as i32;
                    report.error = "killed while waiting to retry".into();
                    break;
                }
                _ = tokio::time::sleep(delay) => {}
            }
            if !self.fence.is_alive() {
                // The job may already belong to another agent; the retry is its to make.
                report.status = ExecutionStatus::Failed as i32;
                report.error = format!(
                    "{}; not retried: this agent's lease was not certainly alive",
                    report.error
                );
                break;
            }
            self.metrics.retries.inc();
            number += 1;
        }
        self.finish(&job, report, span).await;
    }

    async fn finish(&self, job: &Job, mut report: ExecutionReport, span: ExecSpan) {
        report.finished_at_ms = Utc::now().timestamp_millis();
        let status = ExecutionStatus::try_from(report.status).unwrap_or(ExecutionStatus::Failed);
        self.metrics
            .finished(job.id.as_str(), &job.name, status.api_name());
        if report.started_at_ms > 0 {
            let took = (report.finished_at_ms - report.started_at_ms).max(0) as f64 / 1000.0;
            self.metrics
                .execution_seconds
                .with_label_values(&[job.target.kind()])
                .observe(took);
        }
        self.save(&mut report).await;
        traced::end_fire(span, &report);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Runs> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reports left unfinished by a previous run of this agent (it died mid-run): they are `lost`.
/// Async executions waiting for their result are not: the service reports to the scheduler.
pub fn settle_interrupted(recovered: Vec<ExecutionReport>) -> Vec<ExecutionReport> {
    recovered
        .into_iter()
        .filter(|r| r.status == ExecutionStatus::Running as i32 && r.async_deadline_ms == 0)
        .map(|mut r| {
            r.status = ExecutionStatus::Lost as i32;
            r.finished_at_ms = Utc::now().timestamp_millis();
            r.error = "the agent stopped during the run (it restarted before the run ended)".into();
            r.revision += 1;
            r
        })
        .collect()
}

/// The fire of a scheduled instant, for a record of it that runs nothing.
fn scheduled(job: &Arc<Job>, at: DateTime<Utc>) -> Fire {
    Fire {
        job: job.clone(),
        scheduled_at: at,
        kind: TriggerKind::Schedule,
        retry_of: String::new(),
        attempts_used: 0,
        parent: None,
    }
}
