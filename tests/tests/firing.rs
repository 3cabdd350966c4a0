//! Issue 4 scenarios on real etcd, MariaDB, scheduler and agent processes, with real user-side
//! peers on loopback: jobs fire on the agent's clock, run against HTTP, gRPC and shell
//! targets with timeout and retry, and every execution lands in MySQL.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{create_job, executions_in_mysql, executions_of, executions_with, get_json, post};
use crony_tests::{AgentProcess, CallbackServer, HttpSink, TestEnv, TestScheduler, wait_until};
use serde_json::{Value, json};

/// A scheduler and one agent (lease TTL 2 s), the agent online.
async fn cluster(env: &TestEnv) -> anyhow::Result<(TestScheduler, AgentProcess)> {
    common::scheduler_and_agent(env).await
}

/// Waits until the job has at least `n` executions with `status`; returns them.
async fn wait_for(
    base: &str,
    job_id: &str,
    status: &str,
    n: usize,
    within: Duration,
) -> anyhow::Result<Vec<Value>> {
    wait_until(&format!("{n} {status} executions"), within, || async move {
        let found = executions_with(base, job_id, status).await?;
        if found.len() >= n {
            Ok(Some(found))
        } else {
            let all = executions_of(base, job_id).await?;
            Err(format!("{} of {n}; all: {all:?}", found.len()))
        }
    })
    .await
}

async fn execution(base: &str, id: &str) -> anyhow::Result<Value> {
    let (status, body) = get_json(&format!("{base}/api/v1/executions/{id}"))
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(status == 200, "GET execution answered {status}: {body}");
    Ok(body)
}

