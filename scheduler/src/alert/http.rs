//! The HTTP side shared by the Feishu and webhook channels: one client with a timeout that
//! connects only where `CRONY_CALLBACK_ALLOW` allows (the same resolver agents use for HTTP
//! targets, so the addresses actually connected to are the ones checked), and no redirects.

use std::sync::Arc;
use std::time::Duration;

use crony_common::callback_allow::{self as allow, CallbackAllow};

use super::SendError;
use super::reason;

/// Long enough for a slow chat service, short enough that one dead endpoint cannot stall
/// the delivery worker.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of an answer read (Feishu's is a small JSON document); a larger one is cut, so a
/// hostile endpoint cannot make the scheduler buffer without end.
const ANSWER_MAX: usize = 64 * 1024;

/// A client for alert endpoints; `allow` is `CRONY_CALLBACK_ALLOW` (`None`: any host).
#[derive(Debug, Clone)]
pub(crate) struct AlertClient {
    client: reqwest::Client,
    allow: Option<Arc<CallbackAllow>>,
}

impl AlertClient {
    pub(crate) fn new(
        timeout: Duration,
        allow: Option<Arc<CallbackAllow>>,
    ) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirected POST silently becomes a GET, and a redirect could lead anywhere;
            // an alert endpoint that redirects is misconfigured, and saying so beats losing
            // the message (the 3xx is reported as "redirect refused").
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("crony/", env!("CARGO_PKG_VERSION")));
        if let Some(allow) = &allow {
            builder = allow::guard_client(builder, allow.clone());
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client for alerts: {e}"))?;
        Ok(Self { client, allow })
    }

    /// A POST to `url`, or why nothing may be sent there. Names are checked again by the
    /// resolver on the addresses it connects to; address literals never reach it, so they
    /// are decided here.
    pub(crate) fn post(
        &self,
        channel: &str,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, SendError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| reason::invalid_url(channel))?;
        if let Some(refusal) = self
            .allow
            .as_deref()
            .and_then(|list| allow::refuse_url(list, &parsed))
        {
            return Err(reason::refused(channel, &refusal));
        }
        Ok(self.client.post(parsed))
    }
}

/// At most [`ANSWER_MAX`] bytes of the answer, as text (lossy: it is only parsed as JSON).
pub(crate) async fn read_answer(
    channel: &str,
    mut response: reqwest::Response,
) -> Result<String, SendError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| reason::transport(channel, e))?
    {
        let room = ANSWER_MAX - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= ANSWER_MAX {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}
