//! gRPC clients to agents (one lazily connected channel per agent URL), carrying the cluster
//! token and, for agents that serve TLS, verifying them against `CRONY_TLS_CA`; with short
//! timeouts so one dead agent cannot stall a reconcile pass. Pushes are cut into chunks of at
//! most `PUSH_CHUNK_BYTES`, so no job set reaches the explicit message limit.

use std::collections::HashMap;
use std::time::Duration;

use crony_common::registry::AgentRecord;
use crony_common::tls::{CaBundle, ServerIdentity, client_config};
use crony_proto::auth::AttachClusterToken;
use crony_proto::v1::agent_service_client::AgentServiceClient;
use crony_proto::v1::{AssignRequest, JobSpec, Released, RemoveRequest, SyncRequest};
use crony_proto::{MAX_MESSAGE_BYTES, PUSH_CHUNK_BYTES};
use prost::Message;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::domain::ids::JobId;

pub type Client = AgentServiceClient<InterceptedService<Channel, AttachClusterToken>>;

/// What it takes to call any agent: the cluster token, the CA that verifies agents serving
/// TLS (`None`: the webpki roots), and this scheduler's certificate, presented to agents that
/// require client certificates (mutual TLS).
#[derive(Clone)]
pub struct AgentDialer {
    pub token: AttachClusterToken,
    pub ca: Option<CaBundle>,
    pub identity: Option<ServerIdentity>,
    /// Traces the triggers sent to agents (`crony.push`); off unless `CRONY_OTEL_ENDPOINT`.
    pub tracer: crony_common::traces::Tracer,
}

impl AgentDialer {
    pub fn new(
        token: AttachClusterToken,
        ca: Option<CaBundle>,
        identity: Option<ServerIdentity>,
    ) -> Self {
        Self {
            token,
            ca,
            identity,
            tracer: crony_common::traces::Tracer::off(),
        }
    }

    /// Traces the triggers this dialer's clients send.
    pub fn with_tracer(mut self, tracer: crony_common::traces::Tracer) -> Self {
        self.tracer = tracer;
        self
    }
}

/// `https://addr` for agents that announce TLS, else `http://addr`.
pub fn agent_url(agent: &AgentRecord) -> String {
    let scheme = if agent.tls { "https" } else { "http" };
    format!("{scheme}://{}", agent.grpc_addr)
}

/// A lazily connecting client for `agent`.
pub fn agent_client(agent: &AgentRecord, dialer: &AgentDialer) -> Result<Client, String> {
    let url = agent_url(agent);
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| format!("bad agent address {:?}: {e}", agent.grpc_addr))?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10));
    if agent.tls {
        endpoint = endpoint
            .tls_config(client_config(dialer.ca.as_ref(), dialer.identity.as_ref()))
            .map_err(|e| format!("cannot set up TLS to {url}: {e}"))?;
    }
    Ok(
        AgentServiceClient::with_interceptor(endpoint.connect_lazy(), dialer.token.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
    )
}

/// "Unavailable: transport error: invalid peer certificate: UnknownIssuer": the reason of a
/// failed connection is only in the status's source chain.
pub fn status_text(status: &tonic::Status) -> String {
    let mut text = format!("{}: {}", status.code(), status.message());
    crony_common::error_chain::append_sources(&mut text, std::error::Error::source(status));
    text
}

pub struct AgentClients {
    dialer: AgentDialer,
    /// By agent URL: an agent restarted with TLS at the same address needs a new channel.
    clients: HashMap<String, Client>,
}

impl AgentClients {
    pub fn new(dialer: AgentDialer) -> Self {
        Self {
            dialer,
            clients: HashMap::new(),
        }
    }

    fn client(&mut self, agent: &AgentRecord) -> Result<Client, String> {
        let url = agent_url(agent);
        if let Some(client) = self.clients.get(&url) {
            return Ok(client.clone());
        }
        let client = agent_client(agent, &self.dialer)?;
        self.clients.insert(url, client.clone());
        Ok(client)
    }

