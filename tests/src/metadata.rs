//! A cloud metadata service, as someone would aim Crony at it to read credentials: a real
//! HTTP server that answers every request with a secret body and counts the requests. It
//! listens on one port of several loopback addresses (127.0.0.1, 127.0.0.3, and ::1 when the
//! machine has it), so a URL can reach it by an address literal or by the name `localhost`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};

/// What the service answers; it must never appear in anything Crony shows or stores.
pub const SECRET_BODY: &str =
    "{\"AccessKeyId\":\"ASIA-METADATA-SECRET\",\"Token\":\"metadata-secret-token-5f3a\"}";

/// The refused address the service listens on besides 127.0.0.1.
pub const METADATA_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

pub struct MetadataServer {
    pub port: u16,
    requests: Arc<AtomicUsize>,
    _stop: DropGuard,
}

impl MetadataServer {
    pub async fn start() -> anyhow::Result<Self> {
        // The port comes from 127.0.0.1; the other addresses take the same one (a few tries,
        // in case another test holds it there).
        let mut last_error = None;
        for _ in 0..20 {
            match Self::bind_all().await {
                Ok(listeners) => return Ok(Self::serve(listeners)),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no port")))
    }

    async fn bind_all() -> anyhow::Result<Vec<TcpListener>> {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = first.local_addr()?.port();
        let mut listeners = vec![first, TcpListener::bind((METADATA_IP, port)).await?];
        // `localhost` may resolve to ::1 first; without IPv6 it does not resolve there at all.
        if let Ok(v6) =
            TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)).await
        {
            listeners.push(v6);
        }
        Ok(listeners)
    }

    fn serve(listeners: Vec<TcpListener>) -> Self {
        let port = listeners[0]
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        for listener in listeners {
            let counter = requests.clone();
            // 500 with the secret: a client that quotes error answers would show it.
            let app = Router::new().fallback(any(move || async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (StatusCode::INTERNAL_SERVER_ERROR, SECRET_BODY)
            }));
            let shutdown = stop.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await;
            });
        }
        Self {
            port,
            requests,
            _stop: stop.drop_guard(),
        }
    }

    /// A URL of the service by its refused address literal.
    pub fn url(&self, path: &str) -> String {
        format!("http://{METADATA_IP}:{}{path}", self.port)
    }

    /// A URL of the service by a name that resolves to it (and to nothing allowed).
    pub fn named_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    /// How many requests reached the service, on any of its addresses.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}
