//! Authentication of every API request, and `/auth/…`: login, logout, who am I, first setup.
//!
//! A caller is either an API token (`Authorization: Bearer crony_…`) or a dashboard session
//! (the `crony_session` cookie, with `X-CSRF-Token` on every change). Handlers name the least
//! role they need in their signature, as `Caller<Operator>`, so it cannot be forgotten quietly.

use std::marker::PhantomData;
use std::net::IpAddr;
use std::time::Instant;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
pub use super::client_ip::ClientIp;
use super::client_ip::client_ip;
use super::error::{ApiError, ErrorBody};
use super::json::ValidJson;
use crate::audit::AuditRecord;
use crate::auth::role::{Required, Viewer};
use crate::auth::settings::MAX_USERNAME_LEN;
use crate::auth::throttle::login_keys;
use crate::auth::{Actor, ActorKind, Principal, Role, SessionInfo, password, token};
use crate::error::ErrorCode;
use crate::store::StoreError;
use crate::store::accounts::User;

pub const SESSION_COOKIE: &str = "crony_session";
pub const CSRF_COOKIE: &str = "crony_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller holding at least role `R`.
#[derive(Debug)]
pub struct Caller<R> {
    pub principal: Principal,
    pub ip: Option<IpAddr>,
    /// The request's `X-Crony-Source` (which tool made the change), recorded in the audit log.
    pub source: Option<String>,
    role: PhantomData<R>,
}

impl<R> Caller<R> {
    pub fn actor(&self) -> &Actor {
        &self.principal.actor
    }

    pub fn role(&self) -> Role {
        self.principal.role
    }

    /// An audit record of this caller, from this address.
    pub fn audit(&self, target_type: &'static str, verb: &str) -> AuditRecord {
        AuditRecord::new(self.actor(), target_type, verb)
            .ip(self.ip.map(|ip| ip.to_string()))
            .source(self.source.clone())
    }
}

impl<R: Required> FromRequestParts<AppState> for Caller<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(parts, app).await?;
        if principal.role < R::ROLE {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "this needs the {} role; {} has {}",
                    R::ROLE,
                    principal.actor.name,
                    principal.role
                ),
            ));
        }
        Ok(Caller {
            principal,
            ip: client_ip(parts, app),
            source: super::source::source(&parts.headers)?,
            role: PhantomData,
        })
    }
}

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, message)
}

async fn authenticate(parts: &Parts, app: &AppState) -> Result<Principal, ApiError> {
    if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthenticated("Authorization must be `Bearer <API token>`"))?;
        return api_token(bearer, app).await;
    }
    let jar = CookieJar::from_headers(&parts.headers);
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        let principal = session(cookie.value(), app).await?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            check_csrf(&parts.headers, &principal)?;
        }
        return Ok(principal);
    }
    Err(unauthenticated(
        "sign in, or send `Authorization: Bearer <API token>`",
    ))
}

async fn api_token(bearer: &str, app: &AppState) -> Result<Principal, ApiError> {
    if !bearer.starts_with(token::API_TOKEN_PREFIX) {
        return Err(unauthenticated(
            "not an API token (an execution's report token only works on POST /api/v1/executions/{id}/result)",
        ));
    }
    let found = app.store.token_by_hash(&token::digest(bearer)).await?;
    let Some((found, owner)) = found else {
        return Err(unauthenticated("unknown API token"));
    };
    let role = owner
        .role_for(found.role)
        .map_err(|why| unauthenticated(format!("API token {:?} {why}", found.name)))?;
    let now = Utc::now();
    if found.revoked_at.is_some() {
        return Err(unauthenticated(format!(
            "API token {:?} was revoked",
            found.name
        )));
    }
    if found.expires_at.is_some_and(|at| at <= now) {
        return Err(unauthenticated(format!(
            "API token {:?} expired",
            found.name
        )));
    }
    // last_used_at is informative: written at most once a minute, off the request's path.
    if found
        .last_used_at
        .is_none_or(|at| now - at > chrono::Duration::seconds(60))
    {
        let store = app.store.clone();
        let id = found.id;
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(id, now).await {
                tracing::debug!(error = %e, "could not record a token's last use");
            }
        });
    }
    Ok(Principal {
        actor: Actor {
            kind: ActorKind::Token,
            id: Some(found.id.to_string()),
            name: found.name,
        },
        role,
        session: None,
    })
}

