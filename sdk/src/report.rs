//! Async result reports: [`Reporter`] posts an accepted execution's final outcome to its report
//! URL with its token, retrying what may pass later (the execution not recorded yet, 5xx,
//! connection trouble) and stopping at what cannot (wrong token, already settled).

/// The W3C trace context header (the scheduler continues the trace from it).
const TRACEPARENT: &str = "traceparent";

use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use tokio::time::Instant;

use crate::client::api_error;
use crate::context::ReportTarget;
use crate::error::Error;
use crate::executions::Execution;

/// How hard a [`Reporter`] tries. The defaults: 10 attempts within 2 minutes, 10 s per
/// request, backoff from 250 ms doubling up to 10 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRetryPolicy {
    /// Requests at most, the first included.
    pub max_attempts: u32,
    /// No new attempt starts after this much time since the first.
    pub max_elapsed: Duration,
    /// Each request is abandoned after this long (and counts as a transport error).
    pub request_timeout: Duration,
    /// The wait before the first retry; it doubles with each retry.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for ReportRetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            max_elapsed: Duration::from_secs(120),
            request_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl ReportRetryPolicy {
    /// The wait before retry `n` (1-based): doubling from `initial_backoff`, capped, with up to
    /// a quarter taken off so that many reporters failing together do not retry in step.
    fn backoff(&self, n: u32) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(1u32 << (n.saturating_sub(1)).min(16));
        let capped = doubled.min(self.max_backoff);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        capped - capped.mul_f64(f64::from(nanos % 250) / 1000.0)
    }
}

/// The final status of an accepted execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    /// The work succeeded.
    Succeeded,
    /// The work failed (final: Crony does not retry an async failure).
    Failed,
}

/// The body of `POST /api/v1/executions/{id}/result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobResult {
    /// How it ended.
    pub status: ResultStatus,
    /// The output to record (capped at 64 KiB by Crony).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Why it failed (capped at 8 KiB by Crony).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Posts the result of one accepted execution. Cheap to clone, `Send + 'static`: move it into
/// the task that does the work.
///
/// Reporting the same result twice is safe (Crony answers 200 again), so a reporter that is
/// unsure whether its last attempt arrived simply retries.
///
/// The rule when the result comes too late: if the execution was settled meanwhile (by the
/// async-timeout sweeper as `timed_out`, or by an earlier report with another status), its
/// status does **not** change; Crony keeps the posted result as the execution's `late_result`
/// and the reporter returns [`Error::AlreadySettled`] naming the status that stays.
///
/// ```no_run
/// use crony_sdk::{ReportTarget, Reporter};
///
/// # async fn run() -> Result<(), crony_sdk::Error> {
/// let reporter = Reporter::new(ReportTarget::new(
///     "http://crony:8080/api/v1/executions/0190…/result",
///     "token from X-Crony-Report-Token",
/// ));
/// match reporter.succeeded("42 invoices settled").await {
///     Ok(execution) => println!("recorded as {}", execution.status),
///     Err(crony_sdk::Error::AlreadySettled { current_status }) => {
///         eprintln!("too late: the execution stays {current_status}")
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Reporter {
    target: ReportTarget,
    http: reqwest::Client,
    policy: ReportRetryPolicy,
}

impl Reporter {
    /// A reporter for one execution, with the default [`ReportRetryPolicy`].
    pub fn new(target: ReportTarget) -> Self {
        Self {
            target,
            http: reqwest::Client::new(),
            policy: ReportRetryPolicy::default(),
        }
    }

    /// The same reporter with another retry policy.
    pub fn with_policy(mut self, policy: ReportRetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where this reporter posts.
    pub fn target(&self) -> &ReportTarget {
        &self.target
    }

    /// Reports success with `output`.
    pub async fn succeeded(&self, output: impl Into<String>) -> Result<Execution, Error> {
        self.report(&JobResult {
            status: ResultStatus::Succeeded,
            output: Some(output.into()),
            error: None,
        })
        .await
    }

    /// Reports failure with `error` (and no output).
    pub async fn failed(&self, error: impl Into<String>) -> Result<Execution, Error> {
        self.report(&JobResult {
            status: ResultStatus::Failed,
            output: None,
            error: Some(error.into()),
        })
        .await
    }

    /// Posts `result`, retrying transient failures within the policy; returns the execution
    /// as Crony recorded it.
    pub async fn report(&self, result: &JobResult) -> Result<Execution, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (error, retry_after) = match self.post_once(result).await {
                Ok(execution) => return Ok(execution),
                Err((error, retry_after)) => (error, retry_after),
            };
            if !error.is_retryable() {
                return Err(error);
            }
            let wait = retry_after.unwrap_or_else(|| self.policy.backoff(attempt));
            let out_of_time = started.elapsed() + wait > self.policy.max_elapsed;
            if attempt >= self.policy.max_attempts || out_of_time {
                return Err(Error::GaveUp {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One request: the execution, or the error with the server's `Retry-After` if it gave one.
    async fn post_once(&self, result: &JobResult) -> Result<Execution, (Error, Option<Duration>)> {
        let mut request = self.http.post(&self.target.url);
        if let Some(traceparent) = &self.target.traceparent {
            request = request.header(TRACEPARENT, traceparent);
        }
        let response = request
            .bearer_auth(&self.target.token)
            .timeout(self.policy.request_timeout)
            .json(result)
            .send()
            .await
            .map_err(|e| (Error::transport(&e), None))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs.min(30)));
        let body = response
            .bytes()
            .await
            .map_err(|e| (Error::transport(&e), None))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| (Error::InvalidResponse(format!("execution: {e}")), None));
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err((Error::WrongToken, None));
        }
        let error = api_error(status, &body);
        let error = match error {
            Error::Api { code, message, .. } if code == "already_settled" => {
                Error::AlreadySettled {
                    current_status: settled_status(&message),
                }
            }
            other => other,
        };
        Err((error, retry_after))
    }
}

/// The status that stays, from the 409's message "execution \"…\" is already {status}; …"
/// (the API names it only in the message).
fn settled_status(message: &str) -> String {
    message
        .split_once("is already ")
        .and_then(|(_, rest)| {
            rest.split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .next()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settled_status_is_read_from_the_message() {
        assert_eq!(
            settled_status(
                "execution \"e1\" is already timed_out; the posted result is kept as late_result"
            ),
            "timed_out"
        );
        assert_eq!(settled_status("something else"), "unknown");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = ReportRetryPolicy::default();
        let first = policy.backoff(1);
        assert!(first <= Duration::from_millis(250) && first >= Duration::from_millis(180));
        let late = policy.backoff(12);
        assert!(late <= Duration::from_secs(10) && late >= Duration::from_millis(7_500));
    }

    #[test]
    fn the_body_is_the_api_shape() {
        let body = serde_json::to_value(JobResult {
            status: ResultStatus::Failed,
            output: None,
            error: Some("disk full".into()),
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"status": "failed", "error": "disk full"})
        );
    }
}
