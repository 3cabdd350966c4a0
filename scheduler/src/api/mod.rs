//! The HTTP surface: `/api/v1/...` (JSON), `/healthz`, `/readyz`, `/metrics`.

pub mod agents;
pub mod error;
pub mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

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
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/agents", get(agents::list))
        .route("/agents/{id}", get(agents::get))
        .fallback(error::not_found);
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(state)
}
