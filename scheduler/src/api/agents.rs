//! `GET /api/v1/agents` and `GET /api/v1/agents/{id}`: MySQL's history of agents, with the
//! live set from etcd deciding who is online (it is fresher than any table).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::json::ValidJson;
use super::params::{ValidPath, ValidQuery};
use crate::auth::role::{Admin, Viewer};
use crate::domain::agent::{AgentPatch, AgentState, AgentView};
use crate::domain::ids::AgentId;
use crate::error::ErrorCode;
use crate::store::StoreError;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only agents in this state (from the live etcd view).
    #[param(value_type = Option<AgentState>)]
    state: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
}

/// Every agent ever seen, by id; online ones from etcd even when MySQL is down.
#[utoipa::path(get, path = "/agents", tag = "agents",
    security(("token" = ["viewer"]), ("session" = ["viewer"])), params(ListQuery), responses(
    (status = 200, description = "The agents", body = AgentList),
    (status = 400, description = "`state` is not online or offline", body = ErrorBody),
    (status = 503, description = "MySQL and etcd both unreachable", body = ErrorBody),
))]
pub async fn list(
    _who: Caller<Viewer>,
    State(app): State<AppState>,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<AgentList>, ApiError> {
    let wanted = match query.state.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            AgentState::parse(raw)
                .ok_or_else(|| ApiError::invalid("state", "state must be online or offline"))?,
        ),
    };
    let mut agents = match app.store.list_agents().await {
        Ok(rows) => rows,
        // MySQL down: the live set still answers who is online.
        Err(e @ StoreError::Unavailable(_)) => {
            tracing::warn!(error = %e, "agents listed from etcd only");
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    for agent in &mut agents {
        overlay_live(&app, agent);
    }
    for record in app.live.snapshot() {
        if !agents.iter().any(|a| a.id.as_str() == record.id) {
            agents.push(AgentView::from_live(&record));
        }
    }
    agents.retain(|a| wanted.is_none_or(|w| a.state == w));
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(AgentList { agents }))
}

/// One agent.
#[utoipa::path(get, path = "/agents/{id}", tag = "agents",
    security(("token" = ["viewer"]), ("session" = ["viewer"])),
    params(("id" = String, Path, description = "Agent id")),
    responses(
        (status = 200, description = "The agent", body = AgentView),
        (status = 404, description = "No such agent", body = ErrorBody),
        (status = 503, description = "MySQL unreachable and the agent not online", body = ErrorBody),
))]
pub async fn get(
    _who: Caller<Viewer>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<AgentId>,
) -> Result<Json<AgentView>, ApiError> {
    view(&app, &id).await.map(Json)
}

/// One agent: stored history overlaid with its live record.
async fn view(app: &AppState, id: &AgentId) -> Result<AgentView, ApiError> {
    let stored = app.store.get_agent(id).await;
    let mut agent = match (stored, app.live.get(id.as_str())) {
        (Ok(Some(agent)), _) => agent,
        (_, Some(record)) => AgentView::from_live(&record),
        (Ok(None), None) => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no agent with id {id:?}"),
            ));
        }
        (Err(e), None) => return Err(e.into()),
    };
    overlay_live(app, &mut agent);
    Ok(agent)
}

/// Operator weight override and drain; placement follows at once.
#[utoipa::path(patch, path = "/agents/{id}", tag = "agents",
    security(("token" = ["admin"]), ("session" = ["admin"])),
    params(("id" = String, Path, description = "Agent id")),
    request_body = AgentPatch,
    responses(
        (status = 200, description = "The agent after the change", body = AgentView),
        (status = 400, description = "A field is invalid (named in `field`)", body = ErrorBody),
        (status = 404, description = "No such agent", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn patch(
    who: Caller<Admin>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<AgentId>,
    ValidJson(patch): ValidJson<AgentPatch>,
) -> Result<Json<AgentView>, ApiError> {
    patch
        .validate()
        .map_err(|m| ApiError::invalid("weight", m))?;
    if !app
        .store
        .patch_agent(&id, &patch, who.audit("agent", "update"))
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no agent with id {id:?}"),
        ));
    }
    // Placement follows at once (a drained agent's jobs move away).
    app.jobs_changed.notify_one();
    view(&app, &id).await.map(Json)
}

/// Live fields come from etcd; history and operator settings from MySQL.
fn overlay_live(app: &AppState, agent: &mut AgentView) {
    match app.live.get(agent.id.as_str()) {
        Some(record) => {
            let kept = agent.clone();
            *agent = AgentView {
                first_seen: kept.first_seen,
                last_seen: kept.last_seen,
                weight_override: kept.weight_override,
                drained: kept.drained,
                ..AgentView::from_live(&record)
            };
        }
        None => agent.state = AgentState::Offline,
    }
}
