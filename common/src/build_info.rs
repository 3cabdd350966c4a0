//! `crony_build_info{binary, version} 1`: which build runs, for dashboards and upgrades; the
//! same series on scheduler and agent.

use prometheus::{IntGaugeVec, Opts, Registry};

/// Registers the series for `binary` (the workspace's version: every crate shares it).
pub fn register(registry: &Registry, binary: &str) {
    let info = IntGaugeVec::new(
        Opts::new("crony_build_info", "The running build: always 1"),
        &["binary", "version"],
    )
    .expect("valid metric");
    info.with_label_values(&[binary, env!("CARGO_PKG_VERSION")])
        .set(1);
    registry.register(Box::new(info)).expect("unique metric");
}
