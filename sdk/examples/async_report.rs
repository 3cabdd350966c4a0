//! A long job: the handler answers "accepted" at once, works in the background, and reports
//! the result later with the execution's `Reporter`. gRPC on 127.0.0.1:50052 (or
//! `CRONY_EXAMPLE_ADDR`), default method path `/crony.v1.JobCallback/Execute`.
//!
//! ```sh
//! cargo run -p crony-sdk --example async_report
//! ```
//!
//! Give the job an `async_timeout_secs` longer than the work (here: a few seconds); a result
//! that arrives after it is kept as the execution's `late_result` and the execution stays
//! `timed_out` (the reporter returns `Error::AlreadySettled`).

use std::time::Duration;

use crony_sdk::grpc::CallbackService;
use crony_sdk::{Error, JobContext, Outcome, handler_fn};

async fn export(ctx: JobContext) -> Outcome {
    let Some(reporter) = ctx.reporter() else {
        // Without a report URL nobody could learn the result: do the work inline instead.
        return Outcome::failed("no report URL in the call");
    };
    let execution = ctx.execution_id.clone();
    tokio::spawn(async move {
        // The long work, long after the callback returned.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rows = 1_234;
        match reporter.succeeded(format!("exported {rows} rows")).await {
            Ok(recorded) => println!("{execution}: recorded as {}", recorded.status),
            Err(Error::AlreadySettled { current_status }) => {
                println!("{execution}: too late, it stays {current_status}")
            }
            Err(e) => eprintln!("{execution}: could not report: {e}"),
        }
    });
    Outcome::Accepted
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("CRONY_EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:50052".into());
    println!("serving {} on {addr}", crony_sdk::grpc::DEFAULT_METHOD);
    CallbackService::single(handler_fn(export))
        .serve_with_shutdown(addr.parse()?, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
