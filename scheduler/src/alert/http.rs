//! The HTTP side shared by the Feishu and webhook channels: one client with a timeout, and
//! how transport errors and HTTP statuses map to [`SendError`].

use std::time::Duration;

use reqwest::StatusCode;

use super::SendError;

/// Long enough for a slow chat service, short enough that one dead endpoint cannot stall
/// the delivery worker.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Error answers are cut to this much in messages: they end up in the `alerts` table.
const BODY_IN_ERROR_CHARS: usize = 300;

pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // A redirected POST silently becomes a GET; an alert endpoint that redirects is
        // misconfigured, and saying so beats losing the message.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("crony/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client for alerts: {e}"))
}

/// Transport errors: the URL is stripped because webhook URLs carry tokens.
pub(crate) fn transport_error(channel: &str, e: reqwest::Error) -> SendError {
    let retryable = e.is_timeout() || e.is_connect() || e.is_request() || e.is_body();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_builder() {
        "invalid request (check the URL)"
    } else {
        "request failed"
    };
    let e = e.without_url();
    SendError {
        message: format!(
            "{channel}: {kind}: {}",
            crony_common::error_chain::error_chain(&e)
        ),
        retryable: retryable && !e.is_builder(),
    }
}

/// Servers failing or asking us to slow down may succeed later; other refusals will not.
pub(crate) fn status_is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

pub(crate) fn status_error(channel: &str, status: StatusCode, body: &str) -> SendError {
    let body = super::render::head_chars(body.trim(), BODY_IN_ERROR_CHARS);
    SendError {
        message: format!("{channel}: HTTP {status}: {body}"),
        retryable: status_is_retryable(status),
    }
}
