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
        if let Err(failure) = probe(endpoint, tls).await {
            let blame = blame(endpoint, &failure, tls);
            let message = failure.message;
            return Some((endpoint.clone(), message, blame));
        }
    }
    None
}

/// A failed dial, and whether it failed before the connection (and its TLS handshake) was up.
struct Failure {
    connecting: bool,
    message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            connecting: false,
            message,
        }
    }
}

async fn probe(endpoint: &str, tls: Option<&EtcdTls>) -> Result<(), Failure> {
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
        let channel = dial.connect().await.map_err(|e| Failure {
            connecting: true,
            message: error_chain(&e),
        })?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.map_err(|e| error_chain(&e))?;
        // StatusRequest is an empty message, and `()` decodes any answer, so no generated
        // types are needed for this one call.
        let path = PathAndQuery::from_static("/etcdserverpb.Maintenance/Status");
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        grpc.unary(tonic::Request::new(()), path, codec)
            .await
            .map(drop)
            .map_err(|status| Failure::from(status_text(&status)))
    };
    tokio::time::timeout(Duration::from_secs(4), call)
        .await
        .unwrap_or_else(|_| Err(Failure::from("no answer within 4 s".to_owned())))
}

/// A status that came from the transport carries the real cause (TLS alert, reset) as source.
pub(crate) fn status_text(status: &tonic::Status) -> String {
    let mut text = status.message().to_owned();
    crate::error_chain::append_sources(&mut text, std::error::Error::source(status));
    text
}

/// rustls words its failures "invalid peer certificate: …" when it rejects etcd's certificate,
/// and "received fatal alert: …" when etcd rejects this side's (or its missing) certificate.
fn blame(endpoint: &str, failure: &Failure, tls: Option<&EtcdTls>) -> Blame {
    let message = failure.message.as_str();
    let unreachable = [
        "refused",
        "no answer",
        "dns",
        "timed out",
        "tcp connect error",
    ];
    if unreachable
        .iter()
        .any(|m| message.to_lowercase().contains(m))
    {
        return Blame::Endpoint;
    }
    let Some(tls) = tls else {
        // Something listens but does not speak plain HTTP/2: most likely a TLS etcd, which
        // drops a connection that does not start with a TLS handshake.
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
    // A plain etcd answers a ClientHello with an HTTP/2 frame, or just hangs up (a close, or a
    // reset when the hello was still unread) before the handshake is done. A refused client
    // certificate is an alert, or (TLS 1.3) a close after the handshake.
    let plain = ["InvalidContentType", "corrupt message", "tls handshake eof"];
    let hung_up = failure.connecting && !message.contains("alert");
    if hung_up || plain.iter().any(|m| message.contains(m)) {
        return Blame::Tls(format!(
            "{endpoint} probably does not serve TLS; for a plain etcd use http:// and no \
             CRONY_ETCD_TLS_* settings"
        ));
    }
    // etcd's certificate was accepted. A TLS 1.3 server judges the client's certificate after
    // the client considers the handshake done: its alert, or only the closed connection when
    // the close wins the race with the alert, arrives with the first request.
    let closed = ["alert", "connection closed", "broken pipe", "reset"];
    if closed.iter().any(|m| message.contains(m)) {
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
    Blame::Endpoint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_blame_the_setting_to_fix() {
        let ep = "https://e:1";
        let tls = EtcdTls::default();
        let after = |message: &str| Failure::from(message.to_owned());
        let connecting = |message: &str| Failure {
            connecting: true,
            message: message.to_owned(),
        };
        let tls_blame = |message: &str| match blame(ep, &after(message), Some(&tls)) {
            Blame::Tls(text) => text,
            Blame::Endpoint => String::new(),
        };
        assert!(tls_blame("invalid peer certificate: UnknownIssuer").contains("CRONY_ETCD_TLS_CA"));
        assert!(tls_blame("received fatal alert: BadCertificate").contains("CRONY_ETCD_TLS_CERT"));
        assert!(
            tls_blame("operation was canceled: connection closed").contains("CRONY_ETCD_TLS_CERT")
        );
        assert!(
            tls_blame("received corrupt message of type InvalidContentType").contains("http://")
        );
        let refused = connecting("tcp connect error: Connection refused");
        assert_eq!(blame(ep, &refused, Some(&tls)), Blame::Endpoint);
        // A plain etcd that resets the connection during the handshake is not a certificate
        // problem (this was once blamed on CRONY_ETCD_TLS_CERT).
        let reset = connecting("transport error: Connection reset by peer (os error 104)");
        assert!(
            matches!(blame(ep, &reset, Some(&tls)), Blame::Tls(t) if t.contains("does not serve TLS"))
        );
        let alert = connecting("transport error: received fatal alert: CertificateRequired");
        assert!(
            matches!(blame(ep, &alert, Some(&tls)), Blame::Tls(t) if t.contains("CRONY_ETCD_TLS_CERT"))
        );
        let plain = "http://e:1";
        assert_eq!(blame(plain, &refused, None), Blame::Endpoint);
        let pipe = after("stream closed because of a broken pipe");
        assert!(matches!(blame(plain, &pipe, None), Blame::Tls(t) if t.contains("https://")));
    }
}
