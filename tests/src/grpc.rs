//! A client of an agent's `AgentService`, the way a scheduler calls it: with a cluster token
//! (the harness's, or whatever an outsider test wants to try).

use std::time::Duration;

use crony_proto::auth::AttachClusterToken;
use crony_proto::v1::agent_service_client::AgentServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub type AgentClient = AgentServiceClient<InterceptedService<Channel, AttachClusterToken>>;

/// A lazily connecting client for the agent at `addr` (`host:port`, plain gRPC) that sends
/// `token` as the cluster token, or none.
pub fn agent_client_with(addr: &str, token: Option<&str>) -> anyhow::Result<AgentClient> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(15));
    Ok(AgentServiceClient::with_interceptor(
        endpoint.connect_lazy(),
        AttachClusterToken::new(token).map_err(anyhow::Error::msg)?,
    )
    .max_decoding_message_size(64 * 1024 * 1024))
}

/// [`agent_client_with`] the harness's [`crate::CLUSTER_TOKEN`].
pub fn agent_client(addr: &str) -> anyhow::Result<AgentClient> {
    agent_client_with(addr, Some(crate::CLUSTER_TOKEN))
}

/// A lazily connecting TLS channel to `addr` that trusts `ca`'s CA and, with `client`,
/// presents `client`'s certificate (mutual TLS).
pub fn tls_channel(
    addr: &str,
    ca: &crate::TestPki,
    client: Option<&crate::TestPki>,
) -> anyhow::Result<Channel> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(&ca.ca)?));
    if let Some(client) = client {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(&client.cert)?,
            std::fs::read(&client.key)?,
        ));
    }
    Ok(Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(15))
        .connect_lazy())
}

/// A token-carrying client of the agent at `addr` over `channel` (see [`tls_channel`]).
pub fn agent_client_on(channel: Channel) -> AgentClient {
    AgentServiceClient::with_interceptor(
        channel,
        AttachClusterToken::new(Some(crate::CLUSTER_TOKEN)).expect("printable token"),
    )
}

/// A token-carrying client of a scheduler's `ReportService` over `channel`.
pub fn report_client_on(channel: Channel) -> crate::reports::ReportClient {
    crony_proto::v1::report_service_client::ReportServiceClient::with_interceptor(
        channel,
        AttachClusterToken::new(Some(crate::CLUSTER_TOKEN)).expect("printable token"),
    )
}
