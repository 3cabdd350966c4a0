//! The leader's alerting: the recorder (outbox to alerts), agents leaving and coming back
//! (changes of the live set), and the delivery worker. Only the leader runs this, so several
//! schedulers record each event once and send each alert once.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::events::{AlertEvents, Happening};
use super::recorder::Recorder;
use super::worker::Worker;
use crate::domain::ids::AgentId;
use crate::registry::LiveAgents;

/// The leader's alerting: started with each leadership, stopped with it.
#[derive(Clone)]
pub struct LeaderAlerting {
    pub recorder: Recorder,
    pub worker: Worker,
    pub live: Arc<LiveAgents>,
    pub events: AlertEvents,
}

impl LeaderAlerting {
    pub async fn run(self, cancel: CancellationToken) {
        tokio::join!(
            self.recorder.clone().run(cancel.clone()),
            self.worker.clone().run(cancel.clone()),
            self.agents(&cancel)
        );
    }

    /// Compares each synced live set with the previous one. The first synced set of a
    /// leadership is the baseline: an agent that died during a leader change is reported by
    /// its lost executions and the failover, not here.
    async fn agents(&self, cancel: &CancellationToken) {
        let mut changes = self.live.subscribe();
        let mut known: Option<BTreeSet<String>> = None;
        loop {
            if self.live.is_synced() {
                let now: BTreeSet<String> =
                    self.live.snapshot().into_iter().map(|a| a.id).collect();
                if let Some(before) = &known {
                    for (changes, online) in [
                        (before.difference(&now), false),
                        (now.difference(before), true),
                    ] {
                        for agent in changes {
                            // The registry's records are `crony-common` types: plain strings.
                            let (agent_id, at) = (AgentId::from(agent.as_str()), Utc::now());
                            tracing::info!(agent = %agent_id, online, "agent alert");
                            self.events.emit(if online {
                                Happening::AgentOnline { agent_id, at }
                            } else {
                                Happening::AgentOffline { agent_id, at }
                            });
                        }
                    }
                }
                known = Some(now);
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }
}
