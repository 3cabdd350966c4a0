//! The live set of agents, kept equal to `{prefix}/agents/` in etcd: list, then watch from the
//! listed revision + 1; after compaction or a broken watch, list again (design §7).
//! The source is a trait so the loop does not depend on etcd's client types.

pub mod etcd;
pub mod keys;
pub mod recorder;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crony_common::registry::AgentRecord;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// One change under the agents directory.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Put(AgentRecord),
    Delete { id: String },
}

#[derive(Debug)]
pub enum WatchError {
    /// The requested revision was compacted away: list again.
    Compacted,
    /// The stream failed (etcd restarting, network): list again after a pause.
    Broken(String),
}

#[async_trait::async_trait]
pub trait AgentSource: Send + Sync + 'static {
    type Watch: AgentWatch;
    /// Every agent now, and the revision the listing reflects.
    async fn list(&self) -> Result<(Vec<AgentRecord>, i64), String>;
    /// Changes from `revision` on (inclusive).
    async fn watch(&self, revision: i64) -> Result<Self::Watch, String>;
}

#[async_trait::async_trait]
pub trait AgentWatch: Send {
    /// The next batch of changes (never empty).
    async fn next(&mut self) -> Result<Vec<Change>, WatchError>;
}

/// The agents whose lease is alive, as last seen in etcd.
#[derive(Debug)]
pub struct LiveAgents {
    agents: RwLock<BTreeMap<String, AgentRecord>>,
    /// Bumped on every change; `None` until the first listing, so nobody mistakes
    /// "not listed yet" for "no agents".
    version: watch::Sender<Option<u64>>,
}

impl Default for LiveAgents {
    fn default() -> Self {
        Self {
            agents: RwLock::default(),
            version: watch::Sender::new(None),
        }
    }
}

impl LiveAgents {
    pub fn snapshot(&self) -> Vec<AgentRecord> {
        self.read().values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<AgentRecord> {
        self.read().get(id).cloned()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.read().contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the set has been listed from etcd at least once.
    pub fn is_synced(&self) -> bool {
        self.version.borrow().is_some()
    }

    /// Wakes on every change (and on the first listing).
    pub fn subscribe(&self) -> watch::Receiver<Option<u64>> {
        self.version.subscribe()
    }

    fn replace_all(&self, records: Vec<AgentRecord>) {
        let fresh: BTreeMap<_, _> = records.into_iter().map(|r| (r.id.clone(), r)).collect();
        *self.agents.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.bump();
    }

    fn apply(&self, change: Change) {
        let mut agents = self.agents.write().unwrap_or_else(|e| e.into_inner());
        match change {
            Change::Put(record) => {
                tracing::info!(agent = %record.id, addr = %record.grpc_addr, "agent online");
                agents.insert(record.id.clone(), record);
            }
            Change::Delete { id } => {
                if agents.remove(&id).is_some() {
                    tracing::info!(agent = %id, "agent offline");
                }
            }
        }
        drop(agents);
        self.bump();
    }

    fn bump(&self) {
        self.version
            .send_modify(|v| *v = Some(v.map_or(1, |n| n + 1)));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, AgentRecord>> {
        self.agents.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps `live` equal to the source until `shutdown`.
pub async fn run_discovery<S: AgentSource>(
    source: S,
    live: Arc<LiveAgents>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut pause = Duration::from_millis(100);
    let rest = |pause: Duration| {
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                _ = shutdown.cancelled() => false,
                _ = tokio::time::sleep(pause) => true,
            }
        }
    };
    loop {
        let listed = tokio::select! {
            _ = shutdown.cancelled() => return,
            listed = source.list() => listed,
        };
        let revision = match listed {
            Ok((records, revision)) => {
                metrics.registry_lists.inc();
                tracing::debug!(agents = records.len(), revision, "listed agents");
                live.replace_all(records);
                revision
            }
            Err(e) => {
                tracing::warn!(error = %e, "listing agents in etcd failed; retrying");
                if !rest(pause).await {
                    return;
                }
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let mut watch = match source.watch(revision + 1).await {
            Ok(watch) => watch,
            Err(e) => {
                tracing::warn!(error = %e, "watching agents in etcd failed; listing again");
                if !rest(pause).await {
                    return;
                }
                continue;
            }
        };
        pause = Duration::from_millis(100);
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = watch.next() => next,
            };
            match next {
                Ok(changes) => changes.into_iter().for_each(|c| live.apply(c)),
                Err(WatchError::Compacted) => {
                    tracing::info!("agent watch fell behind compaction; listing again");
                    break;
                }
                Err(WatchError::Broken(e)) => {
                    tracing::warn!(error = %e, "agent watch broke; listing again");
                    if !rest(pause).await {
                        return;
                    }
                    break;
                }
            }
        }
    }
}
