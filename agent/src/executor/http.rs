//! HTTP targets: one request with the job's method, URL, headers and body plus the execution
//! context as `X-Crony-*` headers; the status code decides the outcome.

use std::sync::Arc;

use crony_common::callback_allow::{self as allow, CallbackAllow};
use reqwest::header::{HeaderMap, HeaderValue};

use crate::job::HttpTarget;

use super::host_limit::HostLimits;
use super::output::OutputCapture;
use super::{AttemptContext, AttemptOutcome, AttemptStatus, Executor, OUTPUT_CAP, error_chain};

/// Payloads longer than this are not sent as a header: many servers reject request headers
/// beyond 8 KiB in total.
const PAYLOAD_HEADER_MAX: usize = 4 * 1024;

pub struct HttpExecutor {
    client: reqwest::Client,
    target: HttpTarget,
    hosts: HostLimits,
    allow: Option<Arc<CallbackAllow>>,
}

impl HttpExecutor {
    pub fn new(client: reqwest::Client, target: HttpTarget, hosts: HostLimits) -> Self {
        Self {
            client,
            target,
            hosts,
            allow: None,
        }
    }

    /// Refuses URLs whose host `allow` refuses. The client must resolve names through
    /// [`allow::AllowResolver`] too: this check alone cannot see addresses.
    pub fn with_callback_allow(mut self, allow: Option<Arc<CallbackAllow>>) -> Self {
        self.allow = allow;
        self
    }

    /// The request, or why this agent may not send it (the callback allow-list).
    fn request(&self, ctx: &AttemptContext) -> Result<reqwest::RequestBuilder, String> {
        let url = &self.target.url;
        if let Some(refusal) = self
            .allow
            .as_deref()
            .and_then(|list| allow::refuse_url(list, url))
        {
            return Err(refusal.to_string());
        }
        let mut headers = HeaderMap::with_capacity(self.target.headers.len() + 7);
        for (name, value) in &self.target.headers {
            headers.append(name.clone(), value.clone());
        }
        // Inserted after the job's own headers so that these cannot be spoofed by configuration.
        for (name, value) in context_headers(ctx) {
            match HeaderValue::from_str(&value) {
                Ok(value) => {
                    headers.insert(name, value);
                }
                Err(_) => {
                    headers.remove(name);
                }
            }
        }
        Ok(self
            .client
            .request(self.target.method.clone(), url.clone())
            .headers(headers)
            .body(self.target.body.clone()))
    }
}

/// The execution context, sent so the target can report asynchronously and deduplicate retries.
///
/// The payload goes in `X-Crony-Payload` only when it is non-empty, printable ASCII and short:
/// the body belongs to the job's configuration (it may be a fixed JSON document the target
/// expects), so the payload cannot be merged into it, and a header cannot carry arbitrary
/// bytes. Targets that need a binary or large payload should use gRPC or put it in the body.
fn context_headers(ctx: &AttemptContext) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("x-crony-execution-id", ctx.execution_id.clone()),
        ("x-crony-job-id", ctx.job_id.clone()),
        ("x-crony-attempt", ctx.attempt.to_string()),
        ("x-crony-scheduled-at", ctx.scheduled_at.to_rfc3339()),
        ("x-crony-report-url", ctx.report_url.clone()),
        ("x-crony-report-token", ctx.report_token.clone()),
    ];
    let payload_fits = !ctx.payload.is_empty()
        && ctx.payload.len() <= PAYLOAD_HEADER_MAX
        && ctx
            .payload
            .bytes()
            .all(|b| b == b' ' || b.is_ascii_graphic());
    if payload_fits {
        headers.push(("x-crony-payload", ctx.payload.clone()));
    }
    if let Some(traceparent) = &ctx.traceparent {
        headers.push((crony_common::traces::TRACEPARENT, traceparent.clone()));
    }
    headers
}

#[async_trait::async_trait]
impl Executor for HttpExecutor {
    async fn execute(&self, ctx: &AttemptContext) -> AttemptOutcome {
        let request = match self.request(ctx) {
            Ok(request) => request,
            Err(e) => return AttemptOutcome::with_status(AttemptStatus::Failed, e),
        };
        let _slot = self.hosts.acquire(&self.target.url).await;
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return AttemptOutcome::with_status(AttemptStatus::Failed, error_chain(&e));
            }
        };
        let code = response.status();
        let (status, mut error) = classify(code, self.target.success_status);

        // Streamed through the capture so a huge response body costs only OUTPUT_CAP bytes.
        let mut capture = OutputCapture::new(OUTPUT_CAP);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => capture.push(&chunk),
                Ok(None) => break,
                Err(e) => {
                    // The status already arrived and decides the outcome; a broken body only
                    // costs the output, so say so rather than fail a successful call.
                    let note = format!("response body incomplete: {}", error_chain(&e));
                    error = if error.is_empty() {
                        note
                    } else {
                        format!("{error}; {note}")
                    };
                    break;
                }
            }
        }
        let (output, output_truncated) = capture.finish();
        AttemptOutcome {
            status,
            output,
            output_truncated,
            error: if status == AttemptStatus::Failed {
                error
            } else {
                String::new()
            },
            exit_code: None,
            http_status: Some(code.as_u16()),
        }
    }
}

/// 2xx succeeds unless the job names one exact status; 202 means "will report later" unless the
/// job names 202 itself as its success.
fn classify(
    code: reqwest::StatusCode,
    success_status: Option<reqwest::StatusCode>,
) -> (AttemptStatus, String) {
    if success_status == Some(code) {
        return (AttemptStatus::Succeeded, String::new());
    }
    if code == reqwest::StatusCode::ACCEPTED {
        return (AttemptStatus::Accepted, String::new());
    }
    match success_status {
        None if code.is_success() => (AttemptStatus::Succeeded, String::new()),
        None => (AttemptStatus::Failed, format!("HTTP {code}")),
        Some(expected) => (
            AttemptStatus::Failed,
            format!("HTTP {code} (expected {})", expected.as_u16()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn classification() {
        let status = |s: u16| (s != 0).then(|| StatusCode::from_u16(s).unwrap());
        let ok = |c: u16, s: u16| classify(StatusCode::from_u16(c).unwrap(), status(s)).0;
        assert_eq!(ok(200, 0), AttemptStatus::Succeeded);
        assert_eq!(ok(204, 0), AttemptStatus::Succeeded);
        assert_eq!(ok(202, 0), AttemptStatus::Accepted);
        assert_eq!(ok(202, 200), AttemptStatus::Accepted);
        assert_eq!(ok(202, 202), AttemptStatus::Succeeded);
        assert_eq!(ok(201, 200), AttemptStatus::Failed);
        assert_eq!(ok(302, 302), AttemptStatus::Succeeded);
        assert_eq!(ok(500, 0), AttemptStatus::Failed);
        assert_eq!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, None).1,
            "HTTP 500 Internal Server Error"
        );
        assert_eq!(
            classify(StatusCode::OK, status(201)).1,
            "HTTP 200 OK (expected 201)"
        );
    }
}
