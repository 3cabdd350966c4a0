//! Actions that reach into an agent: run a job now (`POST /jobs/{id}/trigger`) and stop a
//! running execution (`POST /executions/{id}/kill`). The agent reports the outcome like any
//! other execution.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use crony_proto::v1::{KillRequest, TriggerKind, TriggerRequest};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::params::ValidPath;
use crate::auth::role::Operator;
use crate::domain::ids::{AgentId, ExecutionId, JobId};
use crate::error::ErrorCode;
use crate::leader::push::agent_client;

#[derive(Debug, Serialize, ToSchema)]
pub struct Triggered {
    /// Look it up under `/executions/{id}` once the agent reports it.
    #[schema(value_type = String)]
    pub execution_id: ExecutionId,
    #[schema(value_type = String)]
    pub job_id: JobId,
    #[schema(value_type = String)]
    pub agent_id: AgentId,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Killing {
    #[schema(value_type = String)]
    pub execution_id: ExecutionId,
    #[schema(value_type = String)]
    pub agent_id: AgentId,
    /// Always true: the agent is stopping it and will report it `killed`.
    pub killing: bool,
}

/// Runs a job once now on its agent.
#[utoipa::path(post, path = "/jobs/{id}/trigger", tag = "jobs",
    security(("token" = ["operator"]), ("session" = ["operator"])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 202, description = "The agent started it", body = Triggered),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is paused or has no agent", body = ErrorBody),
        (status = 503, description = "Its agent is offline or did not take it; MySQL unreachable", body = ErrorBody),
))]
pub async fn trigger(
    who: Caller<Operator>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<JobId>,
) -> Result<(StatusCode, Json<Triggered>), ApiError> {
    let job = super::jobs::load(&app, &id).await?;
    if !job.spec.enabled {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("job {id} is paused; resume it to run it"),
        ));
    }
    let Some(agent_id) = job.agent_id.clone() else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("job {id} has no agent yet (no eligible agent is online)"),
        ));
    };
    let Some(agent) = app.live.get(agent_id.as_str()) else {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("agent {agent_id} of job {id} is not online; the job is being moved"),
        ));
    };
    // Recorded before the push: an attempt that then fails is still on record, and a run is
    // never left without one.
    let audit = who
        .audit("job", "trigger")
        .target(id.as_str())
        .after(serde_json::json!({"agent_id": agent_id}));
    app.store.record_audit(audit).await?;
    let mut client = agent_client(&agent, &app.agent_dialer)
        .map_err(|e| ApiError::new(ErrorCode::Unavailable, e))?;
    let (request, mut span) = crate::traced::push(
        &app.agent_dialer.tracer,
        TriggerRequest {
            job_id: id.to_string(),
            assignment_epoch: job.assignment_epoch,
            kind: TriggerKind::Manual as i32,
            ..TriggerRequest::default()
        },
        agent_id.as_str(),
    );
    let answer = client
        .trigger(request)
        .await
        .inspect_err(|s| span.fail(s.message()))
        .map_err(|s| {
            // NotFound / FailedPrecondition: the agent has not received this assignment yet.
            ApiError::new(
                ErrorCode::Unavailable,
                format!("agent {agent_id} did not run job {id}: {}", s.message()),
            )
        })?;
    let execution_id = ExecutionId::from(answer.into_inner().execution_id);
    Ok((
        StatusCode::ACCEPTED,
        Json(Triggered {
            execution_id,
            job_id: id,
            agent_id,
        }),
    ))
}

/// `POST /executions/{id}/kill`: the agent running it stops it (process group for shell,
/// cancellation for calls) and reports it `killed`.
#[utoipa::path(post, path = "/executions/{id}/kill", tag = "executions",
    security(("token" = ["operator"]), ("session" = ["operator"])),
    params(("id" = String, Path, description = "Execution id")),
    responses(
        (status = 202, description = "The agent is stopping it", body = Killing),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 409, description = "Not running, or its service reports the result", body = ErrorBody),
        (status = 503, description = "Its agent is offline or unreachable; MySQL unreachable", body = ErrorBody),
))]
pub async fn kill(
    who: Caller<Operator>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<ExecutionId>,
) -> Result<(StatusCode, Json<Killing>), ApiError> {
    let Some(execution) = app.store.get_execution(&id).await? else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no execution {id}"),
        ));
    };
    let execution = execution.summary;
    if execution.status != "running" {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("execution {id} is {}, not running", execution.status),
        ));
    }
    if execution.async_deadline.is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "execution {id} was handed to its service, which reports the result; the agent has nothing to stop"
            ),
        ));
    }
    let agent_id = execution.agent_id;
    let Some(agent) = app.live.get(agent_id.as_str()) else {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("agent {agent_id} running execution {id} is not online"),
        ));
    };
    let audit = who
        .audit("execution", "kill")
        .target(id.as_str())
        .after(serde_json::json!({"job_id": execution.job_id, "agent_id": agent_id}));
    app.store.record_audit(audit).await?;
    let mut client = agent_client(&agent, &app.agent_dialer)
        .map_err(|e| ApiError::new(ErrorCode::Unavailable, e))?;
    let killed = client
        .kill(KillRequest {
            execution_id: id.to_string(),
        })
        .await
        .map_err(|s| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "agent {agent_id} could not be asked to kill {id}: {}",
                    s.message()
                ),
            )
        })?
        .into_inner()
        .killed;
    if !killed {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("execution {id} is no longer running on agent {agent_id}"),
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Killing {
            execution_id: id,
            agent_id,
            killing: true,
        }),
    ))
}
