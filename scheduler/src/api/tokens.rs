//! `/api/v1/tokens…`: API tokens for scripts and the SDK client (admins only). A token is shown
//! once, when created; only its SHA-256 is stored.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::json::ValidJson;
use super::params::ValidPath;
use crate::auth::role::Admin;
use crate::auth::{Role, token};
use crate::error::ErrorCode;
use crate::store::tokens::{ApiToken, NewToken};

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<ApiToken>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, 1 to 64 characters.
    pub name: String,
    pub role: Role,
    /// When it stops working (RFC 3339, in the future); never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: ApiToken,
    /// The token itself, shown this once: send it as `Authorization: Bearer <token>`.
    pub token: String,
}

/// All tokens, revoked ones included (never the tokens themselves).
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    security(("token" = ["admin"]), ("session" = ["admin"])),
    responses(
        (status = 200, description = "Every token", body = TokenList),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn list(
    _who: Caller<Admin>,
    State(app): State<AppState>,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        tokens: app.store.list_tokens().await?,
    }))
}

/// Creates a token with a role and an optional expiry.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = TokenRequest,
    security(("token" = ["admin"]), ("session" = ["admin"])),
    responses(
        (status = 201, description = "The token, shown once", body = CreatedToken),
        (status = 400, description = "A field is invalid (named in `field`)", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn create(
    who: Caller<Admin>,
    State(app): State<AppState>,
    ValidJson(body): ValidJson<TokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::invalid("name", "must be 1 to 64 characters"));
    }
    if body.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let secret = token::new_api_token();
    let new = NewToken {
        name: name.to_owned(),
        role: body.role,
        hash: token::digest(&secret),
        prefix: token::display_prefix(&secret),
        expires_at: body.expires_at,
    };
    let info = app
        .store
        .create_token(&new, who.audit("token", "create"))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            info,
            token: secret,
        }),
    ))
}

/// Revokes a token at once (the row stays, for the record).
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens",
    security(("token" = ["admin"]), ("session" = ["admin"])),
    params(("id" = u64, Path, description = "Token id")),
    responses(
        (status = 400, description = "The id is not a number (`field` = `id`)", body = ErrorBody),
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token", body = ErrorBody),
))]
pub async fn revoke(
    who: Caller<Admin>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<u64>,
) -> Result<StatusCode, ApiError> {
    if !app
        .store
        .revoke_token(id, who.audit("token", "revoke"))
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no token with id {id}"),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