async fn session(cookie: &str, app: &AppState) -> Result<Principal, ApiError> {
    let id_hash = token::digest(cookie);
    let Some((user, csrf_token)) = app.store.session_user(&id_hash, Utc::now()).await? else {
        return Err(unauthenticated("your session has ended; sign in again"));
    };
    Ok(Principal {
        actor: user_actor(&user),
        role: user.role,
        session: Some(SessionInfo {
            id_hash,
            csrf_token,
        }),
    })
}

fn user_actor(user: &User) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: Some(user.id.to_string()),
        name: user.username.clone(),
    }
}

/// A cookie travels with any request the browser makes, including ones another site starts;
/// the CSRF token only comes from our own pages, which read it from the login answer.
fn check_csrf(headers: &HeaderMap, principal: &Principal) -> Result<(), ApiError> {
    let expected = principal
        .session
        .as_ref()
        .map(|s| s.csrf_token.as_str())
        .unwrap_or_default();
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if sent.is_empty() || !token::same(sent, expected) {
        return Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "a change made with a session cookie needs the X-CSRF-Token header (the csrf_token of the login answer)",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    pub user: User,
    /// Send as `X-CSRF-Token` with every change (also in the `crony_csrf` cookie).
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Signs in: sets the `crony_session` cookie (HttpOnly, SameSite=Strict; Secure behind TLS).
/// Repeated failures for one name from one address, or from one address for any names, make
/// further attempts from that address wait (429); other addresses are not slowed down.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginBody, responses(
    (status = 200, description = "Signed in; cookies set", body = LoginAnswer),
    (status = 400, description = "A field is missing or invalid", body = ErrorBody),
    (status = 401, description = "Wrong user name or password", body = ErrorBody),
    (status = 429, description = "Too many failed attempts; retry after `Retry-After` seconds", body = ErrorBody),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn login(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    ValidJson(body): ValidJson<LoginBody>,
) -> Result<(CookieJar, Json<LoginAnswer>), ApiError> {
    // Checked before the name becomes a throttle key: memory per key stays small.
    if body.username.is_empty() || body.username.len() > MAX_USERNAME_LEN {
        return Err(ApiError::invalid(
            "username",
            format!("must be 1 to {MAX_USERNAME_LEN} characters"),
        ));
    }
    let keys = login_keys(&body.username, ip);
    let ip = ip.map(|ip| ip.to_string());
    if let Err(wait) = app.auth.throttle.check(&keys, Instant::now()) {
        let mut e = ApiError::new(
            ErrorCode::TooManyRequests,
            format!(
                "too many failed sign-ins: try again in {} s",
                wait.as_secs().max(1)
            ),
        );
        e.retry_after = Some(wait.as_secs().max(1));
        return Err(e);
    }
    let found = app.store.user_for_login(&body.username).await?;
    let verified = match &found {
        Some(login) => password::verify(&body.password, &login.password_hash).await,
        None => {
            password::verify_nobody(&body.password).await;
            false
        }
    };
    let user = match found {
        Some(login) if verified => login.user,
        other => {
            app.auth.throttle.failed(&keys, Instant::now());
            let attempted = Actor {
                kind: ActorKind::User,
                id: other.map(|l| l.user.id.to_string()),
                name: body.username.clone(),
            };
            let audit = AuditRecord::new(&attempted, "auth", "login_failed").ip(ip);
            app.store.record_audit(audit).await?;
            return Err(unauthenticated("wrong user name or password"));
        }
    };
    if user.disabled {
        return Err(unauthenticated("this account is disabled"));
    }
    app.auth.throttle.succeeded(&keys);
    let session_id = token::random_secret();
    let csrf_token = token::random_secret();
    let ttl = app.auth.session_ttl;
    let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
    let audit = AuditRecord::new(&user_actor(&user), "auth", "login")
        .target(user.id.to_string())
        .ip(ip);
    app.store
        .create_session(
            user.id,
            &token::digest(&session_id),
            &csrf_token,
            expires_at,
            audit,
        )
        .await?;
    let max_age = cookie::time::Duration::seconds(ttl.as_secs() as i64);
    let session_cookie = Cookie::build((SESSION_COOKIE, session_id))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(app.auth.secure_cookies)
        .path("/")
        .max_age(max_age);
    let csrf_cookie = Cookie::build((CSRF_COOKIE, csrf_token.clone()))
        .same_site(SameSite::Strict)
        .secure(app.auth.secure_cookies)
        .path("/")
        .max_age(max_age);
    Ok((
        jar.add(session_cookie).add(csrf_cookie),
        Json(LoginAnswer {
            user,
            csrf_token,
            expires_at,
        }),
    ))
}

/// Signs out: ends the session and clears its cookies (204 even without one).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses(
    (status = 204, description = "Signed out"),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn logout(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
) -> Result<(StatusCode, CookieJar), ApiError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE)
        && let Ok(principal) = session(cookie.value(), &app).await
        && let Some(info) = &principal.session
    {
        let audit = AuditRecord::new(&principal.actor, "auth", "logout")
            .target(principal.actor.id.clone().unwrap_or_default())
            .ip(ip.map(|ip| ip.to_string()));
        app.store.delete_session(&info.id_hash, audit).await?;
    }
    let jar = jar
        .remove(Cookie::build(SESSION_COOKIE).path("/"))
        .remove(Cookie::build(CSRF_COOKIE).path("/"));
    Ok((StatusCode::NO_CONTENT, jar))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `user` (a dashboard session) or `token` (an API token).
    pub kind: ActorKind,
    /// The user's id or the token's id.
    pub id: Option<String>,
    pub name: String,
    pub role: Role,
    /// For sessions: the token to send as `X-CSRF-Token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Who the caller is and what role it has.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    security(("token" = ["viewer"]), ("session" = ["viewer"])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Not signed in", body = ErrorBody),
))]
pub async fn me(who: Caller<Viewer>) -> Json<Me> {
    Json(Me {
        kind: who.principal.actor.kind,
        id: who.principal.actor.id.clone(),
        name: who.principal.actor.name.clone(),
        role: who.principal.role,
        csrf_token: who.principal.session.map(|s| s.csrf_token),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupBody {
    /// The one-time token the scheduler logged at its first start.
    pub setup_token: String,
    pub username: String,
    pub password: String,
}

/// Creates the first admin with the one-time setup token (only while no account exists).
#[utoipa::path(post, path = "/auth/setup", tag = "auth", request_body = SetupBody, responses(
    (status = 201, description = "The first admin; sign in next", body = User),
    (status = 400, description = "A field is invalid (named in `field`)", body = ErrorBody),
    (status = 401, description = "Wrong setup token", body = ErrorBody),
    (status = 409, description = "Setup is over: an account exists", body = ErrorBody),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn setup(
    State(app): State<AppState>,
    ValidJson(body): ValidJson<SetupBody>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let expected = app
        .auth
        .setup_token
        .lock()
        .expect("setup token lock")
        .clone();
    let Some(expected) = expected else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "setup is over: sign in with an existing account",
        ));
    };
    if !token::same(&body.setup_token, &expected) {
        return Err(unauthenticated("wrong setup token"));
    }
    crate::auth::settings::check_username(&body.username)
        .map_err(|m| ApiError::invalid("username", m))?;
    password::check_new(&body.password).map_err(|m| ApiError::invalid("password", m))?;
    let actor = Actor::system("setup token");
    let hash = password::hash(&body.password).await;
    // Two setups at once: InnoDB lets one insert and deadlocks the other, whose retry then
    // finds the account and answers 409.
    let mut tries = 0;
    let created = loop {
        let audit = AuditRecord::new(&actor, "user", "create");
        match app
            .store
            .create_first_admin(&body.username, &hash, audit)
            .await
        {
            Err(StoreError::Retry(_)) if tries < 3 => tries += 1,
            other => break other?,
        }
    };
    let Some(user) = created else {
        *app.auth.setup_token.lock().expect("setup token lock") = None;
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "setup is over: sign in with an existing account",
        ));
    };
    *app.auth.setup_token.lock().expect("setup token lock") = None;
    Ok((StatusCode::CREATED, Json(user)))
}
