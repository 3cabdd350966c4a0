//! Why etcd cannot be reached: each endpoint dialled on its own, outside the etcd client's
//! balanced channel (which waits for a usable connection and never says why there is none), so
//! a refused connection or a failed TLS handshake becomes one line naming the setting to fix.

use std::time::Duration;

use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Endpoint;

use crate::error_chain::error_chain;
use crate::etcd_access::EtcdTls;

/// Which setting a failed dial points at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Blame {
    /// `CRONY_ETCD_ENDPOINTS` (refused, nothing listening, not etcd).
    Endpoint,
    /// A TLS setting, described.
    Tls(String),
}

/// The first endpoint that fails a plain `Maintenance.Status` call, with why and whom to blame;
/// `None` when every endpoint answers.
pub(crate) async fn probe_endpoints(
    endpoints: &[String],
    tls: Option<&EtcdTls>,
) -> Option<(String, String, Blame)> {
    for endpoint in endpoints {
        if let Err(message) = probe(endpoint, tls).await {
            let blame = blame(endpoint, &message, tls);
            return Some((endpoint.clone(), message, blame));
        }
    }
    None
}

async fn probe(endpoint: &str, tls: Option<&EtcdTls>) -> Result<(), String> {
    let mut dial = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| error_chain(&e))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3));
    if let Some(tls) = tls {
        dial = dial
            .tls_config(tls.options())
            .map_err(|e| error_chain(&e))?;
    }
    let call = async {
        let channel = dial.connect().await.map_err(|e| error_chain(&e))?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.map_err(|e| error_chain(&e))?;
        // StatusRequest is an empty message, and `()` decodes any answer, so no generated
        // types are needed for this one call.
        let path = PathAndQuery::from_static("/etcdserverpb.Maintenance/Status");
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        grpc.unary(tonic::Request::new(()), path, codec)
            .await
            .map(drop)
            .map_err(|status| status_text(&status))
    };
    tokio::time::timeout(Duration::from_secs(4), call)
        .await
        .unwrap_or_else(|_| Err("no answer within 4 s".into()))
}

/// A status that came from the transport carries the real cause (TLS alert, reset) as source.
pub(crate) fn status_text(status: &tonic::Status) -> String {
    let mut text = status.message().to_owned();
    crate::error_chain::append_sources(&mut text, std::error::Error::source(status));
    text
}

/// rustls words its failures "invalid peer certificate: …" when it rejects etcd's certificate,
/// and "received fatal alert: …" when etcd rejects this side's (or its missing) certificate.
fn blame(endpoint: &str, message: &str, tls: Option<&EtcdTls>) -> Blame {
    let Some(tls) = tls else {
        // Something listens but does not speak plain HTTP/2: most likely a TLS etcd, which
        // drops a connection that does not start with a TLS handshake.
        let unreachable = ["refused", "no answer", "dns", "timed out"];
        if unreachable
            .iter()
            .any(|m| message.to_lowercase().contains(m))
        {
            return Blame::Endpoint;
        }
        return Blame::Tls(format!(
            "{endpoint} is plain http://; if etcd serves TLS, use https:// and CRONY_ETCD_TLS_CA"
        ));
    };
    if message.contains("invalid peer certificate") {
        return Blame::Tls(match &tls.ca {
            Some((path, _)) => format!(
                "etcd's certificate is not signed by CRONY_ETCD_TLS_CA {}",
                path.display()
            ),
            None => "etcd's certificate does not chain to a public root; set CRONY_ETCD_TLS_CA \
                     to its CA"
                .to_owned(),
        });
    }
    if message.contains("alert") {
        return Blame::Tls(match &tls.identity {
            Some((path, ..)) => format!(
                "etcd refused the client certificate CRONY_ETCD_TLS_CERT {}",
                path.display()
            ),
            None => "etcd wants a client certificate: set CRONY_ETCD_TLS_CERT and \
                     CRONY_ETCD_TLS_KEY"
                .to_owned(),
        });
    }
    if message.contains("InvalidContentType") || message.contains("corrupt message") {
        return Blame::Tls(format!(
            "{endpoint} does not serve TLS; use http:// and no CRONY_ETCD_TLS_* settings"
        ));
    }
    Blame::Endpoint
}
