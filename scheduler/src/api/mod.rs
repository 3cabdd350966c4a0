//! The HTTP surface: `/api/v1/...` (JSON), `/healthz`, `/readyz`, `/metrics`.

pub mod agents;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod client_ip;
pub mod control;
pub mod cron;
pub mod error;
pub mod executions;
pub mod health;
mod http_metrics;
pub mod job_apply;
pub mod jobs;
pub mod json;
pub mod openapi;
pub mod paging;
pub mod params;
mod source;
pub mod stats;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    /// Calls agents for the API (trigger, kill): cluster token, and the CA for TLS agents.
    pub agent_dialer: crate::leader::push::AgentDialer,
    /// `CRONY_CALLBACK_ALLOW`: hosts job targets may name; `None`: any.
    pub callback_allow: Option<Arc<crony_common::callback_allow::CallbackAllow>>,
    /// Checks the bearer tokens of async results (derived from the cluster token).
    /// `None` without a cluster token: no report tokens are issued, so none is accepted.
    pub report_key: Option<crony_common::report_token::ReportKey>,
    /// Where settled executions are reported for alerting.
    pub alert_events: crate::alert::events::AlertEvents,
    /// Senders and settings, for test alerts.
    pub channels: Arc<crate::alert::delivery::Channels>,
    /// Login throttling, the setup token and cookie settings.
    pub auth: Arc<crate::auth::bootstrap::AuthState>,
    /// `CRONY_METRICS_TOKEN`: what `/metrics` asks for; `None`: open.
    pub metrics_token: Option<crony_common::metrics_token::MetricsToken>,
    /// Traces posted async results (`crony.result`); off unless `CRONY_OTEL_ENDPOINT`.
    pub tracer: crony_common::traces::Tracer,
    /// `CRONY_OTEL_TRACE_URL`: executions answer `trace_url` with it.
    pub trace_url: Option<Arc<crate::traced::TraceUrl>>,
}

/// The largest request body the API reads. Job fields are capped at 64 KiB each; 1 MiB
/// leaves room for all of them.
pub const MAX_BODY: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let (router, doc) = documented().split_for_parts();
    let document = openapi::Document(Arc::new(openapi::render(&doc).to_string()));
    // The dashboard is not part of the API document: it is pages, not operations.
    let tracked = axum::middleware::from_fn_with_state(state.clone(), http_metrics::track);
    router
        .layer(Extension(document))
        .merge(crate::dashboard::router())
        // Only routed requests: a route template is the label, never a path a client made up.
        .route_layer(tracked)
        .layer(request_log())
        .with_state(state)
}

/// One log line per request (method, path, status, latency) at info, through tower-http's
/// trace layer; headers (credentials, cookies) are never recorded.
fn request_log() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
> {
    use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
    use tracing::Level;
    TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

/// The OpenAPI document of [`router`], without starting anything.
pub fn openapi_document() -> serde_json::Value {
    openapi::render(&documented().into_openapi())
}

/// Every route together with its documentation: `routes!` only takes handlers that carry
/// `#[utoipa::path]`, and the path and method come from that attribute, so a route cannot be
/// served undocumented or documented under another path.
fn documented() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(agents::list))
        .routes(routes!(agents::get, agents::patch))
        .routes(routes!(jobs::list, jobs::create))
        .routes(routes!(jobs::get, jobs::replace, jobs::delete))
        .routes(routes!(job_apply::get, job_apply::apply))
        .routes(routes!(jobs::pause))
        .routes(routes!(jobs::resume))
        .routes(routes!(control::trigger))
        .routes(routes!(executions::list))
        .routes(routes!(executions::get))
        .routes(routes!(executions::post_result))
        .routes(routes!(control::kill))
        .routes(routes!(cron::preview))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::test))
        .routes(routes!(stats::summary))
        .routes(routes!(stats::daily))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::setup))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::patch, users::delete))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(openapi::document))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .fallback(error::not_found);
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", api)
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}
