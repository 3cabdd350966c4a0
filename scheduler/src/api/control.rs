//! Actions that reach into an agent: run a job now (`POST /jobs/{id}/trigger`). The agent
//! holding the job runs it and reports it like any other execution.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crony_proto::v1::{TriggerKind, TriggerRequest};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::error::ErrorCode;
use crate::reconcile::push::agent_client;

pub async fn trigger(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    let Some(agent) = app.live.get(&agent_id) else {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("agent {agent_id} of job {id} is not online; the job is being moved"),
        ));
    };
    let mut client = agent_client(&agent.grpc_addr, &app.cluster_token)
        .map_err(|e| ApiError::new(ErrorCode::Unavailable, e))?;
    let answer = client
        .trigger(TriggerRequest {
            job_id: id.clone(),
            assignment_epoch: job.assignment_epoch,
            kind: TriggerKind::Manual as i32,
            ..TriggerRequest::default()
        })
        .await
        .map_err(|s| {
            // NotFound / FailedPrecondition: the agent has not received this assignment yet.
            ApiError::new(
                ErrorCode::Unavailable,
                format!("agent {agent_id} did not run job {id}: {}", s.message()),
            )
        })?;
    let execution_id = answer.into_inner().execution_id;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"execution_id": execution_id, "job_id": id, "agent_id": agent_id})),
    ))
}
