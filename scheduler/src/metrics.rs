//! Prometheus metrics of one scheduler instance (its own registry, so several instances can
//! run in one test process), rendered as text on `/metrics`.

use std::collections::HashMap;
use std::sync::Mutex;

use crony_common::job_series::{JobSeries, PerJob};
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub live_agents: IntGauge,
    pub registry_lists: IntCounter,
    /// Executions that reached a final status, counted when the stored row changes state
    /// (replays of the same report do not count again), by `job_id`, `job_name` and
    /// `status`: through [`Metrics::settled`].
    executions: IntCounterVec,
    /// When each job last succeeded (Unix seconds, as this scheduler recorded it).
    last_success: GaugeVec,
    /// The per-job series (`CRONY_METRICS_PER_JOB`), removed with their job.
    pub jobs: JobSeries,
    /// Job names by id, for the `job_name` label (see `job_names.rs`).
    names: Mutex<HashMap<String, String>>,
    /// Settlements of jobs whose name is not known yet, counted once it is.
    unnamed: Mutex<Vec<(String, &'static str)>>,
    /// 1 while this scheduler leads (set at each scrape).
    pub is_leader: IntGauge,
    /// API requests by route template, method and status.
    pub http_requests: IntCounterVec,
    pub http_seconds: HistogramVec,
    /// Time one alert delivery took, by channel (sent or failed).
    pub alert_delivery_seconds: HistogramVec,
    pub report_batch_seconds: Histogram,
    pub report_batch_size: Histogram,
    pub async_timeouts: IntCounter,
    pub alerts_sent: IntCounterVec,
    /// Failed delivery attempts (each retry counts).
    pub alerts_failed: IntCounterVec,
    /// Alerts held back by throttling or grouped into another alert's message.
    pub alerts_suppressed: IntCounter,
    /// The leader's reconcile passes, `kind` full (every job planned) or delta (changed ones).
    pub reconcile_pass_seconds: HistogramVec,
    /// Reports received but not committed (MySQL away), kept and written again by the writer.
    pub ingest_retained: IntGauge,
    pub ingest_retained_total: IntCounter,
}

impl Metrics {
    /// Per-job series on `auto`.
    pub fn new() -> Self {
        Self::with_per_job(PerJob::Auto)
    }

