//! HTTP callbacks with axum: [`JobContext`] is an extractor (from Crony's `X-Crony-*` headers
//! and the body), [`Outcome`] is a response (200 / 500 / 202), and [`router`] serves one
//! [`Handler`] as a whole app.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any};
use chrono::{DateTime, Utc};

use crate::context::{JobContext, Outcome, ReportTarget};
use crate::handler::Handler;

/// `X-Crony-Execution-Id`: the execution the call belongs to.
pub const EXECUTION_ID_HEADER: &str = "x-crony-execution-id";
/// `X-Crony-Job-Id`.
pub const JOB_ID_HEADER: &str = "x-crony-job-id";
/// `X-Crony-Attempt`: 1 for the first attempt.
pub const ATTEMPT_HEADER: &str = "x-crony-attempt";
/// `X-Crony-Scheduled-At`: RFC 3339.
pub const SCHEDULED_AT_HEADER: &str = "x-crony-scheduled-at";
/// `X-Crony-Report-Url`: where to post an async result.
pub const REPORT_URL_HEADER: &str = "x-crony-report-url";
/// `X-Crony-Report-Token`: the bearer token for the report URL.
pub const REPORT_TOKEN_HEADER: &str = "x-crony-report-token";
/// `X-Crony-Payload`: the job's payload, when it is short printable ASCII.
pub const PAYLOAD_HEADER: &str = "x-crony-payload";
/// The W3C trace context of the attempt, when Crony exports traces.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// Why a request could not be read as a Crony call: a header is missing or malformed. Answers
/// 400 naming the header, so the mistake shows up in the execution's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Crony call: {0}")]
pub struct ContextRejection(String);

impl IntoResponse for ContextRejection {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, self.to_string()).into_response()
    }
}

/// Extracts the context of a Crony call (consumes the body: use it as the last extractor).
///
/// ```
/// use crony_sdk::{JobContext, Outcome};
///
/// async fn nightly_report(ctx: JobContext) -> Outcome {
///     Outcome::succeeded(format!("report for {} built", ctx.payload))
/// }
///
/// let app: axum::Router = axum::Router::new().route("/run", axum::routing::post(nightly_report));
/// ```
impl<S: Send + Sync> FromRequest<S> for JobContext {
    type Rejection = ContextRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| ContextRejection(format!("cannot read the body: {e}")))?;
        context_from_parts(&headers, &body)
    }
}

/// The context from the headers and body of one request.
pub(crate) fn context_from_parts(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<JobContext, ContextRejection> {
    let execution_id = required(headers, EXECUTION_ID_HEADER)?.to_owned();
    let job_id = required(headers, JOB_ID_HEADER)?.to_owned();
    let attempt = required(headers, ATTEMPT_HEADER)?
        .parse::<u32>()
        .map_err(|_| ContextRejection(format!("{ATTEMPT_HEADER} is not a whole number")))?;
    let scheduled_at = DateTime::parse_from_rfc3339(required(headers, SCHEDULED_AT_HEADER)?)
        .map_err(|_| ContextRejection(format!("{SCHEDULED_AT_HEADER} is not RFC 3339")))?
        .with_timezone(&Utc);
    let traceparent = optional(headers, TRACEPARENT_HEADER)?.map(str::to_owned);
    let report = match optional(headers, REPORT_URL_HEADER)? {
        Some(url) if !url.is_empty() => Some(
            ReportTarget::new(
                url,
                optional(headers, REPORT_TOKEN_HEADER)?.unwrap_or_default(),
            )
            .with_traceparent(traceparent.clone()),
        ),
        _ => None,
    };
    // The agent puts the payload in a header only when it fits one; otherwise the job's body
    // is what the service has to work with.
    let payload = match optional(headers, PAYLOAD_HEADER)? {
        Some(payload) => payload.to_owned(),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    Ok(JobContext {
        execution_id,
        job_id,
        job_name: String::new(),
        payload,
        attempt,
        scheduled_at,
        deadline: None,
        report,
        traceparent,
    })
}

fn optional<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ContextRejection> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ContextRejection(format!("{name} is not ASCII")))
        })
        .transpose()
}

fn required<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, ContextRejection> {
    optional(headers, name)?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ContextRejection(format!("header {name} is missing")))
}

/// 200 with the output, 500 with the failure, 202 for accepted (see [`Outcome`]).
impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
        match self {
            Outcome::Succeeded(output) => (StatusCode::OK, text, output).into_response(),
            Outcome::Failed(output) => {
                (StatusCode::INTERNAL_SERVER_ERROR, text, output).into_response()
            }
            Outcome::Accepted => StatusCode::ACCEPTED.into_response(),
        }
    }
}

