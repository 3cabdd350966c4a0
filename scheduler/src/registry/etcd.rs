//! [`AgentSource`] over etcd: a prefix `get` for the listing, a prefix watch for the changes.

use crony_common::registry::agents_dir;
use std::time::Duration;

use etcd_client::{Client, EventType, GetOptions, WatchOptions, WatchStream};
use tokio::time::Instant;

use super::keys::parse_agent;
use super::{AgentSource, AgentWatch, Change, WatchError};

pub struct EtcdAgentSource {
    client: Client,
    dir: String,
}

impl EtcdAgentSource {
    pub fn new(client: Client, prefix: &str) -> Self {
        Self {
            client,
            dir: agents_dir(prefix),
        }
    }
}

#[async_trait::async_trait]
impl AgentSource for EtcdAgentSource {
    type Watch = EtcdAgentWatch;

    async fn list(&self) -> Result<(Vec<crony_common::registry::AgentRecord>, i64), String> {
        let response = self
            .client
            .clone()
            .get(self.dir.as_str(), Some(GetOptions::new().with_prefix()))
            .await
            .map_err(|e| e.to_string())?;
        let revision = response.header().map(|h| h.revision()).unwrap_or_default();
        let records = response
            .kvs()
            .iter()
            .filter_map(|kv| match parse_agent(&self.dir, kv.key(), kv.value()) {
                Ok(record) => Some(record),
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring invalid agent record");
                    None
                }
            })
            .collect();
        Ok((records, revision))
    }

    async fn watch(&self, revision: i64) -> Result<EtcdAgentWatch, String> {
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision);
        let stream = self
            .client
            .clone()
            .watch(self.dir.as_str(), Some(options))
            .await
            .map_err(|e| e.to_string())?;
        Ok(EtcdAgentWatch {
            stream,
            dir: self.dir.clone(),
            last_heard: Instant::now(),
        })
    }
}

/// How often an idle watch asks etcd for a progress notification, and how long it waits for
/// any answer before calling the connection dead (a partition shows no error by itself).
const PROBE_EVERY: Duration = Duration::from_secs(5);
const SILENCE_LIMIT: Duration = Duration::from_secs(12);

pub struct EtcdAgentWatch {
    stream: WatchStream,
    dir: String,
    last_heard: Instant,
}

#[async_trait::async_trait]
impl AgentWatch for EtcdAgentWatch {
    async fn next(&mut self) -> Result<Vec<Change>, WatchError> {
        let mut probe = tokio::time::interval_at(Instant::now() + PROBE_EVERY, PROBE_EVERY);
        loop {
            let message = tokio::select! {
                message = self.stream.message() => message,
                _ = probe.tick() => {
                    if self.last_heard.elapsed() > SILENCE_LIMIT {
                        return Err(WatchError::Broken("etcd silent for 12 s".into()));
                    }
                    if let Err(e) = self.stream.request_progress().await {
                        return Err(WatchError::Broken(e.to_string()));
                    }
                    continue;
                }
            };
            self.last_heard = Instant::now();
            let response = match message {
                Ok(Some(response)) => response,
                Ok(None) => return Err(WatchError::Broken("watch stream closed".into())),
                Err(e) => return Err(WatchError::Broken(e.to_string())),
            };
            if response.compact_revision() > 0 {
                return Err(WatchError::Compacted);
            }
            if response.canceled() {
                let reason = response.cancel_reason().to_owned();
                return Err(WatchError::Broken(format!("watch cancelled: {reason}")));
            }
            let changes: Vec<Change> = response
                .events()
                .iter()
                .filter_map(|event| {
                    let kv = event.kv()?;
                    match event.event_type() {
                        EventType::Put => match parse_agent(&self.dir, kv.key(), kv.value()) {
                            Ok(record) => Some(Change::Put(record)),
                            Err(e) => {
                                tracing::warn!(error = %e, "ignoring invalid agent record");
                                None
                            }
                        },
                        EventType::Delete => {
                            let key = std::str::from_utf8(kv.key()).ok()?;
                            let id = super::keys::agent_id_of(&self.dir, key)?;
                            Some(Change::Delete { id: id.to_owned() })
                        }
                    }
                })
                .collect();
            if !changes.is_empty() {
                return Ok(changes);
            }
        }
    }
}
