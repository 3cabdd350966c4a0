//! Issue 6 scenarios: services built only with `crony-sdk` on real etcd, MariaDB, scheduler and
//! agent processes — scheduled gRPC (two method paths, one service) and HTTP callbacks, async
//! results through the SDK's reporter (succeeded, failed, wrong token, too late), and the
//! management client.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crony_sdk::grpc::CallbackService;
use crony_sdk::{
    Client, Error, ExecutionQuery, ExecutionStatus, JobContext, JobSpec, Outcome, ReportTarget,
    Target, handler_fn,
};
use crony_tests::{AgentProcess, TestEnv, TestScheduler, wait_until};
use tokio::sync::mpsc;

/// A scheduler and one agent (lease TTL 2 s), the agent online, and a client for its API.
async fn cluster(env: &TestEnv) -> anyhow::Result<(TestScheduler, AgentProcess, Client)> {
    let (scheduler, agent) = common::scheduler_and_agent(env).await?;
    let client = Client::new(&scheduler.base_url)?.with_token(crony_tests::ADMIN_TOKEN);
    Ok((scheduler, agent, client))
}

/// Serves `service` on a free loopback port; returns its endpoint.
async fn serve_grpc(service: CallbackService) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    tokio::spawn(service.serve_with_listener(listener, std::future::pending()));
    Ok(endpoint)
}

/// Serves an axum app on a free loopback port; returns its base URL.
async fn serve_http(app: axum::Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

/// Waits until the job has at least `n` executions with `status`; returns them.
async fn wait_for(
    client: &Client,
    job_id: &str,
    status: ExecutionStatus,
    n: usize,
    within: Duration,
) -> anyhow::Result<Vec<crony_sdk::Execution>> {
    wait_until(&format!("{n} {status} executions"), within, || async move {
        let page = client
            .list_executions(&ExecutionQuery::job(job_id).statuses([status]))
            .await
            .map_err(|e| e.to_string())?;
        if page.executions.len() >= n {
            Ok(Some(page.executions))
        } else {
            Err(format!("{} of {n}", page.executions.len()))
        }
    })
    .await
}

/// Triggers a job once the scheduler has placed it on the agent; returns the execution id.
async fn trigger(client: &Client, job_id: &str) -> anyhow::Result<String> {
    wait_until(
        "the job can be triggered",
        Duration::from_secs(10),
        || async move {
            match client.trigger_job(job_id).await {
                Ok(triggered) => Ok(Some(triggered.execution_id)),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
}

#[tokio::test]
async fn scheduled_grpc_and_http_callbacks_reach_a_service_built_with_the_sdk() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let (_s, _agent, client) = cluster(&env).await?;
    let calls: Arc<Mutex<Vec<(String, JobContext)>>> = Arc::default();
    let record = |name: &'static str| {
        let calls = Arc::clone(&calls);
        handler_fn(move |ctx: JobContext| {
            let calls = Arc::clone(&calls);
            async move {
                let output = format!("{name} {}", ctx.payload);
                calls.lock().unwrap().push((name.to_owned(), ctx));
                Outcome::succeeded(output)
            }
        })
    };
    let endpoint = serve_grpc(
        CallbackService::new()
            .method("/billing.Jobs/Settle", record("settle"))?
            .method("/billing.Jobs/Reconcile", record("reconcile"))?,
    )
    .await?;
    let http = serve_http(
        axum::Router::new().route("/jobs/report", crony_sdk::http::endpoint(record("http"))),
    )
    .await?;

    let every_second = "*/1 * * * * *";
    let settle = JobSpec::new(
        "sdk-settle",
        every_second,
        Target::grpc(&endpoint, "/billing.Jobs/Settle"),
    )
    .payload("ledger-eu");
    let reconcile = JobSpec::new(
        "sdk-reconcile",
        every_second,
        Target::grpc(&endpoint, "/billing.Jobs/Reconcile"),
    )
    .payload("ledger-us");
    let report = JobSpec::new(
        "sdk-http",
        every_second,
        Target::http(format!("{http}/jobs/report")),
    )
    .payload("day=yesterday");
    let mut jobs = Vec::new();
    for spec in [&settle, &reconcile, &report] {
        jobs.push(client.create_job(spec).await?);
    }
    for (job, label) in jobs.iter().zip(["settle", "reconcile", "http"]) {
        let done = wait_for(
            &client,
            &job.id,
            ExecutionStatus::Succeeded,
            2,
            Duration::from_secs(20),
        )
        .await?;
        let one = client.get_execution(&done[0].id).await?;
        assert_eq!(
            one.output.as_deref(),
            Some(format!("{label} {}", job.spec.payload).as_str()),
            "{one:?}"
        );
        assert_eq!(one.trigger, "schedule");
    }
    for job in &jobs {
        client.pause_job(&job.id).await?;
    }

    let calls = calls.lock().unwrap().clone();
    for (job, label) in jobs.iter().zip(["settle", "reconcile", "http"]) {
        let mine: Vec<&JobContext> = calls
            .iter()
            .filter(|(name, _)| name == label)
            .map(|(_, ctx)| ctx)
            .collect();
        assert!(mine.len() >= 2, "{label}: {} calls", mine.len());
        for ctx in &mine {
            assert_eq!(ctx.job_id, job.id, "{label}: {ctx:?}");
            assert_eq!(ctx.payload, job.spec.payload, "{label}: {ctx:?}");
            assert_eq!(ctx.attempt, 1);
            assert_eq!(ctx.scheduled_at.timestamp_subsec_millis(), 0);
            let report = ctx.report.as_ref().expect("a report target");
            assert!(
                report
                    .url
                    .ends_with(&format!("/executions/{}/result", ctx.execution_id)),
                "{report:?}"
            );
        }
        if label == "http" {
            assert!(mine[0].deadline.is_none() && mine[0].job_name.is_empty());
        } else {
            assert_eq!(mine[0].job_name, job.spec.name);
            assert!(mine[0].deadline.is_some_and(|d| d > mine[0].scheduled_at));
        }
    }
    Ok(())
}

/// What the async handler hands to the test: the context it accepted.
type Accepted = mpsc::UnboundedSender<JobContext>;

fn accepting(tx: Accepted) -> impl crony_sdk::Handler + Clone {
    handler_fn(move |ctx: JobContext| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx);
            Outcome::Accepted
        }
    })
}

