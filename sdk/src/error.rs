//! The SDK's one public error type: what went wrong talking to Crony, in terms a caller can act
//! on (fix the request, retry later, stop trying).

use std::time::Duration;

/// Everything a call of this SDK can fail with.
///
/// The variants a caller usually matches on are [`Error::WrongToken`] and
/// [`Error::AlreadySettled`] (from the [`Reporter`](crate::Reporter)) and [`Error::Api`] with
/// its `code` (from the [`Client`](crate::Client)).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Crony answered with an error document `{"error": {"code", "message", "field"}}`.
    #[error("Crony answered {status} {code}: {message}{}", field_suffix(field.as_deref()))]
    Api {
        /// HTTP status of the answer.
        status: u16,
        /// Machine-readable code, e.g. `invalid_argument`, `not_found`, `conflict`.
        code: String,
        /// What the server said, for humans.
        message: String,
        /// The request field at fault, for `invalid_argument`.
        field: Option<String>,
    },
    /// The report token was refused (401): it is not this execution's token. Retrying cannot
    /// help.
    #[error("the report token was refused (wrong token or wrong execution)")]
    WrongToken,
    /// The execution was already settled with another status (for example `timed_out` by the
    /// async-timeout sweeper). Crony kept the posted result as the execution's `late_result`,
    /// but the status did not change.
    #[error("the execution is already {current_status}; the result was kept as late_result")]
    AlreadySettled {
        /// The execution's status, which stays as it is.
        current_status: String,
    },
    /// The request never got an answer: connection refused, reset, DNS, TLS, or no answer
    /// within the per-request timeout.
    #[error("cannot reach Crony: {0}")]
    Transport(String),
    /// Waiting gave up (for example [`Client::wait_for_execution`](crate::Client::wait_for_execution)).
    #[error("{what} not reached within {after:?}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long the SDK waited.
        after: Duration,
    },
    /// A retried operation (an async result report) ran out of attempts or time; `last` is the
    /// error of the final attempt.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// How many requests were made.
        attempts: u32,
        /// Why the last one failed.
        last: Box<Error>,
    },
    /// Crony's answer could not be understood (not the JSON this SDK expects).
    #[error("unexpected answer from Crony: {0}")]
    InvalidResponse(String),
    /// An argument given to the SDK is unusable (a malformed URL or gRPC method path).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A callback server could not start or stopped with an error.
    #[error("callback server failed: {0}")]
    Serve(String),
}

fn field_suffix(field: Option<&str>) -> String {
    field.map(|f| format!(" (field {f})")).unwrap_or_default()
}

impl Error {
    /// Whether the same request may succeed later (transport trouble, 5xx, or an execution
    /// not recorded yet). Client errors (4xx) and settled executions are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport(_) => true,
            Error::Api { status, code, .. } => {
                *status >= 500 || *status == 429 || code == "not_recorded_yet"
            }
            _ => false,
        }
    }

    /// The API's error code, when Crony answered with an error document.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            Error::AlreadySettled { .. } => Some("already_settled"),
            Error::WrongToken => Some("unauthenticated"),
            _ => None,
        }
    }

    /// The error and its causes on one line: reqwest hides the useful part ("connection
    /// refused") in the source chain.
    pub(crate) fn transport(e: &reqwest::Error) -> Self {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        Error::Transport(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_errors_are_the_transient_ones() {
        let api = |status: u16, code: &str| Error::Api {
            status,
            code: code.into(),
            message: String::new(),
            field: None,
        };
        assert!(Error::Transport("refused".into()).is_retryable());
        assert!(api(503, "unavailable").is_retryable());
        assert!(api(409, "not_recorded_yet").is_retryable());
        assert!(!api(409, "conflict").is_retryable());
        assert!(!api(400, "invalid_argument").is_retryable());
        assert!(!Error::WrongToken.is_retryable());
        assert!(
            !Error::AlreadySettled {
                current_status: "timed_out".into()
            }
            .is_retryable()
        );
    }

    #[test]
    fn api_errors_name_their_field() {
        let e = Error::Api {
            status: 400,
            code: "invalid_argument".into(),
            message: "bad schedule".into(),
            field: Some("schedule".into()),
        };
        assert_eq!(
            e.to_string(),
            "Crony answered 400 invalid_argument: bad schedule (field schedule)"
        );
    }
}
