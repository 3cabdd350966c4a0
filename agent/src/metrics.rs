//! Prometheus metrics of one agent (its own registry, so several agents can run in one test
//! process), served as text on the agent's `/metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Finished executions by job and final status (succeeded, failed, skipped, missed, …).
    pub executions: IntCounterVec,
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
    /// Fires not started because the spool could not record their start.
    pub unrecorded: IntCounter,
    /// Reports schedulers refused again and again, moved to `set-aside.jsonl`.
    pub reports_set_aside: IntCounter,
    pub report_batch_seconds: Histogram,
    pub running: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
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
            &["job", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(executions.clone()))
            .expect("unique metric");
        let fast = vec![
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ];
        let metrics = Self {
            executions,
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
