//! The cluster as the CLI sees it: one SDK client, jobs found by name or id, and every job
//! read page by page.

use crony_sdk::{Client, Method, path_segment};
use serde_json::Value;

use crate::CliError;
use crate::config::Profile;

/// What the server owns or computes in a job answer: not part of a definition.
pub const SERVER_FIELDS: &[&str] = &[
    "id",
    "agent_id",
    "assignment_epoch",
    "created_at",
    "updated_at",
    "last_scheduled_at",
    "next_fires",
    "last_outcome",
];

/// What the audit log records as the origin of the CLI's changes.
pub const SOURCE: &str = "crony-cli";

/// A client of the profile's cluster; `what` says which command (`crony-cli apply`).
pub fn client(profile: &Profile, what: &str) -> Result<Client, CliError> {
    let mut client = Client::new(&profile.url)
        .map_err(|e| CliError::Usage(format!("--url / CRONY_URL: {e}")))?
        .with_source(what);
    if let Some(token) = &profile.token {
        client = client.with_token(token.trim());
    }
    Ok(client)
}

/// `GET path` with query pairs.
pub async fn get(client: &Client, path: &str, query: &[(&str, &str)]) -> Result<Value, CliError> {
    Ok(client.request_json(Method::GET, path, None, query).await?)
}

/// A job by name, or by id when no job has that name.
pub async fn find_job(client: &Client, job: &str) -> Result<Value, CliError> {
    let by_name = format!("/jobs/by-name/{}", path_segment(job));
    match client.request_json(Method::GET, &by_name, None, &[]).await {
        Ok(found) => Ok(found),
        Err(crony_sdk::Error::Api { status: 404, .. }) => {
            let by_id = format!("/jobs/{}", path_segment(job));
            match client.request_json(Method::GET, &by_id, None, &[]).await {
                Err(crony_sdk::Error::Api {
                    status: 404 | 400, ..
                }) => Err(CliError::NotFound(format!(
                    "no job named {job:?} (nor with that id)"
                ))),
                other => Ok(other?),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The id of a job named or identified by `job`.
pub async fn job_id(client: &Client, job: &str) -> Result<String, CliError> {
    let found = find_job(client, job).await?;
    text(&found, "id")
}

/// Every job, following the cursor; `q` filters by name.
pub async fn all_jobs(client: &Client, q: Option<&str>) -> Result<Vec<Value>, CliError> {
    let mut jobs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "500")];
        if let Some(q) = q {
            query.push(("q", q));
        }
        if let Some(c) = &cursor {
            query.push(("cursor", c));
        }
        let page = get(client, "/jobs", &query).await?;
        jobs.extend(page["jobs"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(jobs),
        }
    }
}

/// A string field of an answer, or an error saying the answer lacks it.
pub fn text(value: &Value, key: &str) -> Result<String, CliError> {
    value[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Io(format!("the server's answer has no {key:?}")))
}
