//! Mirrors the live set into the `agents` table: at once after every change, and every few
//! seconds anyway, so a write missed while MySQL was down is repaired when it returns and
//! `last_seen` stays fresh.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::LiveAgents;
use crate::store::Store;

pub const REFRESH: Duration = Duration::from_secs(5);

pub async fn run_recorder(
    live: Arc<LiveAgents>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) {
    let mut changes = live.subscribe();
    let mut tick = tokio::time::interval(REFRESH);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        // Before the first listing an empty set means "unknown", not "everyone left".
        if !live.is_synced() {
            continue;
        }
        match store
            .record_live_agents(&live.snapshot(), chrono::Utc::now())
            .await
        {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("recording agents in MySQL works again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "recording agents in MySQL failed; will retry");
            }
            Err(_) => {}
        }
    }
}
