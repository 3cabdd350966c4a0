//! Async runs (issue 15): a service that answers 202 and posts its result later, in the
//! test's own process as a user's service would. Until the result arrives the run is still
//! going: `overlap: skip` skips fires meanwhile, and `@delay` counts from the result; a
//! `failed` result is retried per the job's policy, after its backoff.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{create_job, executions_in_mysql, scheduler_and_agent};
use crony_tests::sink::Call;
use crony_tests::{HttpSink, TestEnv, wait_until};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// How long the service works on each call before it posts the result.
const WORK: Duration = Duration::from_secs(3);

/// When the service posted each execution's result, by execution id.
type Posted = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

/// The service's worker: for every call to `path`, works [`WORK`], then posts the status
/// `outcome` picks for the call to its report URL with its report token (again while the
/// scheduler says the run is not recorded yet). Stops with `stop`.
fn serve_results(
    sink: &HttpSink,
    path: &str,
    stop: CancellationToken,
    outcome: fn(&Call) -> &'static str,
) -> Posted {
    let posted: Posted = Arc::default();
    let (sink, path, out) = (sink.clone(), path.to_owned(), posted.clone());
    tokio::spawn(async move {
        let mut answered = 0;
        while !stop.is_cancelled() {
            let calls = sink.calls_to(&path);
            for call in calls.iter().skip(answered) {
                let (url, token) = (
                    call.header("x-crony-report-url"),
                    call.header("x-crony-report-token"),
                );
                let (id, out) = (call.header("x-crony-execution-id"), out.clone());
                let status = outcome(call);
                tokio::spawn(async move {
                    tokio::time::sleep(WORK).await; // the service's own work
                    if post_result(&url, &token, status).await {
                        out.lock().unwrap().push((id, Utc::now()));
                    }
                });
            }
            answered = calls.len();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    posted
}

/// Posts a result, retrying (bounded) while the run is not recorded yet; true once taken.
async fn post_result(url: &str, token: &str, status: &str) -> bool {
    for _ in 0..300 {
        let answer = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&json!({"status": status, "output": "done"}))
            .send()
            .await;
        // Retried as a real service would: not recorded yet (409), the scheduler busy (5xx)
        // or unreachable for a moment.
        match answer.map(|a| a.status().as_u16()) {
            Ok(200) => return true,
            Ok(409) | Ok(500..) | Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Ok(other) => {
                eprintln!("the scheduler refused a result with {other}");
                return false;
            }
        }
    }
    false
}

/// (execution id, received at) of the calls to `path`, in arrival order.
fn calls(sink: &HttpSink, path: &str) -> Vec<(String, DateTime<Utc>)> {
    sink.calls_to(path)
        .iter()
        .map(|c| (c.header("x-crony-execution-id"), c.received_at))
        .collect()
}

/// Waits until `n` results are posted; then, for each call after the first, how long after
/// the previous call's result it arrived (negative: while the previous run was still going).
async fn gaps_after_results(
    sink: &HttpSink,
    path: &str,
    posted: &Posted,
    n: usize,
) -> anyhow::Result<Vec<chrono::Duration>> {
    wait_until(
        &format!("{n} results posted"),
        Duration::from_secs(60),
        || async {
            let (results, calls) = (posted.lock().unwrap().len(), calls(sink, path).len());
            match results >= n && calls > n {
                true => Ok(Some(())),
                false => Err(format!("{results} results posted, {calls} calls")),
            }
        },
    )
    .await?;
    let posted = posted.lock().unwrap().clone();
    let calls = calls(sink, path);
    let mut gaps = Vec::new();
    for pair in calls.windows(2) {
        let (previous, (_, next_at)) = (&pair[0].0, pair[1].clone());
        let Some((_, result_at)) = posted.iter().find(|(id, _)| id == previous) else {
            break;
        };
        gaps.push(next_at - *result_at);
    }
    Ok(gaps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_run_holds_overlap_skip_until_its_result_arrives() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = scheduler_and_agent(&env).await?;
    let sink = HttpSink::start().await?;
    sink.answer(202);
    let stop = CancellationToken::new();
    let posted = serve_results(&sink, "/async", stop.clone(), |_| "succeeded");
    let job = create_job(
        &s.base_url,
        &json!({
            "name": "async-skip",
            "schedule": "* * * * * *",
            "target": {"kind": "http", "method": "POST", "url": sink.url("/async")},
            "overlap": "skip",
            "async_timeout_secs": 60,
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let gaps = gaps_after_results(&sink, "/async", &posted, 3).await?;
    stop.cancel();
    anyhow::ensure!(gaps.len() >= 2, "too few settled runs: {gaps:?}");
    let early: Vec<_> = gaps
        .iter()
        .filter(|g| **g < chrono::Duration::zero())
        .collect();
    anyhow::ensure!(
        early.is_empty(),
        "a fire started while the previous async run was still going (ms after its result): {:?}",
        gaps.iter()
            .map(|g| g.num_milliseconds())
            .collect::<Vec<_>>()
    );
    let rows = executions_in_mysql(&env.db_url, &job)
        .await
        .map_err(anyhow::Error::msg)?;
    let skipped = rows.iter().filter(|(_, s, _)| s == "skipped").count();
    anyhow::ensure!(
        skipped >= 2,
        "the fires during each async run are recorded skipped: {rows:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_delay_counts_from_an_async_result_not_from_the_202() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = scheduler_and_agent(&env).await?;
    let sink = HttpSink::start().await?;
    sink.answer(202);
    let stop = CancellationToken::new();
    let posted = serve_results(&sink, "/delay", stop.clone(), |_| "succeeded");
    create_job(
        &s.base_url,
        &json!({
            "name": "async-delay",
            "schedule": "@delay 2s",
            "target": {"kind": "http", "method": "POST", "url": sink.url("/delay")},
            "async_timeout_secs": 60,
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let gaps = gaps_after_results(&sink, "/delay", &posted, 2).await?;
    stop.cancel();
    anyhow::ensure!(!gaps.is_empty(), "no second run");
    // The agent learns of the result after the service posted it, so the next run comes at
    // least the delay after it (a little slack for the clocks' millisecond rounding).
    let soon: Vec<i64> = gaps
        .iter()
        .map(|g| g.num_milliseconds())
        .filter(|ms| *ms < 1_950)
        .collect();
    anyhow::ensure!(
        soon.is_empty(),
        "the next run came sooner than 2 s after the previous result (ms): {soon:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_async_result_is_retried_after_the_backoff() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = scheduler_and_agent(&env).await?;
    let sink = HttpSink::start().await?;
    sink.answer(202);
    let stop = CancellationToken::new();
    // The first attempt's work fails; the retry's succeeds.
    let posted = serve_results(&sink, "/retry", stop.clone(), |call| {
        match call.header("x-crony-attempt").as_str() {
            "1" => "failed",
            _ => "succeeded",
        }
    });
    let job = create_job(
        &s.base_url,
        &json!({
            "name": "async-retry",
            "schedule": "0 0 3 1 1 *",
            "target": {"kind": "http", "method": "POST", "url": sink.url("/retry")},
            "async_timeout_secs": 60,
            "retry": {"max_retries": 1, "backoff": "fixed", "initial_secs": 1},
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let first = common::trigger_when_placed(&s.base_url, &job).await?;
    let gaps = gaps_after_results(&sink, "/retry", &posted, 1).await?;
    let attempts: Vec<String> = sink
        .calls_to("/retry")
        .iter()
        .map(|c| c.header("x-crony-attempt"))
        .collect();
    anyhow::ensure!(
        attempts == ["1", "2"],
        "attempts at the service: {attempts:?}"
    );
    anyhow::ensure!(
        gaps[0] >= chrono::Duration::milliseconds(950),
        "the retry came {} ms after the failed result, before its 1 s backoff",
        gaps[0].num_milliseconds()
    );
    let retried = wait_until("the retry succeeds", Duration::from_secs(20), || async {
        let all = common::executions_of(&s.base_url, &job).await?;
        Ok(all
            .into_iter()
            .find(|e| e["retry_of"] == first.as_str() && e["status"] == "succeeded"))
    })
    .await?;
    // Only now: the service posts the retry's result after its call was seen.
    stop.cancel();
    anyhow::ensure!(retried["trigger"] == "retry", "{retried}");
    let rows = common::executions_of(&s.base_url, &job)
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(rows.len() == 2, "one failed run and one retry: {rows:?}");
    Ok(())
}
