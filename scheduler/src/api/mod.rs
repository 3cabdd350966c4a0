//! The HTTP surface: `/api/v1/...` (JSON), `/healthz`, `/readyz`, `/metrics`.

pub mod agents;
pub mod alerts;
pub mod control;
pub mod cron;
pub mod error;
pub mod executions;
pub mod health;
pub mod jobs;
pub mod json;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::metrics::Metrics;
use crate::registry::LiveAgents;
use crate::store::Store;

/// What every handler may need.
#[derive(Clone)]
pub struct AppState {
    pub live: Arc<LiveAgents>,
    pub store: Arc<dyn Store>,
    pub etcd: etcd_client::Client,
    pub metrics: Arc<Metrics>,
    /// Woken after every job change, so placement and pushes follow at once.
    pub jobs_changed: Arc<tokio::sync::Notify>,
    /// The election term while this instance leads, 0 while it follows.
    pub leading_term: Arc<std::sync::atomic::AtomicU64>,
    /// Presented to agents when the API calls them (trigger, kill).
    pub cluster_token: crony_proto::auth::AttachClusterToken,
    /// Checks the bearer tokens of async results (derived from the cluster token).
    pub report_key: crony_common::report_token::ReportKey,
    /// Where settled executions are reported for alerting.
    pub alert_events: crate::alert::events::AlertEvents,
    /// Senders and settings, for test alerts.
    pub channels: Arc<crate::alert::delivery::Channels>,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/agents", get(agents::list))
        .route("/agents/{id}", get(agents::get).patch(agents::patch))
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route(
            "/jobs/{id}",
            get(jobs::get).put(jobs::replace).delete(jobs::delete),
        )
        .route("/jobs/{id}/pause", post(jobs::pause))
        .route("/jobs/{id}/resume", post(jobs::resume))
        .route("/jobs/{id}/trigger", post(control::trigger))
        .route("/executions", get(executions::list))
        .route("/executions/{id}", get(executions::get))
        .route("/executions/{id}/result", post(executions::post_result))
        .route("/executions/{id}/kill", post(control::kill))
        .route("/cron/preview", get(cron::preview))
        .route("/alerts", get(alerts::list))
        .route("/alerts/test", post(alerts::test))
        // Job bodies are capped at 64 KiB per field; 1 MiB leaves room for all of them.
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .fallback(error::not_found);
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(state)
}