#[tokio::test]
async fn accepted_runs_report_later_through_the_sdk_reporter() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (_s, _agent, client) = cluster(&env).await?;

    // gRPC: the handler accepts and reports from a background task, after it has returned.
    let handler = handler_fn(|ctx: JobContext| async move {
        let Some(reporter) = ctx.reporter() else {
            return Outcome::failed("no report target");
        };
        let payload = ctx.payload.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let result = if payload == "fail" {
                reporter.failed("the ledger was locked").await
            } else {
                reporter.succeeded(format!("done {payload}")).await
            };
            result.expect("the report is taken");
            // Reporting the same result again is safe: 200 again, nothing changes.
            let again = if payload == "fail" {
                reporter.failed("the ledger was locked").await
            } else {
                reporter.succeeded(format!("done {payload}")).await
            };
            again.expect("a repeated report is taken");
        });
        Outcome::Accepted
    });
    let endpoint = serve_grpc(CallbackService::single(handler)).await?;
    // HTTP: the same with a 202.
    let (http_tx, mut http_rx) = mpsc::unbounded_channel();
    let http = serve_http(crony_sdk::http::router(accepting(http_tx))).await?;

    let ok = client
        .create_job(
            &JobSpec::new(
                "async-ok",
                "0 0 3 1 1 *",
                Target::Grpc {
                    endpoint: endpoint.clone(),
                    method: None,
                    metadata: Default::default(),
                    secret_metadata: Vec::new(),
                },
            )
            .payload("ok"),
        )
        .await?;
    let bad = client
        .create_job(
            &JobSpec::new(
                "async-fail",
                "0 0 3 1 1 *",
                Target::grpc(&endpoint, crony_sdk::grpc::DEFAULT_METHOD),
            )
            .payload("fail"),
        )
        .await?;
    let over_http = client
        .create_job(&JobSpec::new(
            "async-http",
            "0 0 3 1 1 *",
            Target::http(format!("{http}/anything")),
        ))
        .await?;
    let ok_run = trigger(&client, &ok.id).await?;
    let bad_run = trigger(&client, &bad.id).await?;
    let http_run = trigger(&client, &over_http.id).await?;

    let ok_done = client
        .wait_for_execution(&ok_run, Duration::from_secs(20))
        .await?;
    assert_eq!(ok_done.status, ExecutionStatus::Succeeded, "{ok_done:?}");
    assert_eq!(ok_done.settled_by.as_deref(), Some("result"));
    assert_eq!(ok_done.output.as_deref(), Some("done ok"));
    let bad_done = client
        .wait_for_execution(&bad_run, Duration::from_secs(20))
        .await?;
    assert_eq!(bad_done.status, ExecutionStatus::Failed, "{bad_done:?}");
    assert_eq!(bad_done.error, "the ledger was locked");

    // Over HTTP: the context came from the headers; the test reports for the service.
    let ctx = tokio::time::timeout(Duration::from_secs(10), http_rx.recv())
        .await?
        .expect("the HTTP handler was called");
    assert_eq!(ctx.execution_id, http_run);
    let reporter = ctx.reporter().expect("a report target");
    // A token that is not this execution's is refused, and says so.
    let forged = crony_sdk::Reporter::new(ReportTarget::new(
        reporter.target().url.clone(),
        "not-the-token",
    ));
    assert!(
        matches!(forged.succeeded("forged").await, Err(Error::WrongToken)),
        "a wrong token is refused"
    );
    let recorded = reporter.succeeded("reported over http").await?;
    assert_eq!(recorded.id, http_run);
    assert_eq!(recorded.status, ExecutionStatus::Succeeded);
    let http_done = client.get_execution(&http_run).await?;
    assert_eq!(http_done.output.as_deref(), Some("reported over http"));
    Ok(())
}

