//! A user's HTTP service, as far as Crony sees it: a real axum server on loopback that records
//! every call (time, headers, body) and answers with a programmable status and delay.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// One call the sink received.
#[derive(Debug, Clone)]
pub struct Call {
    pub received_at: DateTime<Utc>,
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Call {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    /// Statuses to answer, in order; when empty, `default_status`.
    script: VecDeque<u16>,
    default_status: u16,
    delay: Duration,
}

/// Answers `{"ok":true}` with 200 unless told otherwise.
#[derive(Clone)]
pub struct HttpSink {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: CancellationToken,
}

impl HttpSink {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// Like [`HttpSink::start`], on a port of `ip` (another loopback address than 127.0.0.1,
    /// to tell allowed hosts from refused ones).
    pub async fn start_on(ip: std::net::IpAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            default_status: 200,
            ..Inner::default()
        }));
        let stop = CancellationToken::new();
        let app = Router::new()
            .fallback(any(handle))
            .with_state(inner.clone());
        let shutdown = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
        });
        Ok(Self { addr, inner, stop })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Calls whose path is `path`.
    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }

    /// How many distinct values of `header` the calls to `path` carried, counted in place:
    /// cheap enough to poll while thousands of calls arrive (cloning them all would hold the
    /// sink's lock long enough to delay the calls being measured).
    pub fn distinct(&self, path: &str, header: &str) -> usize {
        let inner = self.lock();
        inner
            .calls
            .iter()
            .filter(|c| c.path == path)
            .filter_map(|c| c.headers.get(header).map(|v| v.as_bytes()))
            .collect::<std::collections::HashSet<&[u8]>>()
            .len()
    }

    pub fn answer(&self, status: u16) {
        self.lock().default_status = status;
    }

    /// Answer these statuses to the next calls, then the default again.
    pub fn script(&self, statuses: &[u16]) {
        self.lock().script = statuses.iter().copied().collect();
    }

    pub fn delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        if Arc::strong_count(&self.inner) <= 2 {
            self.stop.cancel();
        }
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let (status, delay) = {
        let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.calls.push(Call {
            received_at: Utc::now(),
            path: uri.path().to_owned(),
            headers,
            body,
        });
        let status = inner.script.pop_front().unwrap_or(inner.default_status);
        (status, inner.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        format!("{{\"answered\":{status}}}"),
    )
}
