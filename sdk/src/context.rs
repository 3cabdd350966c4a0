//! What a job handler gets ([`JobContext`]: which execution, which attempt, the payload, where to
//! report) and what it answers ([`Outcome`]), independent of whether Crony called over gRPC or
//! HTTP.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::report::Reporter;

/// One call of a job by Crony: the same fields whether it came over gRPC
/// (`crony.v1.ExecuteRequest`) or HTTP (`X-Crony-*` headers).
#[derive(Debug, Clone, PartialEq)]
pub struct JobContext {
    /// The execution this call belongs to. Retries of one execution keep the id, so it is the
    /// key to deduplicate on.
    pub execution_id: String,
    /// The job's id.
    pub job_id: String,
    /// The job's name. Only gRPC calls carry it; over HTTP it is empty.
    pub job_name: String,
    /// The job's payload. Over HTTP this is the `X-Crony-Payload` header when the agent sent
    /// one (short printable payloads), else the request body.
    pub payload: String,
    /// 1 for the first attempt, 2 for the first retry, …
    pub attempt: u32,
    /// The instant the run was scheduled for (not when it started).
    pub scheduled_at: DateTime<Utc>,
    /// When the agent stops waiting for this attempt (gRPC only). A handler with more work
    /// than that should answer [`Outcome::Accepted`] and report later.
    pub deadline: Option<DateTime<Utc>>,
    /// Where to post the result of an accepted run; absent when the caller sent none.
    pub report: Option<ReportTarget>,
    /// The W3C `traceparent` of this attempt's span when Crony exports traces
    /// (`CRONY_OTEL_ENDPOINT`): parent your own spans on it to join the execution's trace.
    /// The [`Reporter`] sends it with the result, so the scheduler's span continues it.
    pub traceparent: Option<String>,
}

impl JobContext {
    /// A reporter for this execution's async result, or `None` when the call carried no
    /// report URL. The reporter is `Clone + Send + 'static`: move it into a background task
    /// and use it after the handler has answered [`Outcome::Accepted`].
    ///
    /// ```no_run
    /// # async fn handle(ctx: crony_sdk::JobContext) -> crony_sdk::Outcome {
    /// if let Some(reporter) = ctx.reporter() {
    ///     tokio::spawn(async move {
    ///         // … the long work …
    ///         if let Err(e) = reporter.succeeded("done").await {
    ///             eprintln!("could not report: {e}");
    ///         }
    ///     });
    ///     return crony_sdk::Outcome::Accepted;
    /// }
    /// crony_sdk::Outcome::failed("no report URL: cannot run asynchronously")
    /// # }
    /// ```
    pub fn reporter(&self) -> Option<Reporter> {
        self.report.clone().map(Reporter::new)
    }
}

/// Where and how to post an execution's async result: the execution's report URL and its
/// token (`X-Crony-Report-Url`, `X-Crony-Report-Token`).
#[derive(Clone, PartialEq, Eq)]
pub struct ReportTarget {
    /// `…/api/v1/executions/{id}/result` on a scheduler.
    pub url: String,
    /// The bearer token that proves the result comes from whoever Crony called.
    pub token: String,
    /// Sent as `traceparent` with the result (the attempt's trace context, when traced).
    pub traceparent: Option<String>,
}

impl ReportTarget {
    /// A target from its URL and token.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: token.into(),
            traceparent: None,
        }
    }

    /// Continues the trace `traceparent` names when the result is posted.
    pub fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }
}

/// The token is a credential: keep it out of logs.
impl fmt::Debug for ReportTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportTarget")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("traceparent", &self.traceparent)
            .finish()
    }
}

/// What a handler answers.
///
/// | outcome | gRPC `ExecuteResponse.status` | HTTP answer |
/// |---|---|---|
/// | `Succeeded(output)` | `SUCCEEDED`, `output` | 200, output as body |
/// | `Failed(output)` | `FAILED`, `output` | 500, output as body |
/// | `Accepted` | `ACCEPTED` | 202 |
///
/// Crony records the output (up to 64 KiB, head and tail kept) with the execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job ran and succeeded; the string is its output.
    Succeeded(String),
    /// The job ran and failed; the string says why (recorded as the execution's output).
    /// Crony retries it if the job has retries left.
    Failed(String),
    /// The work was taken and its result will be posted later with a
    /// [`Reporter`]; the execution stays `running` until then or until the job's
    /// `async_timeout_secs` passes.
    Accepted,
}

impl Outcome {
    /// `Succeeded` with this output.
    pub fn succeeded(output: impl Into<String>) -> Self {
        Outcome::Succeeded(output.into())
    }

    /// `Failed` with this description.
    pub fn failed(output: impl Into<String>) -> Self {
        Outcome::Failed(output.into())
    }
}

/// `Ok(output)` succeeds, `Err(e)` fails with `e`'s text, so a handler can use `?` inside a
/// helper and convert at the end.
impl<E: fmt::Display> From<Result<String, E>> for Outcome {
    fn from(result: Result<String, E>) -> Self {
        match result {
            Ok(output) => Outcome::Succeeded(output),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_not_printed() {
        let target = ReportTarget::new("http://s/api/v1/executions/e/result", "secret");
        let printed = format!("{target:?}");
        assert!(printed.contains("/result") && !printed.contains("secret"));
    }

    #[test]
    fn results_become_outcomes() {
        let ok: Result<String, std::io::Error> = Ok("done".into());
        assert_eq!(Outcome::from(ok), Outcome::succeeded("done"));
        let bad: Result<String, &str> = Err("broken");
        assert_eq!(Outcome::from(bad), Outcome::failed("broken"));
    }
}
