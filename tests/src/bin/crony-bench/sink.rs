//! The user's service for `crony-bench fire`, in its own process (`crony-bench sink`), so the
//! lateness it measures is what a real service sees, not a figure shared with the scheduler's
//! runtime. It records each call's job, scheduled instant and arrival, and hands the record
//! over on `GET /calls`; it stops when its parent closes its stdin.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use chrono::DateTime;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// (job id, scheduled instant ms, received instant µs)
pub type Call = (String, i64, i64);
type Calls = Arc<Mutex<Vec<Call>>>;

/// `crony-bench sink`: serves until stdin closes; prints its address first.
pub async fn serve() -> anyhow::Result<()> {
    let calls: Calls = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    let app = Router::new()
        .route("/fire", post(record))
        .route("/calls", get(list))
        .with_state(calls);
    let stdin_closed = async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stdin_closed)
        .await?;
    Ok(())
}

async fn record(State(calls): State<Calls>, headers: HeaderMap) -> &'static str {
    let received = chrono::Utc::now().timestamp_micros();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let scheduled = DateTime::parse_from_rfc3339(header("x-crony-scheduled-at"))
        .map(|t| t.timestamp_millis())
        .unwrap_or(0);
    let call = (header("x-crony-job-id").to_owned(), scheduled, received);
    calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
    "ok"
}

/// One line per call: `job scheduled_ms received_us`.
async fn list(State(calls): State<Calls>) -> String {
    let calls = calls.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::with_capacity(calls.len() * 64);
    for (job, at, received) in calls.iter() {
        out.push_str(&format!("{job} {at} {received}\n"));
    }
    out
}

/// A running sink process.
pub struct SinkProcess {
    child: tokio::process::Child,
    pub base: String,
}

impl SinkProcess {
    pub async fn spawn() -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("sink")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawning the sink process")?;
        let stdout = child.stdout.take().context("the sink's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).await?;
        let addr = line.trim();
        anyhow::ensure!(!addr.is_empty(), "the sink printed no address");
        Ok(Self {
            child,
            base: format!("http://{addr}"),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Every call so far.
    pub async fn calls(&self) -> anyhow::Result<Vec<Call>> {
        let text = reqwest::get(format!("{}/calls", self.base))
            .await?
            .error_for_status()?
            .text()
            .await?;
        text.lines()
            .map(|line| {
                let mut parts = line.split(' ');
                let mut next = || parts.next().context("a short line from the sink");
                let job = next()?.to_owned();
                Ok((job, next()?.parse()?, next()?.parse()?))
            })
            .collect()
    }
}
