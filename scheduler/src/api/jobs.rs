//! `/api/v1/jobs…`: create, list, read, replace, delete, pause and resume. Every answer carries
//! the job's next fire times in its own time zone.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::alerts::shown_recipient;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::job_apply::{
    DryRunQuery, Plan, check_name_free, checked_new, checked_replacement, created, plan, planned,
    replaced,
};
use super::json::ValidJson;
use super::paging::{given, page_limit};
use super::params::{ValidPath, ValidQuery};
use crate::auth::Role;
use crate::auth::role::{Operator, Viewer};
use crate::domain::ids::{AgentId, JobId};
use crate::domain::job::{Job, JobSpec};
use crate::domain::schedule::Schedule;
use crate::error::ErrorCode;
use crate::store::jobs::JobFilter;
use crate::store::stats::LastOutcome;

/// How many upcoming fires each job answer shows.
const NEXT_FIRES: usize = 5;
pub use crate::domain::job::REDACTED;

#[derive(Debug, Serialize, ToSchema)]
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
fn fires_of(job: &Job, after: DateTime<Utc>, count: usize) -> Vec<Fire> {
    let spec = &job.spec;
    let Ok(tz) = spec.timezone.parse::<Tz>() else {
        return Vec::new();
    };
    match Schedule::parse(&spec.schedule, tz, after) {
        // The instants its agent fires: a fixed rate keeps the phase of the job's creation.
        Ok(schedule) => fires(&schedule.anchored(job.created_at), tz, after, count),
        Err(_) => Vec::new(),
    }
}

/// A stored job, or the API's 404.
pub(crate) async fn load(app: &AppState, id: &JobId) -> Result<Job, ApiError> {
    app.store.get_job(id).await?.ok_or_else(|| not_found(id))
}

/// A job as every answer shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    #[serde(flatten)]
    pub job: Job,
    /// The next five fires (none while paused).
    pub next_fires: Vec<Fire>,
    /// The newest settled execution (succeeded, failed, timed_out, killed or lost); null when
    /// there is none yet.
    pub last_outcome: Option<LastOutcome>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A job as `role` may see it.
pub(super) fn render(mut job: Job, last_outcome: Option<LastOutcome>, role: Role) -> JobView {
    let next_fires = if job.spec.enabled {
        fires_of(&job, Utc::now(), NEXT_FIRES)
    } else {
        Vec::new()
    };
    // Secrets never leave the server; the placeholder says one is set.
    job.spec = job.spec.redacted();
    // A Feishu webhook URL is a credential (whoever has it can post to the chat): viewers,
    // who cannot edit the job, see its token cut like in alert rows.
    if role < Role::Operator {
        for hook in &mut job.spec.alerts.feishu_webhooks {
            hook.url = shown_recipient(&hook.url);
        }
    }
    JobView {
        job,
        next_fires,
        last_outcome,
    }
}

/// A job with its last outcome looked up. The outcome is decoration: when the look-up fails
/// the job is still answered, without it.
pub(super) async fn view(app: &AppState, job: Job, role: Role) -> JobView {
    let last = match app.store.last_outcomes(std::slice::from_ref(&job.id)).await {
        Ok(mut found) => found.remove(&job.id),
        Err(e) => {
            tracing::warn!(error = %e, job = %job.id, "last outcome not read");
            None
        }
    };
    render(job, last, role)
}

/// Only admins create, change or delete shell jobs: they run commands on the agents' hosts.
pub(super) fn may_touch<R>(who: &Caller<R>, spec: &JobSpec) -> Result<(), ApiError> {
    if spec.needs_shell() && who.role() < Role::Admin {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            format!(
                "shell jobs need the admin role; {} has {}",
                who.actor().name,
                who.role()
            ),
        ));
    }
    Ok(())
}

pub(super) fn not_found(id: &JobId) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no job with id {id:?}"))
}

