//! Prometheus metrics of one scheduler instance (its own registry, so several instances can
//! run in one test process), rendered as text on `/metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub live_agents: IntGauge,
    pub registry_lists: IntCounter,
    /// Executions that reached a final status, counted when the stored row changes state
    /// (replays of the same report do not count again). `job` is the job id.
    pub executions: IntCounterVec,
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
    pub fn new() -> Self {
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
                "Executions that reached a final status, by job id and status",
            ),
            &["job", "status"],
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
        let collectors: [Box<dyn prometheus::core::Collector>; 12] = [
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
        Self {
            registry,
            live_agents,
            registry_lists,
            executions,
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
