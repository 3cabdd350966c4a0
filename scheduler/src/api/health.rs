//! Liveness, readiness (etcd and MySQL reachable) and Prometheus metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    pub leader: bool,
    /// The election term while leading, 0 while following.
    pub term: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// `etcd`, `mysql`: what did not answer.
    pub failing: Vec<String>,
    pub checks: Checks,
}

/// `ok`, `unreachable` (it answered with an error) or `timeout` (no answer within 1 s). The
/// error itself goes to the log only: `/readyz` is anonymous, and an error text can carry
/// host names, user names and versions a stranger should not learn.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub etcd: String,
    pub mysql: String,
}

/// Up, and whether this instance is the leader (with its term).
#[utoipa::path(get, path = "/healthz", tag = "health", responses(
    (status = 200, description = "The process is up", body = Health),
))]
pub async fn healthz(State(app): State<AppState>) -> Json<Health> {
    let term = app.leading_term.load(std::sync::atomic::Ordering::SeqCst);
    Json(Health {
        status: "ok".into(),
        leader: term > 0,
        term,
    })
}

/// 200 when etcd and MySQL both answer within a second; otherwise 503 naming what failed.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "etcd and MySQL answer", body = Readiness),
    (status = 503, description = "etcd or MySQL does not answer (named in `failing`)", body = Readiness),
))]
pub async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    let etcd = async {
        let answer = tokio::time::timeout(CHECK_TIMEOUT, app.etcd.clone().status()).await;
        probe(
            "etcd",
            answer.map(|r| r.map(drop).map_err(|e| e.to_string())),
        )
    };
    let mysql = async {
        let answer = tokio::time::timeout(CHECK_TIMEOUT, app.store.ping()).await;
        probe("mysql", answer.map(|r| r.map_err(|e| e.to_string())))
    };
    let (etcd, mysql) = tokio::join!(etcd, mysql);
    let failing: Vec<String> = [("etcd", etcd), ("mysql", mysql)]
        .into_iter()
        .filter(|(_, r)| *r != "ok")
        .map(|(name, _)| name.to_owned())
        .collect();
    let ready = failing.is_empty();
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" }.into(),
        failing,
        checks: Checks {
            etcd: etcd.into(),
            mysql: mysql.into(),
        },
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// The public word for one check; what went wrong is logged, not answered.
fn probe(
    name: &'static str,
    answer: Result<Result<(), String>, tokio::time::error::Elapsed>,
) -> &'static str {
    match answer {
        Ok(Ok(())) => "ok",
        Ok(Err(error)) => {
            tracing::warn!(check = name, %error, "readiness check failed");
            "unreachable"
        }
        Err(_) => {
            tracing::warn!(check = name, "readiness check got no answer within 1 s");
            "timeout"
        }
    }
}

/// Prometheus text exposition of the scheduler's metrics.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
    (status = 401, description = "`CRONY_METRICS_TOKEN` is set and the request lacks `Authorization: Bearer <it>`", body = String, content_type = "text/plain"),
))]
pub async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let given = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if let Some(why) = crony_common::metrics_token::refusal(app.metrics_token.as_ref(), given) {
        return (StatusCode::UNAUTHORIZED, why).into_response();
    }
    app.metrics.live_agents.set(app.live.len() as i64);
    let leading = app.leading_term.load(std::sync::atomic::Ordering::SeqCst) != 0;
    app.metrics.is_leader.set(i64::from(leading));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}
