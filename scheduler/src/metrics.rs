//! Prometheus metrics of one scheduler instance (its own registry, so several instances can
//! run in one test process), rendered as text on `/metrics`.

use prometheus::{Encoder, IntCounter, IntGauge, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    pub live_agents: IntGauge,
    pub registry_lists: IntCounter,
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
        registry
            .register(Box::new(live_agents.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(registry_lists.clone()))
            .expect("unique metric");
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
