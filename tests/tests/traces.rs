//! OpenTelemetry traces of executions (issue 19), exported by a real scheduler and agent to a
//! real OTLP receiver on loopback: one trace per execution with the right parent links from
//! the scheduler's push to the user's service and back, the trace id on the execution, and a
//! frozen collector that never delays or drops a fire.

mod common;

use std::time::Duration;

use crony_sdk::grpc::CallbackService;
use crony_sdk::{JobContext, Outcome, handler_fn};
use crony_tests::otlp::{FrozenCollector, OtlpReceiver, ReceivedSpan};
use crony_tests::wait::wait_until;
use crony_tests::{AgentProcess, HttpSink, SchedulerProcess, TestEnv};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use common::{create_job, get_json, online, post};

const TRACE_UI: &str = "http://127.0.0.1:16686/trace/{trace_id}";

/// A scheduler and an agent exporting to `endpoint`, batches sent every 100 ms, the agent
/// online; and the scheduler's base URL.
async fn traced_cluster(
    env: &TestEnv,
    endpoint: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<(SchedulerProcess, AgentProcess, String)> {
    let mut settings = vec![
        ("CRONY_OTEL_ENDPOINT", endpoint),
        ("CRONY_OTEL_TRACE_URL", TRACE_UI),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    settings.extend_from_slice(extra);
    let logs = env.path("logs");
    let scheduler =
        SchedulerProcess::spawn_with(&env.etcd, &env.prefix, &env.db_url, &logs, &settings)?;
    let mut spec = env.agent_spec("traced").ttl(2);
    for (key, value) in &settings {
        spec = spec.env(key, value);
    }
    let mut agent = AgentProcess::spawn(spec)?;
    agent.id().await?;
    let base = scheduler.base_url.clone();
    online(&base, 1).await?;
    Ok((scheduler, agent, base))
}

/// Runs the job now (retried until its agent holds it); the execution id.
async fn trigger(base: &str, job: &str) -> anyhow::Result<String> {
    wait_until("the trigger is taken", Duration::from_secs(20), || async {
        let (status, body) = post(base, &format!("/api/v1/jobs/{job}/trigger"), None).await?;
        Ok((status == 202).then(|| body["execution_id"].as_str().unwrap_or("").to_owned()))
    })
    .await
}

/// Waits until the execution has `status`; returns it.
async fn settled(base: &str, id: &str, status: &str) -> anyhow::Result<Value> {
    wait_until(
        &format!("execution {id} {status}"),
        Duration::from_secs(30),
        || async {
            let (_, body) = get_json(&format!("{base}/api/v1/executions/{id}")).await?;
            Ok((body["status"] == status).then_some(body))
        },
    )
    .await
}

/// Waits until the trace has spans named `names` (with repeats); returns all its spans.
async fn spans_of(
    rx: &OtlpReceiver,
    trace: &str,
    names: &[&str],
) -> anyhow::Result<Vec<ReceivedSpan>> {
    wait_until(
        &format!("spans {names:?} of trace {trace}"),
        Duration::from_secs(30),
        || async {
            let spans = rx.trace(trace);
            let count = |n: &str| spans.iter().filter(|s| s.name == n).count();
            let all = names
                .iter()
                .all(|n| count(n) >= names.iter().filter(|m| *m == n).count());
            Ok(all.then_some(spans))
        },
    )
    .await
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "one {name}: {spans:#?}");
    found[0]
}

/// The execution's page shows its trace id, linked to the trace UI.
async fn dashboard_links(base: &str, run: &str, trace: &str) -> anyhow::Result<()> {
    let b = crony_tests::browser::Browser::start().await?;
    b.goto(&format!("{base}/")).await?;
    b.fill("#username", "admin").await?;
    b.fill("#password", crony_tests::ADMIN_PASSWORD).await?;
    b.click("#login-submit").await?;
    b.find("nav").await?;
    b.goto(&format!("{base}/#/executions/{run}")).await?;
    b.wait_text("#execution-trace", trace).await?;
    let href = b
        .run(
            "return document.querySelector('#execution-trace').closest('a').href",
            vec![],
        )
        .await?;
    assert_eq!(href, format!("http://127.0.0.1:16686/trace/{trace}"));
    b.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_execution_is_one_trace_from_the_push_to_the_service_and_back() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let rx = OtlpReceiver::start().await?;
    let (_scheduler, _agent, base) = traced_cluster(&env, &rx.endpoint, &[]).await?;
    let sink = HttpSink::start().await?;
    // The first attempt fails, the retry succeeds: two attempt spans under one fire.
    sink.script(&[500, 200]);
    let job = create_job(
        &base,
        &json!({"name": "traced", "schedule": "0 0 3 1 1 *",
        "retry": {"max_retries": 1, "backoff": "fixed", "initial_secs": 1},
        "target": {"kind": "http", "url": sink.url("/traced")}}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let run = trigger(&base, &job).await?;
    let done = settled(&base, &run, "succeeded").await?;
    let trace = done["trace_id"].as_str().expect("a trace id").to_owned();
    assert_eq!(trace.len(), 32, "{done}");
    assert_eq!(
        done["trace_url"],
        format!("http://127.0.0.1:16686/trace/{trace}")
    );

    let names = [
        "crony.push",
        "crony.fire",
        "crony.attempt",
        "crony.attempt",
        "crony.record",
    ];
    let spans = spans_of(&rx, &trace, &names).await?;
    let push = one(&spans, "crony.push");
    let fire = one(&spans, "crony.fire");
    let record = one(&spans, "crony.record");
    assert_eq!(
        (push.service.as_str(), push.parent.as_str()),
        ("crony-scheduler", "")
    );
    assert_eq!(push.attr("crony.job_id"), job);
    assert_eq!(
        (fire.service.as_str(), fire.parent.as_str()),
        ("crony-agent", push.span_id.as_str())
    );
    assert_eq!(fire.attr("crony.execution_id"), run);
    assert_eq!(fire.attr("crony.job_name"), "traced");
    assert_eq!(fire.attr("crony.trigger"), "manual");
    assert_eq!(fire.attr("crony.status"), "succeeded");
    assert_eq!(
        (record.service.as_str(), record.parent.as_str()),
        ("crony-scheduler", fire.span_id.as_str())
    );
    let mut attempts = named(&spans, "crony.attempt");
    attempts.sort_by_key(|s| s.attr("crony.attempt").to_owned());
    assert!(
        attempts.iter().all(|a| a.parent == fire.span_id),
        "{attempts:#?}"
    );
    assert_eq!(attempts[0].attr("http.response.status_code"), "500");
    assert_eq!(attempts[0].status, 2, "the failed attempt is an error");
    assert_eq!(attempts[1].attr("http.response.status_code"), "200");

    dashboard_links(&base, &run, &trace).await?;

    // The service joined the trace: each call's traceparent names its attempt's span.
    let calls = sink.calls_to("/traced");
    assert_eq!(calls.len(), 2);
    for (call, attempt) in calls.iter().zip(&attempts) {
        assert_eq!(
            call.header("traceparent"),
            format!("00-{trace}-{}-01", attempt.span_id)
        );
    }

    // A scheduled fire is a trace of its own, rooted at the agent's fire.
    let every = create_job(
        &base,
        &json!({"name": "traced-every", "schedule": "@every 1s",
        "target": {"kind": "http", "url": sink.url("/every")}}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let scheduled = wait_until("a scheduled run", Duration::from_secs(30), || async {
        let runs = common::executions_with(&base, &every, "succeeded").await?;
        Ok(runs.first().cloned())
    })
    .await?;
    let trace = scheduled["trace_id"]
        .as_str()
        .expect("a trace id")
        .to_owned();
    let spans = spans_of(
        &rx,
        &trace,
        &["crony.fire", "crony.attempt", "crony.record"],
    )
    .await?;
    let fire = one(&spans, "crony.fire");
    assert_eq!(
        (fire.parent.as_str(), fire.attr("crony.trigger")),
        ("", "schedule")
    );
    assert_eq!(one(&spans, "crony.attempt").parent, fire.span_id);
    assert!(named(&spans, "crony.push").is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_built_with_the_sdk_continues_the_trace_when_it_reports() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let rx = OtlpReceiver::start().await?;
    let (_scheduler, _agent, base) = traced_cluster(&env, &rx.endpoint, &[]).await?;
    let (tx, accepted) = mpsc::unbounded_channel::<JobContext>();
    let accepted = tokio::sync::Mutex::new(accepted);
    // Accepts runs it can report for; fails the rest (the agent learns where schedulers are
    // shortly after it starts, and only then hands out report URLs).
    let handler = handler_fn(move |ctx: JobContext| {
        let tx = tx.clone();
        async move {
            if ctx.report.is_none() {
                return Outcome::failed("no report target yet");
            }
            let _ = tx.send(ctx);
            Outcome::Accepted
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let service = CallbackService::single(handler);
    tokio::spawn(service.serve_with_listener(listener, std::future::pending()));
    let job = create_job(
        &base,
        &json!({"name": "traced-async", "schedule": "0 0 3 1 1 *",
        "target": {"kind": "grpc", "endpoint": endpoint}}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let (run, ctx) = wait_until("a run with a report target", Duration::from_secs(30), || async {
        let run = trigger(&base, &job).await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(deadline);
        let mut accepted = accepted.lock().await;
        tokio::select! {
            ctx = accepted.recv() => Ok(ctx.filter(|c| c.execution_id == run).map(|c| (run, c))),
            _ = &mut deadline => Err(format!("run {run} was not accepted")),
        }
    })
    .await?;
    // Over gRPC metadata the service got the attempt's context.
    let traceparent = ctx
        .traceparent
        .clone()
        .expect("a traceparent in the metadata");
    ctx.reporter()
        .expect("a report target")
        .succeeded("done later")
        .await?;
    let done = settled(&base, &run, "succeeded").await?;
    let trace = done["trace_id"].as_str().expect("a trace id").to_owned();
    let spans = spans_of(
        &rx,
        &trace,
        &["crony.push", "crony.fire", "crony.attempt", "crony.result"],
    )
    .await?;
    let attempt = one(&spans, "crony.attempt");
    assert_eq!(traceparent, format!("00-{trace}-{}-01", attempt.span_id));
    // One span per post: the SDK posts again while the agent's report is not stored yet.
    let spans = wait_until(
        "the taken result's span",
        Duration::from_secs(30),
        || async {
            let spans = rx.trace(&trace);
            let taken = named(&spans, "crony.result").iter().any(|r| r.status == 1);
            Ok(taken.then_some(spans))
        },
    )
    .await?;
    let results = named(&spans, "crony.result");
    assert!(
        results
            .iter()
            .all(|r| r.service == "crony-scheduler" && r.parent == attempt.span_id),
        "every result continues the attempt's span: {results:#?}"
    );
    let taken: Vec<_> = results.iter().filter(|r| r.status == 1).collect();
    assert_eq!(taken.len(), 1, "one result taken: {results:#?}");
    let result = taken[0];
    assert_eq!(result.attr("crony.status"), "succeeded");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_collector_never_delays_or_drops_a_fire() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let frozen = FrozenCollector::start().await?;
    // A small queue, so spans are dropped long before the test ends.
    let queue = [("OTEL_BSP_MAX_QUEUE_SIZE", "32")];
    let (_scheduler, _agent, base) = traced_cluster(&env, &frozen.endpoint, &queue).await?;
    let sink = HttpSink::start().await?;
    let mut jobs = Vec::new();
    for n in 0..10 {
        let job = create_job(
            &base,
            &json!({"name": format!("frozen-{n}"), "schedule": "* * * * * *",
            "target": {"kind": "http", "url": sink.url(&format!("/frozen-{n}"))}}),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        jobs.push(job);
    }
    // Every second of a window of 8 s reaches the service once per job (with exports held up
    // on the firing path, the agent would fall behind by seconds per fire).
    let start = chrono::Utc::now() + chrono::Duration::seconds(3);
    let end = start + chrono::Duration::seconds(8);
    let instants = |n: usize| {
        let calls = sink.calls_to(&format!("/frozen-{n}"));
        calls
            .iter()
            .filter_map(|c| {
                let at =
                    chrono::DateTime::parse_from_rfc3339(&c.header("x-crony-scheduled-at")).ok()?;
                let at = at.with_timezone(&chrono::Utc);
                (at >= start && at < end).then_some(at)
            })
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    wait_until(
        "every second of the window fired for every job",
        Duration::from_secs(40),
        || async {
            let short: Vec<_> = (0..jobs.len()).map(instants).filter(|&n| n < 8).collect();
            match short.is_empty() {
                true => Ok(Some(())),
                false => Err(format!(
                    "instants of the window seen per short job: {short:?}"
                )),
            }
        },
    )
    .await?;
    for (n, job) in jobs.iter().enumerate() {
        common::every_call_recorded_once(&env.db_url, &sink, job, &format!("/frozen-{n}")).await?;
    }
    Ok(())
}
