//! gRPC clients to agents (one lazily connected channel per agent URL), carrying the cluster
//! token and, for agents that serve TLS, verifying them against `CRONY_TLS_CA`; with short
//! timeouts so one dead agent cannot stall a reconcile pass.

use std::collections::HashMap;
use std::time::Duration;

use crony_common::registry::AgentRecord;
use crony_common::tls::{CaBundle, ServerIdentity, client_config};
use crony_proto::auth::AttachClusterToken;
use crony_proto::v1::SyncRequest;
use crony_proto::v1::agent_service_client::AgentServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub type Client = AgentServiceClient<InterceptedService<Channel, AttachClusterToken>>;

/// What it takes to call any agent: the cluster token, the CA that verifies agents serving
/// TLS (`None`: the webpki roots), and this scheduler's certificate, presented to agents that
/// require client certificates (mutual TLS).
#[derive(Clone)]
pub struct AgentDialer {
    pub token: AttachClusterToken,
    pub ca: Option<CaBundle>,
    pub identity: Option<ServerIdentity>,
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
        }
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
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(256 * 1024 * 1024),
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

    /// A future that replaces the agent's job set; resolves to the acknowledged generation.
    pub fn sync(
        &mut self,
        agent: &AgentRecord,
        request: SyncRequest,
    ) -> impl std::future::Future<Output = Result<u64, String>> + Send + 'static {
        let client = self.client(agent);
        async move {
            let mut client = client?;
            let response = client.sync(request).await.map_err(|s| status_text(&s))?;
            Ok(response.into_inner().generation)
        }
    }
}
