//! `GET /api/v1/audit`: who changed what and when, newest first (operators and admins).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::paging::{given, page_limit};
use super::params::ValidQuery;
use crate::audit::{AuditEntry, AuditFilter};
use crate::auth::role::Operator;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// e.g. `job.update`, `user.create`, `token.revoke`, `auth.login_failed`.
    action: Option<String>,
    /// `job`, `agent`, `user`, `token`, `execution`, `auth`.
    target_type: Option<String>,
    target_id: Option<String>,
    /// The user or token name.
    actor: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500; default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The audit log with filters and cursor paging; secrets appear redacted.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    security(("token" = ["operator"]), ("session" = ["operator"])),
    responses(
        (status = 200, description = "One page, newest first", body = AuditList),
        (status = 400, description = "A parameter is invalid (named in `field`)", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn list(
    _who: Caller<Operator>,
    State(app): State<AppState>,
    ValidQuery(query): ValidQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let limit = page_limit(query.limit)?;
    let before_id = match given(query.cursor) {
        None => None,
        Some(raw) => Some(raw.parse::<u64>().map_err(|_| {
            ApiError::invalid("cursor", "not a cursor from a previous page's next_cursor")
        })?),
    };
    let filter = AuditFilter {
        action: given(query.action),
        target_type: given(query.target_type),
        target_id: given(query.target_id),
        actor: given(query.actor),
        before_id,
        limit,
    };
    let entries = app.store.list_audit(&filter).await?;
    let next_cursor = (entries.len() as u32 == limit)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(AuditList {
        entries,
        next_cursor,
    }))
}