/// A route for any method that runs `handler`, to mount at the path your job's target URL
/// names: `Router::new().route("/jobs/settle", crony_sdk::http::endpoint(settle))`.
pub fn endpoint<S>(handler: impl Handler) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    any(move |ctx: JobContext| {
        let handler = Arc::clone(&handler);
        async move { handler.handle(ctx).await }
    })
}

/// An app that runs `handler` for every request, whatever its method and path.
///
/// ```no_run
/// use crony_sdk::{JobContext, Outcome, handler_fn};
///
/// # async fn run() -> std::io::Result<()> {
/// let app = crony_sdk::http::router(handler_fn(|ctx: JobContext| async move {
///     Outcome::succeeded(format!("ran attempt {}", ctx.attempt))
/// }));
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8081").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub fn router(handler: impl Handler) -> Router {
    Router::new().fallback_service(endpoint::<()>(handler))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn crony_headers() -> Vec<(&'static str, &'static str)> {
        vec![
            (EXECUTION_ID_HEADER, "e1"),
            (JOB_ID_HEADER, "j1"),
            (ATTEMPT_HEADER, "3"),
            (SCHEDULED_AT_HEADER, "2026-01-01T08:00:00+08:00"),
            (REPORT_URL_HEADER, "http://s/api/v1/executions/e1/result"),
            (REPORT_TOKEN_HEADER, "tok"),
        ]
    }

    #[test]
    fn the_context_comes_from_the_headers_and_the_body() {
        let ctx = context_from_parts(&headers(&crony_headers()), b"{\"day\":1}").unwrap();
        assert_eq!(ctx.execution_id, "e1");
        assert_eq!(ctx.job_id, "j1");
        assert_eq!(ctx.attempt, 3);
        assert_eq!(ctx.scheduled_at.to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert_eq!(ctx.payload, "{\"day\":1}");
        let report = ctx.report.unwrap();
        assert_eq!(
            (report.url.as_str(), report.token.as_str()),
            ("http://s/api/v1/executions/e1/result", "tok")
        );
    }

    #[test]
    fn the_payload_header_wins_over_the_body() {
        let mut pairs = crony_headers();
        pairs.push((PAYLOAD_HEADER, "region=cn"));
        let ctx = context_from_parts(&headers(&pairs), b"fixed body").unwrap();
        assert_eq!(ctx.payload, "region=cn");
    }

    #[test]
    fn missing_or_malformed_headers_are_named() {
        let mut pairs = crony_headers();
        pairs.retain(|(n, _)| *n != EXECUTION_ID_HEADER);
        let e = context_from_parts(&headers(&pairs), b"").unwrap_err();
        assert!(e.to_string().contains(EXECUTION_ID_HEADER), "{e}");

        let mut pairs = crony_headers();
        pairs[2] = (ATTEMPT_HEADER, "first");
        let e = context_from_parts(&headers(&pairs), b"").unwrap_err();
        assert!(e.to_string().contains(ATTEMPT_HEADER), "{e}");

        let mut pairs = crony_headers();
        pairs[3] = (SCHEDULED_AT_HEADER, "yesterday");
        assert!(context_from_parts(&headers(&pairs), b"").is_err());

        let mut pairs = crony_headers();
        pairs.retain(|(n, _)| !n.starts_with("x-crony-report"));
        let ctx = context_from_parts(&headers(&pairs), b"").unwrap();
        assert!(ctx.report.is_none());
    }

    #[test]
    fn outcomes_map_to_status_codes() {
        let status = |o: Outcome| o.into_response().status().as_u16();
        assert_eq!(status(Outcome::succeeded("ok")), 200);
        assert_eq!(status(Outcome::failed("boom")), 500);
        assert_eq!(status(Outcome::Accepted), 202);
    }

    #[tokio::test]
    async fn the_router_runs_the_handler_for_any_path() {
        use tower::ServiceExt;
        let app = router(crate::handler_fn(|ctx: JobContext| async move {
            Outcome::succeeded(format!("{}#{}", ctx.payload, ctx.attempt))
        }));
        let mut request = Request::builder().method("POST").uri("/any/path");
        for (name, value) in crony_headers() {
            request = request.header(name, value);
        }
        let response = app
            .clone()
            .oneshot(request.body(axum::body::Body::from("hello")).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"hello#3");

        let stranger = Request::builder().uri("/").body(axum::body::Body::empty());
        let response = app.oneshot(stranger.unwrap()).await.unwrap();
        assert_eq!(response.status(), 400);
    }
}