    /// Forgets clients of agent URLs ([`agent_url`]) no longer in use.
    pub fn retain(&mut self, live_urls: &std::collections::HashSet<String>) {
        self.clients.retain(|url, _| live_urls.contains(url));
    }

    /// A future that replaces the agent's job set, chunk by chunk; resolves to the
    /// acknowledged generation.
    pub fn sync(
        &mut self,
        agent: &AgentRecord,
        term: u64,
        generation: u64,
        jobs: Vec<JobSpec>,
    ) -> impl std::future::Future<Output = Result<u64, String>> + Send + 'static {
        let client = self.client(agent);
        async move {
            let mut client = client?;
            let chunks = chunks(jobs);
            let last = chunks.len() - 1;
            let mut acked = 0;
            for (i, jobs) in chunks.into_iter().enumerate() {
                let request = SyncRequest {
                    term,
                    generation,
                    jobs,
                    chunk: i as u32,
                    more: i < last,
                };
                let response = client.sync(request).await.map_err(|s| status_text(&s))?;
                acked = response.into_inner().generation;
            }
            if acked != generation {
                return Err(format!(
                    "agent acknowledged generation {acked}, not {generation}"
                ));
            }
            Ok(acked)
        }
    }

    /// A future that adds or replaces `jobs` on the agent (in chunks).
    pub fn assign(
        &mut self,
        agent: &AgentRecord,
        term: u64,
        generation: u64,
        jobs: Vec<JobSpec>,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
        let client = self.client(agent);
        async move {
            let mut client = client?;
            for jobs in chunks(jobs) {
                let request = AssignRequest {
                    term,
                    jobs,
                    generation,
                };
                client.assign(request).await.map_err(|s| status_text(&s))?;
            }
            Ok(())
        }
    }

    /// A future that stops `job_ids` on the agent; resolves to what it released, each with
    /// the newest instant it fired.
    pub fn remove(
        &mut self,
        agent: &AgentRecord,
        term: u64,
        generation: u64,
        job_ids: Vec<JobId>,
    ) -> impl std::future::Future<Output = Result<Vec<Released>, String>> + Send + 'static {
        let client = self.client(agent);
        // The proto edge: the request carries plain strings.
        let job_ids: Vec<String> = job_ids.into_iter().map(String::from).collect();
        async move {
            let mut client = client?;
            let mut released = Vec::new();
            // Ids are at most 40 bytes: 20,000 per request stays far below the limit.
            for job_ids in job_ids.chunks(20_000) {
                let request = RemoveRequest {
                    term,
                    job_ids: job_ids.to_vec(),
                    generation,
                };
                let response = client.remove(request).await.map_err(|s| status_text(&s))?;
                released.extend(response.into_inner().released);
            }
            Ok(released)
        }
    }
}

/// Jobs cut into runs of at most [`PUSH_CHUNK_BYTES`] encoded (one job per run at least);
/// always at least one run, so an empty sync still says "nothing".
pub fn chunks(jobs: Vec<JobSpec>) -> Vec<Vec<JobSpec>> {
    let mut out = vec![Vec::new()];
    let mut size = 0;
    for job in jobs {
        let len = job.encoded_len();
        let current = out.last_mut().expect("never empty");
        if !current.is_empty() && size + len > PUSH_CHUNK_BYTES {
            out.push(Vec::new());
            size = 0;
        }
        size += len;
        out.last_mut().expect("never empty").push(job);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_stay_under_the_limit_and_keep_every_job_in_order() {
        let job = |i: usize| JobSpec {
            id: format!("{i:05}"),
            payload: "x".repeat(10_000),
            ..JobSpec::default()
        };
        let jobs: Vec<JobSpec> = (0..1000).map(job).collect();
        let cut = chunks(jobs.clone());
        assert!(cut.len() > 1);
        for chunk in &cut {
            let bytes: usize = chunk.iter().map(|j| j.encoded_len()).sum();
            assert!(bytes <= PUSH_CHUNK_BYTES);
        }
        assert_eq!(cut.concat(), jobs);
        assert_eq!(chunks(Vec::new()), vec![Vec::<JobSpec>::new()]);
    }
}
