//! Registers the jobs the other examples serve, runs one now and waits for it, then lists the
//! recent executions. Crony's API is `CRONY_URL` (default `http://127.0.0.1:8080`, what
//! `./scripts/dev up` prints); `CRONY_TOKEN` is sent as a bearer token when set.
//!
//! ```sh
//! cargo run -p crony-sdk --example register_jobs
//! ```
//!
//! Running it again updates the jobs instead of failing on their names.

use std::time::Duration;

use crony_sdk::{Client, Error, ExecutionQuery, JobQuery, JobSpec, Target};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CRONY_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let mut crony = Client::new(&url)?;
    if let Ok(token) = std::env::var("CRONY_TOKEN") {
        crony = crony.with_token(token);
    }

    let specs = [
        JobSpec::new(
            "billing-settle",
            "*/10 * * * * *",
            Target::grpc("http://127.0.0.1:50051", "/billing.Jobs/Settle"),
        )
        .payload("ledger-eu")
        .retries(2),
        JobSpec::new(
            "billing-reconcile",
            "0 * * * * *",
            Target::grpc("http://127.0.0.1:50051", "/billing.Jobs/Reconcile"),
        ),
        JobSpec::new(
            "daily-report",
            "0 30 2 * * *",
            Target::http("http://127.0.0.1:8081/jobs/report"),
        )
        .timezone("Asia/Shanghai")
        .payload("region=cn"),
        JobSpec::new(
            "export",
            "@every 1m",
            Target::grpc("http://127.0.0.1:50052", crony_sdk::grpc::DEFAULT_METHOD),
        )
        .async_timeout_secs(60),
    ];
    let mut settle_id = None;
    for spec in &specs {
        let job = upsert(&crony, spec).await?;
        println!(
            "{:<18} {}  next: {}",
            job.spec.name,
            job.id,
            job.next_fires
                .first()
                .map(|f| f.local.as_str())
                .unwrap_or("-")
        );
        if job.spec.name == "billing-settle" {
            settle_id = Some(job.id);
        }
    }

    // Run one now. Right after creation the job may not be on its agent yet: retry briefly.
    let settle_id = settle_id.expect("created above");
    let mut attempts = 0;
    let run = loop {
        match crony.trigger_job(&settle_id).await {
            Ok(run) => break run,
            Err(Error::Api {
                status: 409 | 503, ..
            }) if attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    println!("triggered {} on agent {}", run.execution_id, run.agent_id);
    let done = crony
        .wait_for_execution(&run.execution_id, Duration::from_secs(60))
        .await?;
    println!(
        "{} → {} {:?}",
        done.id,
        done.status,
        done.output.unwrap_or_default()
    );

    let recent = crony
        .list_executions(&ExecutionQuery {
            limit: Some(10),
            ..ExecutionQuery::default()
        })
        .await?;
    for e in recent.executions {
        println!(
            "{} {:<10} {} job {}",
            e.scheduled_at, e.status, e.id, e.job_id
        );
    }
    Ok(())
}

/// Creates the job, or replaces the definition of the job with its name.
async fn upsert(crony: &Client, spec: &JobSpec) -> Result<crony_sdk::Job, Error> {
    match crony.create_job(spec).await {
        Err(Error::Api { status: 409, .. }) => {
            let page = crony
                .list_jobs(&JobQuery {
                    q: Some(spec.name.clone()),
                    ..JobQuery::default()
                })
                .await?;
            let existing = page
                .jobs
                .into_iter()
                .find(|j| j.spec.name == spec.name)
                .ok_or_else(|| Error::InvalidInput(format!("job {} vanished", spec.name)))?;
            crony.update_job(&existing.id, spec).await
        }
        other => other,
    }
}