    pub fn with_per_job(per_job: PerJob) -> Self {
        let registry = Registry::new();
        let live_agents = IntGauge::new("crony_live_agents", "Agents whose etcd lease is alive")
            .expect("valid metric");
        let registry_lists = IntCounter::new(
            "crony_registry_lists_total",
            "Full listings of the agent registry (start-up, compaction, broken watch)",
        )
        .expect("valid metric");
        let executions = IntCounterVec::new(
            Opts::new(
                "crony_executions_total",
                "Executions that reached a final status, by job and status",
            ),
            &["job_id", "job_name", "status"],
        )
        .expect("valid metric");
        let last_success = GaugeVec::new(
            Opts::new(
                "crony_job_last_success_timestamp_seconds",
                "When the job's newest execution that succeeded was recorded (Unix seconds)",
            ),
            &["job_id", "job_name"],
        )
        .expect("valid metric");
        let is_leader = IntGauge::new(
            "crony_scheduler_is_leader",
            "1 while this scheduler is the leader",
        )
        .expect("valid metric");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "crony_http_requests_total",
                "API and dashboard requests, by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_seconds = HistogramVec::new(
            HistogramOpts::new(
                "crony_http_request_duration_seconds",
                "Time to answer an API or dashboard request, by route template and method",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route", "method"],
        )
        .expect("valid metric");
        let alert_delivery_seconds = HistogramVec::new(
            HistogramOpts::new(
                "crony_alert_delivery_seconds",
                "Time one alert delivery took (sent or failed), by channel",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["channel"],
        )
        .expect("valid metric");
        let report_batch_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "crony_report_batch_seconds",
                "Time to write one batch of execution reports to MySQL",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid metric");
        let report_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "crony_report_batch_size",
                "Execution reports written per MySQL batch",
            )
            .buckets(vec![
                1.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0,
            ]),
        )
        .expect("valid metric");
        let async_timeouts = IntCounter::new(
            "crony_async_timeouts_total",
            "Async executions timed out because no result arrived before their deadline",
        )
        .expect("valid metric");
        let alerts_sent = IntCounterVec::new(
            Opts::new("crony_alerts_sent_total", "Alerts delivered, by channel"),
            &["channel"],
        )
        .expect("valid metric");
        let alerts_failed = IntCounterVec::new(
            Opts::new(
                "crony_alerts_failed_total",
                "Failed alert delivery attempts, by channel",
            ),
            &["channel"],
        )
        .expect("valid metric");
        let alerts_suppressed = IntCounter::new(
            "crony_alerts_suppressed_total",
            "Alerts throttled or grouped into another alert's message",
        )
        .expect("valid metric");
        let reconcile_pass_seconds = HistogramVec::new(
            HistogramOpts::new(
                "crony_reconcile_pass_seconds",
                "Time of one reconcile pass of the leader (plan, moves, pushes), by kind",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["kind"],
        )
        .expect("valid metric");
        let ingest_retained = IntGauge::new(
            "crony_ingest_retained_reports",
            "Execution reports received but not yet committed (MySQL away), kept to write again",
        )
        .expect("valid metric");
        let ingest_retained_total = IntCounter::new(
            "crony_ingest_retained_total",
            "Execution reports (new ones or newer revisions) kept because MySQL was away",
        )
        .expect("valid metric");
        let collectors: [Box<dyn prometheus::core::Collector>; 17] = [
            Box::new(last_success.clone()),
            Box::new(is_leader.clone()),
            Box::new(http_requests.clone()),
            Box::new(http_seconds.clone()),
            Box::new(alert_delivery_seconds.clone()),
            Box::new(live_agents.clone()),
            Box::new(registry_lists.clone()),
            Box::new(executions.clone()),
            Box::new(report_batch_seconds.clone()),
            Box::new(report_batch_size.clone()),
            Box::new(async_timeouts.clone()),
            Box::new(alerts_sent.clone()),
            Box::new(alerts_failed.clone()),
            Box::new(alerts_suppressed.clone()),
            Box::new(reconcile_pass_seconds.clone()),
            Box::new(ingest_retained.clone()),
            Box::new(ingest_retained_total.clone()),
        ];
        for collector in collectors {
            registry.register(collector).expect("unique metric");
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");
        crony_common::build_info::register(&registry, "crony-scheduler");
        Self {
            registry,
            live_agents,
            registry_lists,
            executions,
            last_success,
            jobs: JobSeries::new(per_job),
            names: Mutex::new(HashMap::new()),
            unnamed: Mutex::new(Vec::new()),
            is_leader,
            http_requests,
            http_seconds,
            alert_delivery_seconds,
            report_batch_seconds,
            report_batch_size,
            async_timeouts,
            alerts_sent,
            alerts_failed,
            alerts_suppressed,
            reconcile_pass_seconds,
            ingest_retained,
            ingest_retained_total,
        }
    }

    /// An execution of job `id` settled with `status`: counted under the job's name, or once
    /// the name is known (the next name refresh) when it is not yet.
    pub fn settled(&self, id: &str, status: &'static str) {
        let name = self.names.lock().expect("names lock").get(id).cloned();
        match name {
            Some(name) => self.count(id, &name, status),
            None => self
                .unnamed
                .lock()
                .expect("unnamed lock")
                .push((id.to_owned(), status)),
        }
    }

    fn count(&self, id: &str, name: &str, status: &str) {
        if let Some(c) = self.jobs.counter(&self.executions, id, name, &[status]) {
            c.inc();
        }
        if status == "succeeded"
            && let Some(g) = self.jobs.gauge(&self.last_success, id, name, &[])
        {
            g.set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        }
    }

    /// Job `id` is called `name` now (created, replaced, or read back).
    pub fn named(&self, id: &str, name: &str) {
        let mut names = self.names.lock().expect("names lock");
        names.insert(id.to_owned(), name.to_owned());
    }

    /// Job `id` is gone: its series and name too.
    pub fn forget(&self, id: &str) {
        self.names.lock().expect("names lock").remove(id);
        self.jobs.forget(id);
    }

    /// Every job's name, read from MySQL: series of jobs deleted or renamed elsewhere go, and
    /// settlements waiting for a name are counted. `count` is how many jobs exist.
    pub fn names_loaded(&self, all: HashMap<String, String>, count: usize) {
        self.jobs.retain(|id| all.get(id).cloned(), count);
        *self.names.lock().expect("names lock") = all;
        let waiting = std::mem::take(&mut *self.unnamed.lock().expect("unnamed lock"));
        for (id, status) in waiting {
            let name = self.names.lock().expect("names lock").get(&id).cloned();
            // A job deleted before its name was ever read: nothing to count it under.
            if let Some(name) = name {
                self.count(&id, &name, status);
            }
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
