//! Liveness, readiness (etcd and MySQL reachable) and Prometheus metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
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

/// `ok`, or the error of the check.
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
        match tokio::time::timeout(CHECK_TIMEOUT, app.etcd.clone().status()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 1 s".to_owned()),
        }
    };
    let mysql = async {
        match tokio::time::timeout(CHECK_TIMEOUT, app.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 1 s".to_owned()),
        }
    };
    let (etcd, mysql) = tokio::join!(etcd, mysql);
    let failing: Vec<String> = [("etcd", &etcd), ("mysql", &mysql)]
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| name.to_owned())
        .collect();
    let show = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let status = if failing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if failing.is_empty() {
            "ready"
        } else {
            "unavailable"
        }
        .into(),
        failing,
        checks: Checks {
            etcd: show(&etcd),
            mysql: show(&mysql),
        },
    };
    (status, Json(body))
}

/// Prometheus text exposition of the scheduler's metrics.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
))]
pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    app.metrics.live_agents.set(app.live.len() as i64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}