#[tokio::test]
async fn an_every_second_http_job_fires_each_second_and_each_run_is_in_mysql() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let (s, _agent) = cluster(&env).await?;
    let sink = HttpSink::start().await?;
    let job = create_job(
        &s.base_url,
        &json!({
            "name": "every-second",
            "schedule": "*/1 * * * * *",
            "target": {"kind": "http", "method": "POST", "url": sink.url("/tick"), "body": "hello"},
            "payload": "p-1",
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    wait_for(&s.base_url, &job, "succeeded", 5, Duration::from_secs(20)).await?;

    let calls = sink.calls_to("/tick");
    let first = &calls[0];
    assert_eq!(first.body, "hello");
    assert_eq!(first.header("x-crony-job-id"), job);
    assert_eq!(first.header("x-crony-attempt"), "1");
    assert!(
        first.header("x-crony-report-url").ends_with("/result"),
        "{:?}",
        first.headers
    );
    assert!(!first.header("x-crony-report-token").is_empty());

    // Every call the sink saw is one execution in MySQL, once, with distinct whole seconds.
    let ids: Vec<String> = calls
        .iter()
        .map(|c| c.header("x-crony-execution-id"))
        .collect();
    let recorded = wait_until("every call recorded", Duration::from_secs(10), || {
        let (db, job, ids) = (env.db_url.clone(), job.clone(), ids.clone());
        async move {
            let rows = executions_in_mysql(&db, &job).await?;
            let in_db: HashSet<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
            if ids.iter().all(|id| in_db.contains(id.as_str())) {
                Ok(Some(rows))
            } else {
                Err(format!("{} calls, {} rows", ids.len(), rows.len()))
            }
        }
    })
    .await?;
    let instants: HashSet<i64> = recorded.iter().map(|(_, _, at)| *at).collect();
    assert_eq!(
        instants.len(),
        recorded.len(),
        "one execution per instant: {recorded:?}"
    );
    assert!(instants.iter().all(|ms| ms % 1000 == 0), "{instants:?}");
    let one = execution(&s.base_url, &ids[0]).await?;
    assert_eq!(one["http_status"], 200, "{one}");
    assert_eq!(one["attempts"].as_array().map(Vec::len), Some(1), "{one}");
    Ok(())
}

#[tokio::test]
async fn grpc_callbacks_succeed_fail_and_report_asynchronously() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = cluster(&env).await?;
    let service = CallbackServer::start().await?;
    let mut jobs = Vec::new();
    for (name, payload, async_timeout) in [
        ("grpc-ok", "succeed", 60),
        ("grpc-fail", "fail", 60),
        ("grpc-async", "accept", 60),
        ("grpc-async-late", "accept", 1),
    ] {
        let id = create_job(
            &s.base_url,
            &json!({
                "name": name,
                "schedule": "0 0 3 1 1 *",
                "target": {"kind": "grpc", "endpoint": service.endpoint()},
                "payload": payload,
                "async_timeout_secs": async_timeout,
            }),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        jobs.push(id);
    }
    let mut executions = Vec::new();
    for job in &jobs {
        let triggered = trigger(&s.base_url, job).await?;
        executions.push(triggered);
    }
    wait_for(
        &s.base_url,
        &jobs[0],
        "succeeded",
        1,
        Duration::from_secs(10),
    )
    .await?;
    let failed = wait_for(&s.base_url, &jobs[1], "failed", 1, Duration::from_secs(10)).await?;
    let failed = execution(&s.base_url, failed[0]["id"].as_str().unwrap_or_default()).await?;
    assert_eq!(failed["output"], "it broke", "{failed}");

    // Accepted: stays running until the service posts its result with the execution's token.
    wait_until(
        "the async call arrived",
        Duration::from_secs(10),
        || async {
            let n = service
                .requests()
                .iter()
                .filter(|r| r.payload == "accept")
                .count();
            if n == 2 {
                Ok(Some(()))
            } else {
                Err(format!("{n} accept calls"))
            }
        },
    )
    .await?;
    let requests = service.requests();
    let accepted = requests
        .iter()
        .find(|r| r.execution_id == executions[2])
        .expect("the async job was called");
    assert_eq!(accepted.job_id, jobs[2]);
    assert_eq!(accepted.attempt, 1);
    assert!(
        accepted
            .report_url
            .ends_with(&format!("/api/v1/executions/{}/result", executions[2]))
    );
    let running = wait_for(&s.base_url, &jobs[2], "running", 1, Duration::from_secs(10)).await?;
    assert_eq!(running[0]["id"], executions[2].as_str());
    let other = requests
        .iter()
        .find(|r| r.execution_id == executions[3])
        .expect("called");
    let refused = report(&accepted.report_url, &other.report_token, "succeeded").await?;
    assert_eq!(refused, 401, "a token of another execution is refused");
    let ok = report(&accepted.report_url, &accepted.report_token, "succeeded").await?;
    assert_eq!(ok, 200);
    wait_for(
        &s.base_url,
        &jobs[2],
        "succeeded",
        1,
        Duration::from_secs(10),
    )
    .await?;

    // Accepted and never reported: timed out after async_timeout_secs.
    let timed_out = wait_for(
        &s.base_url,
        &jobs[3],
        "timed_out",
        1,
        Duration::from_secs(15),
    )
    .await?;
    assert_eq!(timed_out[0]["id"], executions[3].as_str());
    Ok(())
}

#[tokio::test]
async fn shell_jobs_record_exit_codes_and_a_timeout_kills_the_whole_process_group()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = cluster(&env).await?;
    let pids = env.path("pids");
    let ok = shell_job(
        &s.base_url,
        "sh-ok",
        "echo \"out $CRONY_JOB_ID\"; echo err >&2",
        10,
    )
    .await?;
    let bad = shell_job(&s.base_url, "sh-bad", "echo about to fail; exit 3", 10).await?;
    let stubborn = shell_job(
        &s.base_url,
        "sh-stubborn",
        &format!(
            "trap '' TERM; (trap '' TERM; sleep 300) & echo $! >> {p}; sleep 300 & echo $! >> {p}; echo $$ >> {p}; wait",
            p = pids.display()
        ),
        2,
    )
    .await?;
    for job in [&ok, &bad, &stubborn] {
        trigger(&s.base_url, job).await?;
    }
    let done = wait_for(&s.base_url, &ok, "succeeded", 1, Duration::from_secs(10)).await?;
    let done = [execution(&s.base_url, done[0]["id"].as_str().unwrap_or_default()).await?];
    let out = done[0]["output"].as_str().unwrap_or_default();
    assert!(
        out.contains(&format!("out {ok}")) && out.contains("err"),
        "{}",
        done[0]
    );
    assert_eq!(done[0]["exit_code"], 0);
    let failed = wait_for(&s.base_url, &bad, "failed", 1, Duration::from_secs(10)).await?;
    let failed = [execution(&s.base_url, failed[0]["id"].as_str().unwrap_or_default()).await?];
    assert_eq!(failed[0]["exit_code"], 3, "{}", failed[0]);
    assert!(
        failed[0]["output"]
            .as_str()
            .unwrap_or_default()
            .contains("about to fail")
    );

    let timed_out = wait_for(
        &s.base_url,
        &stubborn,
        "timed_out",
        1,
        Duration::from_secs(15),
    )
    .await?;
    assert!(
        timed_out[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{}",
        timed_out[0]
    );
    let pids: Vec<i32> = std::fs::read_to_string(&pids)?
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(
        pids.len(),
        3,
        "the script wrote its own and two children's pids"
    );
    wait_until(
        "no process of the group survives",
        Duration::from_secs(5),
        || {
            let pids = pids.clone();
            async move {
                let alive: Vec<i32> = pids
                    .into_iter()
                    .filter(|pid| {
                        std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(*pid)
                    })
                    .collect();
                if alive.is_empty() {
                    Ok(Some(()))
                } else {
                    Err(format!("alive: {alive:?}"))
                }
            }
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn failed_attempts_are_retried_with_backoff_and_each_attempt_is_recorded()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = cluster(&env).await?;
    let sink = HttpSink::start().await?;
    sink.script(&[500, 503]);
    let job = create_job(
        &s.base_url,
        &json!({
            "name": "flaky",
            "schedule": "0 0 3 1 1 *",
            "target": {"kind": "http", "url": sink.url("/flaky")},
            "retry": {"max_retries": 3, "backoff": "exponential", "initial_secs": 1, "max_secs": 2},
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let id = trigger(&s.base_url, &job).await?;
    wait_for(&s.base_url, &job, "succeeded", 1, Duration::from_secs(20)).await?;
    let record = execution(&s.base_url, &id).await?;
    let attempts = record["attempts"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<(u64, u64)> = attempts
        .iter()
        .map(|a| {
            (
                a["number"].as_u64().unwrap_or(0),
                a["http_status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(statuses, [(1, 500), (2, 503), (3, 200)], "{record}");
    let calls = sink.calls_to("/flaky");
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2].header("x-crony-attempt"), "3");
    // Backoff: the first retry waits about 1 s, the second about 2 s (with jitter, at least half).
    let gap = |a: usize, b: usize| (calls[b].received_at - calls[a].received_at).num_milliseconds();
    assert!(gap(0, 1) >= 450, "first retry after {} ms", gap(0, 1));
    assert!(gap(1, 2) >= 900, "second retry after {} ms", gap(1, 2));
    Ok(())
}

#[tokio::test]
async fn overlap_skip_records_fires_that_found_the_previous_run_going_and_kill_stops_a_run()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = cluster(&env).await?;
    let job = create_job(
        &s.base_url,
        &json!({
            "name": "slow",
            "schedule": "*/1 * * * * *",
            "target": {"kind": "shell", "command": "sleep 30"},
            "timeout_secs": 60,
            "overlap": "skip",
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let skipped = wait_for(&s.base_url, &job, "skipped", 2, Duration::from_secs(15)).await?;
    assert!(
        skipped[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("overlap"),
        "{}",
        skipped[0]
    );
    let running = executions_with(&s.base_url, &job, "running")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(running.len(), 1, "skip never runs two at once: {running:?}");
    let id = running[0]["id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = post(&s.base_url, &format!("/api/v1/executions/{id}/kill"), None)
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(
        status == 200 || status == 202,
        "kill answered {status}: {body}"
    );
    wait_until("the run is killed", Duration::from_secs(10), || {
        let (base, id) = (s.base_url.clone(), id.clone());
        async move {
            let e = execution(&base, &id).await.map_err(|e| e.to_string())?;
            if e["status"] == "killed" {
                Ok(Some(()))
            } else {
                Err(e["status"].to_string())
            }
        }
    })
    .await?;
    Ok(())
}

async fn shell_job(base: &str, name: &str, command: &str, timeout: u32) -> anyhow::Result<String> {
    create_job(
        base,
        &json!({
            "name": name,
            "schedule": "0 0 3 1 1 *",
            "target": {"kind": "shell", "command": command},
            "timeout_secs": timeout,
        }),
    )
    .await
    .map_err(anyhow::Error::msg)
}

/// Triggers a job once the scheduler has placed it; returns the execution id.
async fn trigger(base: &str, job: &str) -> anyhow::Result<String> {
    wait_until(
        "the job can be triggered",
        Duration::from_secs(10),
        || async move {
            let (status, body) = post(base, &format!("/api/v1/jobs/{job}/trigger"), None).await?;
            match body["execution_id"].as_str() {
                Some(id) if status == 202 => Ok(Some(id.to_owned())),
                _ => Err(format!("trigger answered {status}: {body}")),
            }
        },
    )
    .await
}

/// Posts an async result; returns the HTTP status.
async fn report(url: &str, token: &str, status: &str) -> anyhow::Result<u16> {
    let response = crony_tests::api_client()
        .post(url)
        .bearer_auth(token)
        .json(&json!({"status": status, "output": "reported later"}))
        .send()
        .await?;
    Ok(response.status().as_u16())
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

#[tokio::test]
async fn overlap_replace_kills_the_running_run_and_allow_runs_them_side_by_side()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = cluster(&env).await?;
    let mut jobs = Vec::new();
    for overlap in ["replace", "allow"] {
        jobs.push(
            create_job(
                &s.base_url,
                &json!({
                    "name": format!("overlap-{overlap}"),
                    "schedule": "*/1 * * * * *",
                    "target": {"kind": "shell", "command": "sleep 30"},
                    "timeout_secs": 60,
                    "overlap": overlap,
                }),
            )
            .await
            .map_err(anyhow::Error::msg)?,
        );
    }
    // replace: each fire kills the run before it, so only the newest is ever running.
    let killed = wait_for(&s.base_url, &jobs[0], "killed", 2, Duration::from_secs(15)).await?;
    assert!(killed.iter().all(|e| e["attempt_count"] == 1), "{killed:?}");
    let running = executions_with(&s.base_url, &jobs[0], "running")
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(
        running.len() <= 1,
        "replace keeps at most one run: {running:?}"
    );
    // allow: runs pile up side by side.
    wait_for(&s.base_url, &jobs[1], "running", 3, Duration::from_secs(15)).await?;
    for job in &jobs {
        post(&s.base_url, &format!("/api/v1/jobs/{job}/pause"), None)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}
