//! [`Client`]: the management API (`/api/v1`) as typed calls — jobs, executions, and waiting for
//! an execution to settle.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::error::Error;
use crate::executions::{Execution, ExecutionPage, ExecutionQuery};
use crate::job_views::{Job, JobPage, JobQuery, Triggered};
use crate::jobs::JobSpec;

/// No query string.
const NO_QUERY: &[(&str, &str)] = &[];

/// A client of Crony's JSON API.
///
/// ```no_run
/// use std::time::Duration;
/// use crony_sdk::{Client, JobSpec, Target};
///
/// # async fn run() -> Result<(), crony_sdk::Error> {
/// let crony = Client::new("http://127.0.0.1:8080")?.with_token("api token");
/// let job = crony
///     .create_job(&JobSpec::new("ping", "@every 30s", Target::http("http://svc:8081/ping")))
///     .await?;
/// let run = crony.trigger_job(&job.id).await?;
/// let done = crony.wait_for_execution(&run.execution_id, Duration::from_secs(30)).await?;
/// println!("{} → {}", done.id, done.status);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    timeout: Duration,
    /// `X-Crony-Source`: what the audit log records as the change's origin (a tool's name).
    source: Option<String>,
}

impl Client {
    /// A client of the Crony at `base_url` (scheme, host and port, e.g.
    /// `http://127.0.0.1:8080`; `/api/v1` is added).
    pub fn new(base_url: impl AsRef<str>) -> Result<Self, Error> {
        let raw = base_url.as_ref().trim_end_matches('/');
        let parsed = reqwest::Url::parse(raw)
            .map_err(|e| Error::InvalidInput(format!("base URL {raw:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::InvalidInput(format!(
                "base URL {raw:?} must be http or https"
            )));
        }
        Ok(Self {
            base: raw.trim_end_matches("/api/v1").to_owned(),
            http: reqwest::Client::new(),
            token: None,
            timeout: Duration::from_secs(30),
            source: None,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sends `X-Crony-Source: <source>`, which the audit log records with every change this
    /// client makes (`crony-cli apply`, say): up to 64 printable ASCII characters.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Abandons a request after `timeout` (30 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Creates a job.
    pub async fn create_job(&self, spec: &JobSpec) -> Result<Job, Error> {
        self.call(Method::POST, "/jobs", Some(spec), NO_QUERY).await
    }

    /// Reads a job.
    pub async fn get_job(&self, id: &str) -> Result<Job, Error> {
        self.call(
            Method::GET,
            &format!("/jobs/{}", path_segment(id)),
            None::<&()>,
            NO_QUERY,
        )
        .await
    }

    /// Lists jobs, one page at a time.
    pub async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage, Error> {
        self.call(Method::GET, "/jobs", None::<&()>, query).await
    }

    /// Replaces a job's definition.
    pub async fn update_job(&self, id: &str, spec: &JobSpec) -> Result<Job, Error> {
        self.call(
            Method::PUT,
            &format!("/jobs/{}", path_segment(id)),
            Some(spec),
            NO_QUERY,
        )
        .await
    }

    /// Deletes a job.
    pub async fn delete_job(&self, id: &str) -> Result<(), Error> {
        self.send(
            Method::DELETE,
            &format!("/jobs/{}", path_segment(id)),
            None::<&()>,
            NO_QUERY,
        )
        .await
        .map(drop)
    }

    /// Pauses a job (it stops firing); returns it.
    pub async fn pause_job(&self, id: &str) -> Result<Job, Error> {
        self.call(
            Method::POST,
            &format!("/jobs/{}/pause", path_segment(id)),
            None::<&()>,
            NO_QUERY,
        )
        .await
    }

    /// Resumes a paused job; returns it.
    pub async fn resume_job(&self, id: &str) -> Result<Job, Error> {
        self.call(
            Method::POST,
            &format!("/jobs/{}/resume", path_segment(id)),
            None::<&()>,
            NO_QUERY,
        )
        .await
    }

    /// Runs a job once now. A job just created or resumed may not be on its agent yet: that is
    /// a 409 `conflict` or 503 `unavailable` [`Error::Api`] worth retrying shortly.
    pub async fn trigger_job(&self, id: &str) -> Result<Triggered, Error> {
        self.call(
            Method::POST,
            &format!("/jobs/{}/trigger", path_segment(id)),
            None::<&()>,
            NO_QUERY,
        )
        .await
    }

    /// Lists executions, newest first, one page at a time.
    pub async fn list_executions(&self, query: &ExecutionQuery) -> Result<ExecutionPage, Error> {
        self.call(Method::GET, "/executions", None::<&()>, &query.pairs())
            .await
    }

    /// Reads one execution with its attempts, output and late result.
    pub async fn get_execution(&self, id: &str) -> Result<Execution, Error> {
        self.call(
            Method::GET,
            &format!("/executions/{}", path_segment(id)),
            None::<&()>,
            NO_QUERY,
        )
        .await
    }

    /// Stops a running execution.
    pub async fn kill_execution(&self, id: &str) -> Result<(), Error> {
        self.send(
            Method::POST,
            &format!("/executions/{}/kill", path_segment(id)),
            None::<&()>,
            NO_QUERY,
        )
        .await
        .map(drop)
    }

    /// Polls an execution until it has its final status (not `scheduled` or `running`) and
    /// returns it; [`Error::Timeout`] after `timeout`. An execution Crony has not recorded yet
    /// (404 right after a trigger) is waited for too.
    pub async fn wait_for_execution(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Result<Execution, Error> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.get_execution(id).await {
                Ok(execution) if execution.status.is_settled() => return Ok(execution),
                Ok(_) => {}
                Err(Error::Api { status: 404, .. }) => {}
                Err(e) if e.is_retryable() => {}
                Err(e) => return Err(e),
            }
            if Instant::now() + pause > deadline {
                return Err(Error::Timeout {
                    what: format!("execution {id} settled"),
                    after: timeout,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Any API call, as JSON in and out: `path` is under `/api/v1` (segments already escaped),
    /// `query` its parameters. For routes without a typed method (the command line uses it);
    /// a 204 answers `null`.
    pub async fn request_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, Error> {
        let bytes = self.send(method, path, body, query).await?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse(format!("{path}: {e}")))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        query: &(impl Serialize + ?Sized),
    ) -> Result<T, Error> {
        let bytes = self.send(method, path, body, query).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse(format!("{path}: {e}")))
    }

    /// One request; the body of a 2xx answer, or the API's error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        query: &(impl Serialize + ?Sized),
    ) -> Result<Vec<u8>, Error> {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .timeout(self.timeout);
        request = request.query(query);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(source) = &self.source {
            request = request.header("x-crony-source", source);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| Error::transport(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| Error::transport(&e))?;
        if status.is_success() {
            Ok(bytes.to_vec())
        } else {
            Err(api_error(status, &bytes))
        }
    }
}

/// An id or name as one path segment of [`Client::request_json`]: ids are `[A-Za-z0-9._:-]`,
/// but a caller's typo must not turn into another route.
pub fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._:-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The API's `{"error": {"code", "message", "field"}}`, or what the body says when it is not
/// that (a proxy's HTML page, say).
pub(crate) fn api_error(status: StatusCode, body: &[u8]) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let text = |key: &str| error.and_then(|e| e[key].as_str()).map(str::to_owned);
    Error::Api {
        status: status.as_u16(),
        code: text("code").unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
                .replace(' ', "_")
        }),
        message: text("message")
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned()),
        field: text("field"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents_are_parsed() {
        let body = br#"{"error":{"code":"invalid_argument","message":"bad","field":"schedule"}}"#;
        match api_error(StatusCode::BAD_REQUEST, body) {
            Error::Api {
                status,
                code,
                message,
                field,
            } => {
                assert_eq!(
                    (status, code.as_str(), message.as_str()),
                    (400, "invalid_argument", "bad")
                );
                assert_eq!(field.as_deref(), Some("schedule"));
            }
            other => panic!("{other:?}"),
        }
        let other = api_error(StatusCode::BAD_GATEWAY, b"<html>down</html>");
        assert_eq!(other.code(), Some("bad_gateway"));
        assert!(other.is_retryable());
    }

    #[test]
    fn base_urls_are_normalised_and_ids_escaped() {
        let c = Client::new("http://127.0.0.1:8080/api/v1/").unwrap();
        assert_eq!(c.base, "http://127.0.0.1:8080");
        assert!(Client::new("ftp://x").is_err());
        assert!(Client::new("not a url").is_err());
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("0190ab:x-1.2"), "0190ab:x-1.2");
    }
}
