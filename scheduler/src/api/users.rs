//! `/api/v1/users…`: accounts and their roles (admins only).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::json::ValidJson;
use super::params::ValidPath;
use crate::auth::role::Admin;
use crate::auth::settings::check_username;
use crate::auth::{Role, password};
use crate::error::ErrorCode;
use crate::store::accounts::{User, UserChange};

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
    pub username: String,
    /// At least 10 characters.
    pub password: String,
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<Role>,
    /// A new password; the user's sessions end.
    pub password: Option<String>,
    /// A disabled user cannot sign in; their sessions end.
    pub disabled: Option<bool>,
}

fn not_found(id: u64) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no user with id {id}"))
}

/// All accounts.
#[utoipa::path(get, path = "/users", tag = "users",
    security(("token" = ["admin"]), ("session" = ["admin"])),
    responses(
        (status = 200, description = "Every account", body = UserList),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn list(
    _who: Caller<Admin>,
    State(app): State<AppState>,
) -> Result<Json<UserList>, ApiError> {
    Ok(Json(UserList {
        users: app.store.list_users().await?,
    }))
}

/// Creates an account.
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    security(("token" = ["admin"]), ("session" = ["admin"])),
    responses(
        (status = 201, description = "The account", body = User),
        (status = 400, description = "A field is invalid (named in `field`)", body = ErrorBody),
        (status = 409, description = "The name is taken (`field` = `username`)", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn create(
    who: Caller<Admin>,
    State(app): State<AppState>,
    ValidJson(body): ValidJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    check_username(&body.username).map_err(|m| ApiError::invalid("username", m))?;
    password::check_new(&body.password).map_err(|m| ApiError::invalid("password", m))?;
    let user = app
        .store
        .create_user(
            &body.username,
            &password::hash(&body.password).await,
            body.role,
            who.audit("user", "create"),
        )
        .await
        .map_err(|e| {
            let mut e = ApiError::from(e);
            if e.code == ErrorCode::Conflict {
                e.field = Some("username".into());
            }
            e
        })?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One account.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    security(("token" = ["admin"]), ("session" = ["admin"])),
    params(("id" = u64, Path, description = "User id")),
    responses(
        (status = 400, description = "The id is not a number (`field` = `id`)", body = ErrorBody),
        (status = 200, description = "The account", body = User),
        (status = 404, description = "No such user", body = ErrorBody),
))]
pub async fn get(
    _who: Caller<Admin>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<u64>,
) -> Result<Json<User>, ApiError> {
    let user = app.store.get_user(id).await?.ok_or_else(|| not_found(id))?;
    Ok(Json(user))
}

/// Changes an account's role, password or disabled flag.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", request_body = UserPatch,
    security(("token" = ["admin"]), ("session" = ["admin"])),
    params(("id" = u64, Path, description = "User id")),
    responses(
        (status = 200, description = "The account after the change", body = User),
        (status = 400, description = "A field is invalid (named in `field`)", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The change would leave no enabled admin", body = ErrorBody),
))]
pub async fn patch(
    who: Caller<Admin>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<u64>,
    ValidJson(body): ValidJson<UserPatch>,
) -> Result<Json<User>, ApiError> {
    let password_hash = match &body.password {
        Some(pw) => {
            password::check_new(pw).map_err(|m| ApiError::invalid("password", m))?;
            Some(password::hash(pw).await)
        }
        None => None,
    };
    let change = UserChange {
        role: body.role,
        password_hash,
        disabled: body.disabled,
    };
    let user = app
        .store
        .change_user(id, &change, who.audit("user", "update"))
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(user))
}

/// Deletes an account and ends its sessions.
#[utoipa::path(delete, path = "/users/{id}", tag = "users",
    security(("token" = ["admin"]), ("session" = ["admin"])),
    params(("id" = u64, Path, description = "User id")),
    responses(
        (status = 400, description = "The id is not a number (`field` = `id`)", body = ErrorBody),
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "It is the last enabled admin", body = ErrorBody),
))]
pub async fn delete(
    who: Caller<Admin>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<u64>,
) -> Result<StatusCode, ApiError> {
    if !app
        .store
        .delete_user(id, who.audit("user", "delete"))
        .await?
    {
        return Err(not_found(id));
    }
    Ok(StatusCode::NO_CONTENT)
}
