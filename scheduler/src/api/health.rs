//! Liveness, readiness (etcd and MySQL reachable) and Prometheus metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Up, and whether this instance is the leader (with its term).
pub async fn healthz(State(app): State<AppState>) -> impl IntoResponse {
    let term = app.leading_term.load(std::sync::atomic::Ordering::SeqCst);
    Json(json!({ "status": "ok", "leader": term > 0, "term": term }))
}

/// 200 when etcd and MySQL both answer within a second; otherwise 503 naming what failed.
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
    let failing: Vec<&str> = [("etcd", &etcd), ("mysql", &mysql)]
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| name)
        .collect();
    let show = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let body = json!({
        "status": if failing.is_empty() { "ready" } else { "unavailable" },
        "failing": failing,
        "checks": { "etcd": show(&etcd), "mysql": show(&mysql) },
    });
    let status = if failing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    app.metrics.live_agents.set(app.live.len() as i64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}
