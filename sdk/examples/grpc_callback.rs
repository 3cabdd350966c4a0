//! Two jobs under two gRPC method paths in one process: `/billing.Jobs/Settle` and
//! `/billing.Jobs/Reconcile`, on 127.0.0.1:50051 (or `CRONY_EXAMPLE_ADDR`).
//!
//! ```sh
//! cargo run -p crony-sdk --example grpc_callback
//! ```
//!
//! A job calls it with the target
//! `{"kind": "grpc", "endpoint": "http://127.0.0.1:50051", "method": "/billing.Jobs/Settle"}`
//! (the `register_jobs` example creates such jobs).

use crony_sdk::grpc::CallbackService;
use crony_sdk::{Handler, JobContext, Outcome, async_trait, handler_fn};

/// A handler with state: implement [`Handler`] on your own type.
struct Settle {
    currency: &'static str,
}

#[async_trait]
impl Handler for Settle {
    async fn handle(&self, ctx: JobContext) -> Outcome {
        println!(
            "settle: execution {} attempt {} scheduled at {} payload {:?}",
            ctx.execution_id, ctx.attempt, ctx.scheduled_at, ctx.payload
        );
        Outcome::succeeded(format!("settled {} in {}", ctx.payload, self.currency))
    }
}

/// A handler without state: any async function of a `JobContext`.
async fn reconcile(ctx: JobContext) -> Outcome {
    println!("reconcile: execution {}", ctx.execution_id);
    if ctx.payload.contains("broken") {
        // Crony records the failure and retries if the job has retries left.
        return Outcome::failed("the ledger does not balance");
    }
    Outcome::succeeded("reconciled")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("CRONY_EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:50051".into());
    let service = CallbackService::new()
        .method("/billing.Jobs/Settle", Settle { currency: "EUR" })?
        .method("/billing.Jobs/Reconcile", handler_fn(reconcile))?;
    println!(
        "serving {:?} on {addr}",
        service.paths().collect::<Vec<_>>()
    );
    service
        .serve_with_shutdown(addr.parse()?, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
