//! The agent's small HTTP side: `/metrics` (Prometheus text) and `/healthz`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use crony_common::lease::Fence;
use crony_common::metrics_token::{self, MetricsToken};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

#[derive(Clone)]
struct Status {
    metrics: Arc<Metrics>,
    fence: Arc<Fence>,
    token: Option<MetricsToken>,
}

pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    fence: Arc<Fence>,
    token: Option<MetricsToken>,
    shutdown: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(health))
        .with_state(Status {
            metrics,
            fence,
            token,
        });
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "metrics endpoint stopped");
    }
}

async fn render(State(status): State<Status>, headers: HeaderMap) -> Response {
    let given = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if let Some(why) = metrics_token::refusal(status.token.as_ref(), given) {
        return (StatusCode::UNAUTHORIZED, why).into_response();
    }
    status.metrics.render().into_response()
}

/// 200 while the lease is certainly alive (the agent may fire), 503 otherwise.
async fn health(State(status): State<Status>) -> (StatusCode, &'static str) {
    if status.fence.is_alive() {
        (StatusCode::OK, "lease alive\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "lease not confirmed\n")
    }
}
