//! Rust SDK for services that Crony runs on a schedule.
//!
//! - **Callbacks**: implement a [`Handler`] (an async function from a [`JobContext`] to an
//!   [`Outcome`]) and serve it over gRPC ([`grpc::CallbackService`], several jobs under
//!   different method paths in one service) or HTTP ([`http::router`], or the [`JobContext`]
//!   extractor in your own axum app).
//! - **Long work**: answer [`Outcome::Accepted`], do the work in the background, and post the
//!   result with the execution's [`Reporter`] (retries, backoff, idempotent).
//! - **Management**: [`Client`] creates, changes, pauses, resumes and triggers jobs, lists
//!   executions and waits for one to finish.
//!
//! Errors are this crate's [`Error`].
//!
//! ```no_run
//! use crony_sdk::grpc::CallbackService;
//! use crony_sdk::{JobContext, Outcome, handler_fn};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), crony_sdk::Error> {
//!     // Crony calls this whenever a job with target
//!     // {"kind": "grpc", "endpoint": "http://this-host:50051"} fires.
//!     CallbackService::single(handler_fn(|ctx: JobContext| async move {
//!         Outcome::succeeded(format!("hello from attempt {} of {}", ctx.attempt, ctx.execution_id))
//!     }))
//!     .serve("0.0.0.0:50051".parse().unwrap())
//!     .await
//! }
//! ```

#![warn(missing_docs)]

mod callback;
mod client;
mod context;
mod error;
mod executions;
mod handler;
mod job_views;
mod jobs;
mod report;

pub use callback::{grpc, http};
pub use client::{Client, path_segment};
pub use context::{JobContext, Outcome, ReportTarget};
pub use error::Error;
pub use executions::{
    Attempt, Execution, ExecutionPage, ExecutionQuery, ExecutionStatus, LateResult,
};
pub use handler::{Handler, HandlerFn, handler_fn};
pub use job_views::{Fire, Job, JobPage, JobQuery, Triggered};
pub use jobs::{
    Alerts, Backoff, FeishuWebhook, JobSpec, Misfire, Overlap, Placement, RetryPolicy, Target,
};
pub use report::{JobResult, ReportRetryPolicy, Reporter, ResultStatus};

/// The `#[async_trait]` attribute, for implementing [`Handler`] without adding the dependency.
pub use async_trait::async_trait;
/// Crony's wire types (`crony.v1`), for services that want the raw gRPC messages.
pub use crony_proto as proto;
/// The HTTP method of [`Client::request_json`].
pub use reqwest::Method;
