//! A Feishu custom bot, as far as Crony sees it: a real axum server on loopback that checks
//! the `timestamp`/`sign` pair exactly as Feishu does (from its own copy of the secret),
//! answers like Feishu (`code` 0, 19021, 9499, …) and records every accepted message.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

/// Feishu's path for custom bots; the last segment is the bot's token.
pub const HOOK_PATH: &str = "/open-apis/bot/v2/hook/test-bot-token";

/// An answer to script for the next request.
#[derive(Debug, Clone)]
pub enum FeishuReply {
    /// HTTP 200 with a Feishu error body (`{"code", "msg", "data"}`).
    Code(i64, String),
    /// A bare HTTP status (a broken proxy or Feishu outage).
    Status(u16),
}

#[derive(Default)]
struct Inner {
    secret: Option<String>,
    accepted: Vec<Value>,
    /// Every request body as received, accepted or not.
    requests: Vec<String>,
    script: VecDeque<FeishuReply>,
}

#[derive(Clone)]
pub struct FeishuBot {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// Stops the server when the last clone is dropped.
    _guard: Arc<tokio_util::sync::DropGuard>,
}

impl FeishuBot {
    /// A bot with signature checking on when `secret` is set (as in Feishu's bot settings).
    pub async fn start(secret: Option<&str>) -> anyhow::Result<Self> {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST.into(), secret).await
    }

    /// Like [`FeishuBot::start`], on a port of `ip` (another loopback address than
    /// 127.0.0.1, to tell allowed hosts from refused ones).
    pub async fn start_on(ip: std::net::IpAddr, secret: Option<&str>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            secret: secret.map(str::to_owned),
            ..Inner::default()
        }));
        let stop = CancellationToken::new();
        let app = Router::new()
            .route(HOOK_PATH, post(handle))
            .with_state(inner.clone());
        let shutdown = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
        });
        Ok(Self {
            addr,
            inner,
            _guard: Arc::new(stop.drop_guard()),
        })
    }

    /// The webhook URL to give Crony.
    pub fn url(&self) -> String {
        format!("http://{}{HOOK_PATH}", self.addr)
    }

    /// Answer the next request with `reply` (after the signature check passes).
    pub fn script(&self, reply: FeishuReply) {
        self.lock().script.push_back(reply);
    }

    /// Messages that passed every check, as parsed JSON.
    pub fn accepted(&self) -> Vec<Value> {
        self.lock().accepted.clone()
    }

    /// Raw bodies of every request received.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Feishu's reference algorithm: base64(HMAC-SHA256(key = "{timestamp}\n{secret}", "")).
pub fn feishu_sign(timestamp: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(format!("{timestamp}\n{secret}").as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(b"");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn answer(code: i64, msg: &str) -> (StatusCode, axum::Json<Value>) {
    (
        StatusCode::OK,
        axum::Json(json!({"code": code, "msg": msg, "data": {}})),
    )
}

const SIGN_FAIL: &str = "sign match fail or timestamp is not within one hour from current time";

/// Checks what Feishu checks: the signature (when the bot has a secret), then the message
/// shape for its `msg_type`.
fn verify(secret: Option<&str>, body: &Value) -> Result<(), (i64, &'static str)> {
    if let Some(secret) = secret {
        // Feishu's docs send the timestamp as a string; a number is accepted as well.
        let timestamp = match body.get("timestamp") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err((19021, SIGN_FAIL)),
        };
        let seconds: i64 = timestamp.parse().map_err(|_| (19021, SIGN_FAIL))?;
        if (chrono::Utc::now().timestamp() - seconds).abs() > 3600 {
            return Err((19021, SIGN_FAIL));
        }
        let sign = body.get("sign").and_then(Value::as_str);
        if sign != Some(feishu_sign(&timestamp, secret).as_str()) {
            return Err((19021, SIGN_FAIL));
        }
    }
    let well_formed = match body.get("msg_type").and_then(Value::as_str) {
        Some("text") => body.pointer("/content/text").is_some_and(Value::is_string),
        Some("interactive") => body.get("card").is_some_and(Value::is_object),
        Some("post" | "image" | "share_chat") => body.get("content").is_some_and(Value::is_object),
        _ => false,
    };
    if !well_formed {
        return Err((9499, "Bad Request"));
    }
    Ok(())
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.requests.push(body.clone());
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return answer(9499, "Bad Request").into_response();
    };
    if let Err((code, msg)) = verify(inner.secret.as_deref(), &message) {
        return answer(code, msg).into_response();
    }
    match inner.script.pop_front() {
        Some(FeishuReply::Code(code, msg)) => answer(code, &msg).into_response(),
        Some(FeishuReply::Status(status)) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        None => {
            inner.accepted.push(message);
            answer(0, "success").into_response()
        }
    }
}
