//! Generic JSON webhook channel: POSTs the alert as JSON to the recipient's URL, optionally
//! signed so the receiver can tell the call came from Crony.

use std::sync::Arc;
use std::time::Duration;

use crony_common::callback_allow::CallbackAllow;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::{Alert, EventKind, Recipient, SendError, Sender, http, reason};

const CHANNEL: &str = "webhook";

/// Headers set when the recipient has a secret: `X-Crony-Signature` is
/// `sha256=` + hex(HMAC-SHA256(secret, "{timestamp}.{body}")), with the timestamp (Unix
/// seconds) in `X-Crony-Timestamp`, so a receiver can check both origin and freshness.
pub const SIGNATURE_HEADER: &str = "X-Crony-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Crony-Timestamp";

/// What the webhook receives: the alert itself (`id`, `title`, `items`) plus a top-level
/// `event` so simple receivers can route without looking into the items.
#[derive(Debug, Serialize)]
pub struct WebhookPayload<'a> {
    /// The items' common event, or `"mixed"` for a group of different events.
    pub event: &'a str,
    #[serde(flatten)]
    pub alert: &'a Alert,
}

impl<'a> WebhookPayload<'a> {
    pub fn new(alert: &'a Alert) -> Self {
        let mut events = alert.items.iter().map(|i| i.event);
        let event = match events.next() {
            None => EventKind::Test.as_str(),
            Some(first) if events.all(|e| e == first) => first.as_str(),
            Some(_) => "mixed",
        };
        WebhookPayload { event, alert }
    }
}

/// Computes the `X-Crony-Signature` value for a body sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps it panic-free.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: http::AlertClient,
}

impl WebhookSender {
    pub fn new() -> Result<Self, String> {
        Self::with_timeout(http::DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(timeout: Duration) -> Result<Self, String> {
        Self::with_callback_allow(timeout, None)
    }

    /// Calls only hosts `allow` allows (`CRONY_CALLBACK_ALLOW`; `None`: any).
    pub fn with_callback_allow(
        timeout: Duration,
        allow: Option<Arc<CallbackAllow>>,
    ) -> Result<Self, String> {
        Ok(Self {
            client: http::AlertClient::new(timeout, allow)?,
        })
    }
}

#[async_trait::async_trait]
impl Sender for WebhookSender {
    async fn send(&self, alert: &Alert, to: &Recipient) -> Result<(), SendError> {
        let body = serde_json::to_vec(&WebhookPayload::new(alert)).map_err(|e| SendError {
            message: format!("{CHANNEL}: cannot encode the alert: {e}"),
            retryable: false,
        })?;
        let mut request = self
            .client
            .post(CHANNEL, &to.address)?
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = to.secret.as_deref().filter(|s| !s.is_empty()) {
            let timestamp = chrono::Utc::now().timestamp();
            request = request
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(SIGNATURE_HEADER, signature(secret, timestamp, &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| reason::transport(CHANNEL, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The answer is not read: it is the remote's, and may be anyone's (see `reason`).
        Err(reason::status(CHANNEL, status))
    }
}
