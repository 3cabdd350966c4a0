//! Prometheus metrics of one agent (its own registry, so several agents can run in one test
//! process), served as text on the agent's `/metrics`.

use chrono::{DateTime, Utc};
use crony_common::job_series::{JobSeries, PerJob};
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Finished executions by job (`job_id`, `job_name`) and final status (succeeded,
    /// failed, skipped, missed, …): through [`Metrics::finished`], bounded by `jobs`.
    executions: IntCounterVec,
    /// When each held job fires next (Unix seconds): through [`Metrics::next_fire`].
    next_fire: GaugeVec,
    /// Seconds between a job's last fire and its next: what "no success for 2× its period"
    /// alerts divide by.
    interval: GaugeVec,
    /// The per-job series of this agent (`CRONY_METRICS_PER_JOB`), removed with their job.
    pub jobs: JobSeries,
    /// Seconds between a fire's scheduled instant and the moment the agent started it.
    pub fire_lateness: Histogram,
    pub retries: IntCounter,
    pub skipped: IntCounter,
    pub missed: IntCounter,
    pub lost: IntCounter,
    /// Instants a previous owner may have started, recorded `lost` instead of run again.
    pub unknown: IntCounter,
    /// Fires not run because the lease was not certainly alive (self-fencing).
    pub fenced: IntCounter,
    /// Held jobs read back at start that this agent could not use (dropped).
    pub held_unusable: IntCounter,
    pub spool_depth: IntGauge,
    /// Bytes of those reports (the spool is full at `CRONY_AGENT_SPOOL_MAX_MB`).
    pub spool_bytes: IntGauge,
    /// Fires not started because the spool could not record their start.
    pub unrecorded: IntCounter,
    /// Reports schedulers refused again and again, moved to `set-aside.jsonl`.
    pub reports_set_aside: IntCounter,
    pub report_batch_seconds: Histogram,
    pub running: IntGauge,
    /// How long executions took from start to end (all attempts), by target kind.
    pub execution_seconds: HistogramVec,
}

impl Metrics {
    /// Per-job series on `auto`.
    pub fn new() -> Self {
        Self::with_per_job(PerJob::Auto)
    }

    pub fn with_per_job(per_job: PerJob) -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let executions = IntCounterVec::new(
            Opts::new(
                "crony_agent_executions_total",
                "Executions finished on this agent, by job and final status",
            ),
            &["job_id", "job_name", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(executions.clone()))
            .expect("unique metric");
        let next_fire = GaugeVec::new(
            Opts::new(
                "crony_job_next_fire_timestamp_seconds",
                "When the job fires next on this agent (Unix seconds); NaN while it will not (paused, no fire left)",
            ),
            &["job_id", "job_name"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(next_fire.clone()))
            .expect("unique metric");
        let interval = GaugeVec::new(
            Opts::new(
                "crony_job_interval_seconds",
                "Seconds from the job's last fire to its next one (its period, for alerts)",
            ),
            &["job_id", "job_name"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(interval.clone()))
            .expect("unique metric");
        crony_common::build_info::register(&registry, "crony-agent");
        let execution_seconds = HistogramVec::new(
            HistogramOpts::new(
                "crony_agent_execution_duration_seconds",
                "Time from an execution's start to its end (every attempt), by target kind",
            )
            .buckets(vec![
                0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
            ]),
            &["kind"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(execution_seconds.clone()))
            .expect("unique metric");
        let fast = vec![
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ];
        let metrics = Self {
            executions,
            next_fire,
            interval,
            jobs: JobSeries::new(per_job),
            fire_lateness: histogram(
                "crony_agent_fire_lateness_seconds",
                "Time from a fire's scheduled instant to its start on the agent",
                fast.clone(),
            ),
            retries: counter(
                "crony_agent_retries_total",
                "Attempts after a first failure",
            ),
            skipped: counter(
                "crony_agent_skipped_total",
                "Fires skipped because the previous run was still going (overlap: skip)",
            ),
            missed: counter(
                "crony_agent_missed_total",
                "Fires recorded as missed (no owner when due, or misfire policy)",
            ),
            lost: counter(
                "crony_agent_lost_total",
                "Executions found unfinished after an agent restart",
            ),
            unknown: counter(
                "crony_agent_unknown_fires_total",
                "Instants a previous owner may have started without reporting them: recorded lost, not run again",
            ),
            fenced: counter(
                "crony_agent_fenced_fires_total",
                "Fires not run because the etcd lease was not certainly alive",
            ),
            held_unusable: counter(
                "crony_agent_held_jobs_unusable_total",
                "Held jobs read back at start that did not convert and were dropped",
            ),
            spool_depth: gauge(
                "crony_agent_spool_depth",
                "Execution reports waiting for a scheduler's acknowledgement",
            ),
            spool_bytes: gauge(
                "crony_agent_spool_bytes",
                "Bytes of execution reports waiting for a scheduler's acknowledgement",
            ),
            unrecorded: counter(
                "crony_agent_unrecorded_fires_total",
                "Fires not started because the spool could not record their start (disk full)",
            ),
            reports_set_aside: counter(
                "crony_agent_reports_set_aside_total",
                "Execution reports schedulers refused 3 times, moved to set-aside.jsonl",
            ),
            report_batch_seconds: histogram(
                "crony_agent_report_batch_seconds",
                "Time for a scheduler to store and acknowledge one batch of reports",
                fast,
            ),
            running: gauge("crony_agent_running_executions", "Executions in progress"),
            execution_seconds,
            registry,
        };
        #[cfg(target_os = "linux")]
        metrics
            .registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");
        metrics
    }

    /// An execution of job `id` (`name`) ended with `status`.
    pub fn finished(&self, id: &str, name: &str, status: &str) {
        if let Some(c) = self.jobs.counter(&self.executions, id, name, &[status]) {
            c.inc();
        }
    }

    /// Job `id` fires next at `at` (`None`: it will not, or is paused).
    pub fn next_fire(&self, id: &str, name: &str, at: Option<DateTime<Utc>>) {
        if let Some(g) = self.jobs.gauge(&self.next_fire, id, name, &[]) {
            match at {
                Some(at) => g.set(at.timestamp_millis() as f64 / 1000.0),
                None => g.set(f64::NAN),
            }
        }
    }

    /// Job `id` fired at `at` and fires next at `next`.
    pub fn fired(&self, id: &str, name: &str, at: DateTime<Utc>, next: DateTime<Utc>) {
        if let Some(g) = self.jobs.gauge(&self.interval, id, name, &[]) {
            g.set((next - at).num_milliseconds() as f64 / 1000.0);
        }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
