//! An HTTP service for Crony with axum, on 127.0.0.1:8081 (or `CRONY_EXAMPLE_ADDR`):
//! `POST /jobs/report` uses the `JobContext` extractor in a plain axum handler, and
//! `/jobs/cleanup` mounts a `Handler` with `crony_sdk::http::endpoint`.
//!
//! ```sh
//! cargo run -p crony-sdk --example http_callback
//! ```
//!
//! A job calls it with the target `{"kind": "http", "url": "http://127.0.0.1:8081/jobs/report"}`.

use axum::Router;
use axum::routing::{get, post};
use crony_sdk::{JobContext, Outcome, handler_fn};

/// Crony's headers and body become the context; the outcome becomes 200 / 500 / 202.
async fn report(ctx: JobContext) -> Outcome {
    println!(
        "report: execution {} of job {} (attempt {}), payload {:?}",
        ctx.execution_id, ctx.job_id, ctx.attempt, ctx.payload
    );
    Outcome::succeeded(format!(
        "report for {} built",
        ctx.scheduled_at.date_naive()
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("CRONY_EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let cleanup = handler_fn(|ctx: JobContext| async move {
        Outcome::succeeded(format!("cleaned up for {}", ctx.execution_id))
    });
    // Crony's routes live next to the service's own.
    let app = Router::new()
        .route("/jobs/report", post(report))
        .route("/jobs/cleanup", crony_sdk::http::endpoint(cleanup))
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("serving http://{addr}/jobs/report and /jobs/cleanup");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