#[tokio::test]
async fn a_report_after_the_async_timeout_is_kept_as_late_and_the_run_stays_timed_out()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (_s, _agent, client) = cluster(&env).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let endpoint =
        serve_grpc(CallbackService::new().method("/ops.Jobs/Backup", accepting(tx))?).await?;
    let job = client
        .create_job(
            &JobSpec::new(
                "async-late",
                "0 0 3 1 1 *",
                Target::grpc(&endpoint, "/ops.Jobs/Backup"),
            )
            .async_timeout_secs(1),
        )
        .await?;
    let run = trigger(&client, &job.id).await?;
    let ctx = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await?
        .expect("the handler was called");
    assert_eq!(ctx.execution_id, run);
    let timed_out = client
        .wait_for_execution(&run, Duration::from_secs(15))
        .await?;
    assert_eq!(timed_out.status, ExecutionStatus::TimedOut, "{timed_out:?}");

    let reporter = ctx.reporter().expect("a report target");
    match reporter.succeeded("finished eventually").await {
        Err(Error::AlreadySettled { current_status }) => assert_eq!(current_status, "timed_out"),
        other => panic!("expected AlreadySettled, got {other:?}"),
    }
    let after = client.get_execution(&run).await?;
    assert_eq!(after.status, ExecutionStatus::TimedOut, "{after:?}");
    let late = after.late_result.expect("the late result is recorded");
    assert_eq!(late.status, "succeeded");
    assert_eq!(late.output, "finished eventually");
    Ok(())
}

#[tokio::test]
async fn the_management_client_creates_pauses_resumes_triggers_and_waits() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (_s, _agent, client) = cluster(&env).await?;
    let endpoint = serve_grpc(CallbackService::single(handler_fn(
        |ctx: JobContext| async move { Outcome::succeeded(format!("hello {}", ctx.payload)) },
    )))
    .await?;
    let spec = JobSpec::new(
        "managed",
        "0 0 3 1 1 *",
        Target::grpc(&endpoint, crony_sdk::grpc::DEFAULT_METHOD),
    )
    .description("made by the SDK")
    .payload("world")
    .timeout_secs(30)
    .retries(1);
    let job = client.create_job(&spec).await?;
    assert_eq!(job.spec.name, "managed");
    assert_eq!(job.spec.timeout_secs, Some(30));
    assert_eq!(job.spec.timezone.as_deref(), Some("UTC"));
    assert!(!job.next_fires.is_empty());

    // A name clash is an API error naming the field.
    match client.create_job(&spec).await {
        Err(Error::Api { status, field, .. }) => {
            assert_eq!((status, field.as_deref()), (409, Some("name")))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let paused = client.pause_job(&job.id).await?;
    assert_eq!(paused.spec.enabled, Some(false));
    assert!(paused.next_fires.is_empty());
    match client.trigger_job(&job.id).await {
        Err(e @ Error::Api { status: 409, .. }) => assert_eq!(e.code(), Some("conflict")),
        other => panic!("a paused job cannot be triggered: {other:?}"),
    }
    let resumed = client.resume_job(&job.id).await?;
    assert_eq!(resumed.spec.enabled, Some(true));

    let run = trigger(&client, &job.id).await?;
    let done = client
        .wait_for_execution(&run, Duration::from_secs(20))
        .await?;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output.as_deref(), Some("hello world"));
    assert_eq!(done.trigger, "manual");
    let listed = client
        .list_executions(&ExecutionQuery::job(&job.id))
        .await?;
    assert_eq!(
        listed.executions.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&run]
    );

    let updated = client
        .update_job(&job.id, &spec.clone().description("changed"))
        .await?;
    assert_eq!(updated.spec.description, "changed");
    assert_eq!(client.get_job(&job.id).await?.spec.description, "changed");
    let page = client.list_jobs(&crony_sdk::JobQuery::default()).await?;
    assert_eq!(page.jobs.len(), 1);
    client.delete_job(&job.id).await?;
    match client.get_job(&job.id).await {
        Err(e @ Error::Api { status: 404, .. }) => assert_eq!(e.code(), Some("not_found")),
        other => panic!("deleted: {other:?}"),
    }
    match client
        .wait_for_execution("no-such-execution", Duration::from_millis(500))
        .await
    {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    Ok(())
}
