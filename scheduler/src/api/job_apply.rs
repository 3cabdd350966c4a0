//! Declarative job changes: `PUT /api/v1/jobs/by-name/{name}` (create or replace, idempotent:
//! an unchanged definition writes nothing, not even `updated_at`), and `?dry_run=true` on
//! every job write, answering the field diff instead of writing. `crony apply` is built on both.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::jobs::{JobView, may_touch, name_field, view};
use super::json::ValidJson;
use super::params::{ValidPath, ValidQuery};
use crate::auth::role::{Operator, Viewer};
use crate::domain::ids::JobId;
use crate::domain::job::{Job, JobSpec};
use crate::domain::job_diff::{FieldChange, diff};
use crate::error::ErrorCode;
use crate::store::StoreError;

/// The header of a by-name answer saying what it did: `created`, `updated` or `unchanged`.
pub const CHANGE_HEADER: &str = "x-crony-change";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DryRunQuery {
    /// `true`: validate and answer what would change (a `Plan`), writing nothing.
    #[param(value_type = Option<bool>)]
    dry_run: Option<String>,
}

impl DryRunQuery {
    pub fn wanted(&self) -> Result<bool, ApiError> {
        match self.dry_run.as_deref() {
            None | Some("" | "false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ApiError::invalid("dry_run", "must be true or false")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Create,
    Update,
    Unchanged,
    Delete,
}

impl Change {
    /// As the by-name answer's `X-Crony-Change` says it, once done.
    fn done(self) -> &'static str {
        match self {
            Change::Create => "created",
            Change::Update => "updated",
            Change::Unchanged => "unchanged",
            Change::Delete => "deleted",
        }
    }
}

/// What a write would do: the answer of `?dry_run=true`. Nothing was written.
#[derive(Debug, Serialize, ToSchema)]
pub struct Plan {
    pub change: Change,
    /// The job changed, when it exists.
    pub job_id: Option<String>,
    /// Every field that would differ, secrets shown only as changed.
    pub changes: Vec<FieldChange>,
}

/// The plan of turning `current` into `next`; `next == None` deletes.
pub fn plan(current: Option<&Job>, next: Option<&JobSpec>) -> Plan {
    let changes = diff(current.map(|j| &j.spec), next);
    let change = match (current, next) {
        (None, _) => Change::Create,
        (Some(_), None) => Change::Delete,
        (Some(_), Some(_)) if changes.is_empty() => Change::Unchanged,
        (Some(_), Some(_)) => Change::Update,
    };
    Plan {
        change,
        job_id: current.map(|j| j.id.to_string()),
        changes,
    }
}

/// A dry run's answer.
pub fn planned(plan: Plan) -> Response {
    (StatusCode::OK, Json(plan)).into_response()
}

/// A new job's spec, checked as a create checks it.
pub fn checked_new<R>(
    who: &Caller<R>,
    app: &AppState,
    spec: JobSpec,
    now: DateTime<Utc>,
) -> Result<JobSpec, ApiError> {
    may_touch(who, &spec)?;
    let (schedule, _) = spec.validate(now)?;
    spec.check_at_is_ahead(&schedule, now, None)?;
    if let Some(allow) = &app.callback_allow {
        spec.check_callback_allow(allow)?;
    }
    Ok(spec)
}

/// The spec that replaces `current`, checked as a replace checks it: placeholders of stored
/// secrets filled in, so comparing it with `current` compares the real values.
pub fn checked_replacement<R>(
    who: &Caller<R>,
    app: &AppState,
    current: &Job,
    mut spec: JobSpec,
    now: DateTime<Utc>,
) -> Result<JobSpec, ApiError> {
    may_touch(who, &spec)?;
    // An operator may not turn a shell job into another kind either.
    may_touch(who, &current.spec)?;
    if spec.has_redacted() {
        spec.keep_redacted(&current.spec)?;
    }
    let (schedule, _) = spec.validate(now)?;
    spec.check_at_is_ahead(&schedule, now, Some(&current.spec))?;
    if let Some(allow) = &app.callback_allow {
        spec.check_callback_allow(allow)?;
    }
    Ok(spec)
}

/// A stored job, fresh: the scheduler owns everything but the spec.
pub fn new_job(spec: JobSpec, now: DateTime<Utc>) -> Job {
    // MySQL keeps milliseconds: the answer must show what a read will show.
    let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
    Job {
        id: uuid::Uuid::now_v7().simple().to_string().into(),
        spec,
        agent_id: None,
        assignment_epoch: 0,
        created_at: now,
        updated_at: now,
        last_scheduled_at: None,
    }
}

/// One job, by its name: what a job file keys on.
#[utoipa::path(get, path = "/jobs/by-name/{name}", tag = "jobs",
    security(("token" = ["viewer"]), ("session" = ["viewer"])),
    params(("name" = String, Path, description = "Job name")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No job has this name", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn get(
    who: Caller<Viewer>,
    State(app): State<AppState>,
    ValidPath(name): ValidPath<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = app
        .store
        .get_job_by_name(&name)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no job named {name:?}")))?;
    Ok(Json(view(&app, job, who.role()).await))
}

/// Creates or replaces the job named `name`, idempotently: an equal definition writes nothing
/// (no audit row, `updated_at` kept). The body's `name` must be the path's; renaming is
/// `PUT /jobs/{id}`'s.
#[utoipa::path(put, path = "/jobs/by-name/{name}", tag = "jobs",
    security(("token" = ["operator"]), ("session" = ["operator"])),
    params(("name" = String, Path, description = "Job name"), DryRunQuery),
    request_body = JobSpec,
    responses(
        (status = 200, description = "The job, replaced or unchanged (`X-Crony-Change: updated|unchanged`); with `dry_run=true` a `Plan`", body = JobView),
        (status = 201, description = "The job, created (`X-Crony-Change: created`)", body = JobView),
        (status = 400, description = "A field is invalid (named in `field`)", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn apply(
    who: Caller<Operator>,
    State(app): State<AppState>,
    ValidPath(name): ValidPath<String>,
    ValidQuery(query): ValidQuery<DryRunQuery>,
    ValidJson(spec): ValidJson<JobSpec>,
) -> Result<Response, ApiError> {
    let dry_run = query.wanted()?;
    if spec.name != name {
        return Err(ApiError::invalid(
            "name",
            format!("the body names {:?}, the path {name:?}", spec.name),
        ));
    }
    let now = Utc::now();
    let current = app.store.get_job_by_name(&name).await?;
    let spec = match &current {
        None => checked_new(&who, &app, spec, now)?,
        Some(job) => checked_replacement(&who, &app, job, spec, now)?,
    };
    let plan = plan(current.as_ref(), Some(&spec));
    if dry_run {
        return Ok(planned(plan));
    }
    let (status, job) = match (current, plan.change) {
        (Some(job), Change::Unchanged) => (StatusCode::OK, job),
        (Some(job), _) => (
            StatusCode::OK,
            replaced(&who, &app, &job, &spec, now).await?,
        ),
        (None, _) => (StatusCode::CREATED, created(&who, &app, spec, now).await?),
    };
    let mut response = (status, Json(view(&app, job, who.role()).await)).into_response();
    response
        .headers_mut()
        .insert(CHANGE_HEADER, HeaderValue::from_static(plan.change.done()));
    Ok(response)
}

/// Writes a new job with its audit row.
pub async fn created<R>(
    who: &Caller<R>,
    app: &AppState,
    spec: JobSpec,
    now: DateTime<Utc>,
) -> Result<Job, ApiError> {
    let job = new_job(spec, now);
    app.store
        .create_job(&job, who.audit("job", "create"))
        .await
        .map_err(name_field)?;
    app.metrics.named(job.id.as_str(), &job.spec.name);
    app.jobs_changed.notify_one();
    Ok(job)
}

pub async fn replaced<R>(
    who: &Caller<R>,
    app: &AppState,
    current: &Job,
    spec: &JobSpec,
    now: DateTime<Utc>,
) -> Result<Job, ApiError> {
    let job = app
        .store
        .replace_job(&current.id, spec, now, who.audit("job", "update"))
        .await
        .map_err(name_field)?
        // Deleted between the read and the write: say so rather than recreate it.
        .ok_or_else(|| super::jobs::not_found(&current.id))?;
    if job.spec.name != current.spec.name {
        // Renamed: the old name's series go now, the new name's come with the next run.
        app.metrics.forget(job.id.as_str());
    }
    app.metrics.named(job.id.as_str(), &job.spec.name);
    app.jobs_changed.notify_one();
    Ok(job)
}

/// A dry run must refuse what the write would: a name another job has.
pub async fn check_name_free(
    app: &AppState,
    name: &str,
    except: Option<&JobId>,
) -> Result<(), ApiError> {
    match app.store.get_job_by_name(name).await? {
        Some(other) if Some(&other.id) != except => Err(name_field(StoreError::Conflict(format!(
            "a job named {name:?} already exists"
        )))),
        _ => Ok(()),
    }
}
