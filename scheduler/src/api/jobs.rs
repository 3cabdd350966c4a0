//! `/api/v1/jobs…`: create, list, read, replace, delete, pause and resume. Every answer carries
//! the job's next fire times in its own time zone.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::json::ValidJson;
use crate::domain::job::{Job, JobSpec};
use crate::domain::schedule::Schedule;
use crate::error::ErrorCode;
use crate::store::jobs::JobFilter;

/// How many upcoming fires each job answer shows.
const NEXT_FIRES: usize = 5;
const ACTOR: &str = "api";

#[derive(Debug, Serialize)]
pub struct Fire {
    pub utc: String,
    pub local: String,
}

/// The next `count` fires of a schedule, as UTC and local wall time.
pub fn fires(schedule: &Schedule, tz: Tz, after: DateTime<Utc>, count: usize) -> Vec<Fire> {
    schedule
        .next_fires(tz, after, count)
        .into_iter()
        .map(|t| Fire {
            utc: t.to_rfc3339(),
            local: t.with_timezone(&tz).to_rfc3339(),
        })
        .collect()
}

/// The next fires of a stored job. Only the schedule and zone are parsed: the rest of the
/// spec was validated when it was written.
fn fires_of(spec: &JobSpec, after: DateTime<Utc>, count: usize) -> Vec<Fire> {
    let Ok(tz) = spec.timezone.parse::<Tz>() else {
        return Vec::new();
    };
    match Schedule::parse(&spec.schedule, tz, after) {
        Ok(schedule) => fires(&schedule, tz, after, count),
        Err(_) => Vec::new(),
    }
}

/// A stored job, or the API's 404.
pub(crate) async fn load(app: &AppState, id: &str) -> Result<Job, ApiError> {
    app.store.get_job(id).await?.ok_or_else(|| not_found(id))
}

fn render(job: &Job) -> Value {
    let mut value = serde_json::to_value(job).unwrap_or_default();
    let fires = if job.spec.enabled {
        fires_of(&job.spec, Utc::now(), NEXT_FIRES)
    } else {
        Vec::new()
    };
    value["next_fires"] = json!(fires);
    value
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no job with id {id:?}"))
}

pub async fn create(
    State(app): State<AppState>,
    ValidJson(spec): ValidJson<JobSpec>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = Utc::now();
    spec.validate(now)?;
    let job = Job {
        id: uuid::Uuid::now_v7().simple().to_string(),
        spec,
        agent_id: None,
        assignment_epoch: 0,
        created_at: now,
        updated_at: now,
        last_scheduled_at: None,
    };
    app.store
        .create_job(&job, ACTOR)
        .await
        .map_err(name_field)?;
    app.jobs_changed.notify_one();
    Ok((StatusCode::CREATED, Json(render(&job))))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    enabled: Option<String>,
    agent_id: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let enabled = match query.enabled.as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::invalid("enabled", "must be true or false")),
    };
    let limit = match query.limit.as_deref() {
        None | Some("") => 50,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "must be 1 to 500"))?,
    };
    let filter = JobFilter {
        q: query.q.filter(|q| !q.is_empty()),
        enabled,
        agent_id: query.agent_id.filter(|a| !a.is_empty()),
        after: query.cursor.filter(|c| !c.is_empty()),
        limit,
    };
    let jobs = app.store.list_jobs(&filter).await?;
    let next_cursor = (jobs.len() as u32 == limit)
        .then(|| jobs.last().map(|j| j.id.clone()))
        .flatten();
    Ok(Json(json!({
        "jobs": jobs.iter().map(render).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

pub async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(render(&load(&app, &id).await?)))
}

pub async fn replace(
    State(app): State<AppState>,
    Path(id): Path<String>,
    ValidJson(spec): ValidJson<JobSpec>,
) -> Result<Json<Value>, ApiError> {
    let now = Utc::now();
    spec.validate(now)?;
    let job = app
        .store
        .replace_job(&id, &spec, now, ACTOR)
        .await
        .map_err(name_field)?;
    let job = job.ok_or_else(|| not_found(&id))?;
    app.jobs_changed.notify_one();
    Ok(Json(render(&job)))
}

pub async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !app.store.delete_job(&id, ACTOR).await? {
        return Err(not_found(&id));
    }
    app.jobs_changed.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause(state: State<AppState>, id: Path<String>) -> Result<Json<Value>, ApiError> {
    set_enabled(state, id, false).await
}

pub async fn resume(state: State<AppState>, id: Path<String>) -> Result<Json<Value>, ApiError> {
    set_enabled(state, id, true).await
}

async fn set_enabled(
    State(app): State<AppState>,
    Path(id): Path<String>,
    enabled: bool,
) -> Result<Json<Value>, ApiError> {
    let job = load(&app, &id).await?;
    if job.spec.enabled == enabled {
        return Ok(Json(render(&job)));
    }
    let spec = JobSpec {
        enabled,
        ..job.spec
    };
    let job = app.store.replace_job(&id, &spec, Utc::now(), ACTOR).await?;
    let job = job.ok_or_else(|| not_found(&id))?;
    app.jobs_changed.notify_one();
    Ok(Json(render(&job)))
}

/// A name clash is the `name` field's fault.
fn name_field(e: crate::store::StoreError) -> ApiError {
    let mut error = ApiError::from(e);
    if error.code == ErrorCode::Conflict {
        error.field = Some("name".into());
    }
    error
}
