//! What a failed delivery says: the status and a short reason from a fixed vocabulary ("HTTP
//! 500", "connection refused", "timed out", "TLS handshake failed", "redirect refused", "not
//! allowed by CRONY_CALLBACK_ALLOW"), never the remote's words. These messages reach the 502
//! of `POST /alerts/test` and the `alerts` rows every viewer reads; an endpoint aimed at an
//! internal service must not turn them into a way to read that service's answers. The full
//! error chain (without URL or answer) is logged at debug level for the operator.

use std::error::Error;
use std::io;

use crony_common::callback_allow::{Refusal, ResolveError};
use reqwest::StatusCode;

use super::SendError;

/// The reason for a refused host, and the same words whatever host it was.
pub(crate) const NOT_ALLOWED: &str = "not allowed by CRONY_CALLBACK_ALLOW";

fn error(channel: &str, reason: impl std::fmt::Display, retryable: bool) -> SendError {
    SendError {
        message: format!("{channel}: {reason}"),
        retryable,
    }
}

/// The URL does not parse (validation normally catches this first).
pub(crate) fn invalid_url(channel: &str) -> SendError {
    error(channel, "invalid URL", false)
}

/// The allow-list refused the host: nothing was sent. Retrying cannot help.
pub(crate) fn refused(channel: &str, refusal: &Refusal) -> SendError {
    tracing::debug!(channel, %refusal, "alert endpoint refused by the allow-list");
    error(channel, NOT_ALLOWED, false)
}

/// A transport failure, classified. The URL is left out: webhook URLs carry tokens.
pub(crate) fn transport(channel: &str, e: reqwest::Error) -> SendError {
    if let Some(refusal) = Refusal::find(&e) {
        return refused(channel, refusal);
    }
    let (reason, retryable) = classify(&e);
    let detail = crony_common::error_chain::error_chain(&e.without_url());
    tracing::debug!(channel, error = %detail, "alert delivery failed in transport");
    error(channel, reason, retryable)
}

fn classify(e: &reqwest::Error) -> (&'static str, bool) {
    if e.is_timeout() {
        return ("timed out", true);
    }
    if e.is_builder() {
        return ("invalid request (check the URL)", false);
    }
    if e.is_redirect() {
        return ("redirect refused", false);
    }
    let mut cause: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<rustls::Error>().is_some() {
            return ("TLS handshake failed", false);
        }
        if let Some(ResolveError::Lookup { .. } | ResolveError::NoAddress(_)) =
            c.downcast_ref::<ResolveError>()
        {
            return ("cannot resolve the host", true);
        }
        if let Some(io) = c.downcast_ref::<io::Error>() {
            // io::Error's `source` skips the error it wraps; rustls' comes this way.
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return ("TLS handshake failed", false);
            }
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return ("connection refused", true),
                io::ErrorKind::TimedOut => return ("timed out", true),
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                    return ("connection reset", true);
                }
                _ => {}
            }
        }
        // hyper-util names its own failure this way; the words are the library's, not the
        // remote's.
        if c.to_string() == "dns error" {
            return ("cannot resolve the host", true);
        }
        cause = c.source();
    }
    if e.is_connect() {
        ("cannot connect", true)
    } else {
        ("request failed", e.is_request() || e.is_body())
    }
}

/// Servers failing or asking us to slow down may succeed later; other refusals will not.
pub(crate) fn status_is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// A non-2xx answer: its status only. A 3xx is a redirect the client does not follow.
pub(crate) fn status(channel: &str, status: StatusCode) -> SendError {
    let code = status.as_u16();
    if status.is_redirection() {
        return error(channel, format!("redirect refused (HTTP {code})"), false);
    }
    error(channel, format!("HTTP {code}"), status_is_retryable(status))
}

/// Feishu's answer code, with Crony's own words for the codes an operator can act on.
pub(crate) fn feishu_code(channel: &str, code: i64, retryable: bool) -> SendError {
    let meaning = match code {
        19021 => " (bad signature: check the bot's secret)",
        19024 => " (keyword mismatch: check the bot's security settings)",
        9499 => " (bad request)",
        11232 => " (rate limited)",
        _ => "",
    };
    error(channel, format!("code {code}{meaning}"), retryable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_only_their_number() {
        let e = status("webhook", StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.message, "webhook: HTTP 500");
        assert!(e.retryable);
        let e = status("feishu", StatusCode::FOUND);
        assert_eq!(e.message, "feishu: redirect refused (HTTP 302)");
        assert!(!e.retryable);
        assert!(!status("webhook", StatusCode::FORBIDDEN).retryable);
    }

    #[test]
    fn refusals_do_not_name_what_the_host_resolved_to() {
        let refusal = Refusal::Address {
            host: "metadata.internal".into(),
            ip: "169.254.169.254".parse().unwrap(),
        };
        let e = refused("webhook", &refusal);
        assert_eq!(e.message, format!("webhook: {NOT_ALLOWED}"));
        assert!(!e.retryable);
    }

    #[test]
    fn feishu_codes_keep_only_the_number_and_our_words() {
        let e = feishu_code("feishu", 19021, false);
        assert_eq!(
            e.message,
            "feishu: code 19021 (bad signature: check the bot's secret)"
        );
        assert_eq!(feishu_code("feishu", 1, false).message, "feishu: code 1");
    }
}