/// Creates a job; placement and the push to its agent follow at once.
#[utoipa::path(post, path = "/jobs", tag = "jobs",
    security(("token" = ["operator"]), ("session" = ["operator"])), params(DryRunQuery),
    request_body = JobSpec, responses(
    (status = 201, description = "The job", body = JobView),
    (status = 200, description = "`dry_run=true`: what would be created; nothing written", body = Plan),
    (status = 400, description = "A field is invalid (named in `field`)", body = ErrorBody),
    (status = 409, description = "Another job has this name (`field` = `name`)", body = ErrorBody),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn create(
    who: Caller<Operator>,
    State(app): State<AppState>,
    ValidQuery(query): ValidQuery<DryRunQuery>,
    ValidJson(spec): ValidJson<JobSpec>,
) -> Result<Response, ApiError> {
    let dry_run = query.wanted()?;
    let now = Utc::now();
    let spec = checked_new(&who, &app, spec, now)?;
    if dry_run {
        check_name_free(&app, &spec.name, None).await?;
        return Ok(planned(plan(None, Some(&spec))));
    }
    let job = created(&who, &app, spec, now).await?;
    Ok((StatusCode::CREATED, Json(render(job, None, who.role()))).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Part of the name or description.
    q: Option<String>,
    /// Only enabled (true) or paused (false) jobs.
    #[param(value_type = Option<bool>)]
    enabled: Option<String>,
    /// Only jobs assigned to this agent.
    agent_id: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500; default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// Jobs by id, with filters and cursor paging.
#[utoipa::path(get, path = "/jobs", tag = "jobs",
    security(("token" = ["viewer"]), ("session" = ["viewer"])), params(ListQuery), responses(
    (status = 200, description = "One page of jobs", body = JobList),
    (status = 400, description = "A parameter is invalid (named in `field`)", body = ErrorBody),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn list(
    who: Caller<Viewer>,
    State(app): State<AppState>,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<JobList>, ApiError> {
    let enabled = match query.enabled.as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::invalid("enabled", "must be true or false")),
    };
    let limit = page_limit(query.limit)?;
    let filter = JobFilter {
        q: given(query.q),
        enabled,
        agent_id: given(query.agent_id).map(AgentId::from),
        after: given(query.cursor).map(JobId::from),
        limit,
    };
    let jobs = app.store.list_jobs(&filter).await?;
    let next_cursor = (jobs.len() as u32 == limit)
        .then(|| jobs.last().map(|j| j.id.to_string()))
        .flatten();
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id.clone()).collect();
    let mut last = app.store.last_outcomes(&ids).await?;
    Ok(Json(JobList {
        jobs: jobs
            .into_iter()
            .map(|job| {
                let outcome = last.remove(&job.id);
                render(job, outcome, who.role())
            })
            .collect(),
        next_cursor,
    }))
}

/// One job.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs",
    security(("token" = ["viewer"]), ("session" = ["viewer"])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn get(
    who: Caller<Viewer>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<JobId>,
) -> Result<Json<JobView>, ApiError> {
    let job = load(&app, &id).await?;
    Ok(Json(view(&app, job, who.role()).await))
}

/// Replaces a job's whole definition (fields left out take their defaults).
#[utoipa::path(put, path = "/jobs/{id}", tag = "jobs",
    security(("token" = ["operator"]), ("session" = ["operator"])),
    params(("id" = String, Path, description = "Job id"), DryRunQuery),
    request_body = JobSpec,
    responses(
        (status = 200, description = "The job; with `dry_run=true` a `Plan` of what would change, nothing written", body = JobView),
        (status = 400, description = "A field is invalid (named in `field`)", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Another job has this name (`field` = `name`)", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn replace(
    who: Caller<Operator>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<JobId>,
    ValidQuery(query): ValidQuery<DryRunQuery>,
    ValidJson(spec): ValidJson<JobSpec>,
) -> Result<Response, ApiError> {
    let dry_run = query.wanted()?;
    let now = Utc::now();
    may_touch(&who, &spec)?;
    let current = load(&app, &id).await?;
    let spec = checked_replacement(&who, &app, &current, spec, now)?;
    if dry_run {
        check_name_free(&app, &spec.name, Some(&id)).await?;
        return Ok(planned(plan(Some(&current), Some(&spec))));
    }
    let job = replaced(&who, &app, &current, &spec, now).await?;
    Ok(Json(view(&app, job, who.role()).await).into_response())
}

/// Deletes a job; its agent stops firing it at the next push.
#[utoipa::path(delete, path = "/jobs/{id}", tag = "jobs",
    security(("token" = ["operator"]), ("session" = ["operator"])),
    params(("id" = String, Path, description = "Job id"), DryRunQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 200, description = "`dry_run=true`: what would be deleted; nothing written", body = Plan),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn delete(
    who: Caller<Operator>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<JobId>,
    ValidQuery(query): ValidQuery<DryRunQuery>,
) -> Result<Response, ApiError> {
    let dry_run = query.wanted()?;
    let current = load(&app, &id).await?;
    may_touch(&who, &current.spec)?;
    if dry_run {
        return Ok(planned(plan(Some(&current), None)));
    }
    if !app
        .store
        .delete_job(&id, who.audit("job", "delete"))
        .await?
    {
        return Err(not_found(&id));
    }
    app.metrics.forget(id.as_str());
    app.jobs_changed.notify_one();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Disables a job (idempotent).
#[utoipa::path(post, path = "/jobs/{id}/pause", tag = "jobs",
    security(("token" = ["operator"]), ("session" = ["operator"])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, paused", body = JobView),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn pause(
    who: Caller<Operator>,
    state: State<AppState>,
    id: ValidPath<JobId>,
) -> Result<Json<JobView>, ApiError> {
    set_enabled(who, state, id, false).await
}

/// Enables a job (idempotent).
#[utoipa::path(post, path = "/jobs/{id}/resume", tag = "jobs",
    security(("token" = ["operator"]), ("session" = ["operator"])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, enabled", body = JobView),
        (status = 400, description = "An `@at` job whose instant has passed (`field` = `schedule`)", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn resume(
    who: Caller<Operator>,
    state: State<AppState>,
    id: ValidPath<JobId>,
) -> Result<Json<JobView>, ApiError> {
    set_enabled(who, state, id, true).await
}

/// Pausing and resuming are operations, not edits: operators may do both to shell jobs too.
async fn set_enabled(
    who: Caller<Operator>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<JobId>,
    enabled: bool,
) -> Result<Json<JobView>, ApiError> {
    let job = load(&app, &id).await?;
    if job.spec.enabled == enabled {
        return Ok(Json(view(&app, job, who.role()).await));
    }
    let spec = JobSpec {
        enabled,
        ..job.spec
    };
    if enabled {
        let now = Utc::now();
        let (schedule, _) = spec.validate(now)?;
        spec.check_at_is_ahead(&schedule, now, None)?;
    }
    let verb = if enabled { "resume" } else { "pause" };
    let job = app
        .store
        .replace_job(&id, &spec, Utc::now(), who.audit("job", verb))
        .await?;
    let job = job.ok_or_else(|| not_found(&id))?;
    app.jobs_changed.notify_one();
    Ok(Json(view(&app, job, who.role()).await))
}

/// A name clash is the `name` field's fault.
pub(super) fn name_field(e: crate::store::StoreError) -> ApiError {
    let mut error = ApiError::from(e);
    if error.code == ErrorCode::Conflict {
        error.field = Some("name".into());
    }
    error
}
