//! gRPC clients to agents (one lazily connected channel per address), carrying the cluster
//! token, with short timeouts so one dead agent cannot stall a reconcile pass.

use std::collections::HashMap;
use std::time::Duration;

use crony_proto::auth::AttachClusterToken;
use crony_proto::v1::SyncRequest;
use crony_proto::v1::agent_service_client::AgentServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub type Client = AgentServiceClient<InterceptedService<Channel, AttachClusterToken>>;

/// A lazily connecting client for the agent at `addr` (`host:port`).
pub fn agent_client(addr: &str, token: &AttachClusterToken) -> Result<Client, String> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("bad agent address {addr:?}: {e}"))?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10));
    Ok(
        AgentServiceClient::with_interceptor(endpoint.connect_lazy(), token.clone())
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(256 * 1024 * 1024),
    )
}

pub struct AgentClients {
    token: AttachClusterToken,
    clients: HashMap<String, Client>,
}

impl AgentClients {
    pub fn new(token: AttachClusterToken) -> Self {
        Self {
            token,
            clients: HashMap::new(),
        }
    }

    fn client(&mut self, addr: &str) -> Result<Client, String> {
        if let Some(client) = self.clients.get(addr) {
            return Ok(client.clone());
        }
        let client = agent_client(addr, &self.token)?;
        self.clients.insert(addr.to_owned(), client.clone());
        Ok(client)
    }

    /// Forgets clients of addresses no longer in use.
    pub fn retain(&mut self, live_addrs: &std::collections::HashSet<String>) {
        self.clients.retain(|addr, _| live_addrs.contains(addr));
    }

    /// A future that replaces the agent's job set; resolves to the acknowledged generation.
    pub fn sync(
        &mut self,
        addr: &str,
        request: SyncRequest,
    ) -> impl std::future::Future<Output = Result<u64, String>> + Send + 'static {
        let client = self.client(addr);
        async move {
            let mut client = client?;
            let response = client
                .sync(request)
                .await
                .map_err(|s| format!("{}: {}", s.code(), s.message()))?;
            Ok(response.into_inner().generation)
        }
    }
}
