//! Executions on a real scheduler, MariaDB and etcd, driven through `ReportService` as an
//! agent would: reports land once whatever the replays, missed and real runs of one instant
//! collapse, history pages without gaps, async results follow their rules, sweepers time out
//! and purge, and nothing is acked while MySQL is down.

mod common;

use std::time::Duration;

use crony_common::cluster_auth::ClusterToken;
use crony_common::report_token::ReportKey;
use crony_proto::v1::ExecutionStatus as S;
use crony_tests::reports::{ReportClient, finished, missed, now_ms, report_client, running, send};
use crony_tests::{CLUSTER_TOKEN, MariaDb, TestEnv, TestScheduler, shared_etcd, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start(env: &TestEnv) -> anyhow::Result<(TestScheduler, ReportClient)> {
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.async_sweep_interval = Duration::from_millis(200);
    })
    .await?;
    let client = report_client(s.scheduler.grpc_addr, Some(CLUSTER_TOKEN));
    Ok((s, client))
}

async fn call(req: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
    let response = req.send().await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn get(s: &TestScheduler, path: &str) -> anyhow::Result<(StatusCode, Value)> {
    call(crony_tests::api_client().get(s.url(path))).await
}

async fn execution(s: &TestScheduler, id: &str) -> anyhow::Result<Value> {
    let (status, body) = get(s, &format!("/api/v1/executions/{id}")).await?;
    anyhow::ensure!(status == StatusCode::OK, "GET {id}: {status} {body}");
    Ok(body)
}

/// The value of one sample on `/metrics` (0 when absent).
async fn metric(s: &TestScheduler, sample: &str) -> anyhow::Result<f64> {
    let text = crony_tests::api_client()
        .get(s.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0))
}

async fn create_job(s: &TestScheduler, name: &str) -> anyhow::Result<String> {
    let job = json!({"name": name, "schedule": "@every 1h",
                     "target": {"kind": "http", "url": "http://127.0.0.1:9/"}});
    let (status, body) = call(
        crony_tests::api_client()
            .post(s.url("/api/v1/jobs"))
            .json(&job),
    )
    .await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{body}");
    Ok(body["id"].as_str().unwrap_or_default().to_owned())
}

/// The kept counts (`execution_counts`, what the overview reads) agree with the rows.
async fn counts_match_rows(db_url: &str) -> anyhow::Result<()> {
    let pool = sqlx::MySqlPool::connect(db_url).await?;
    let truth: Vec<(chrono::NaiveDate, String, i64)> = sqlx::query_as(
        "SELECT DATE(scheduled_at) AS d, status, COUNT(*) FROM executions \
         GROUP BY d, status ORDER BY d, status",
    )
    .fetch_all(&pool)
    .await?;
    let kept: Vec<(chrono::NaiveDate, String, i64)> = sqlx::query_as(
        "SELECT day, status, n FROM execution_counts WHERE n <> 0 ORDER BY day, status",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    assert!(!truth.is_empty(), "the test stored executions");
    assert_eq!(kept, truth, "counts kept at write time match the rows");
    Ok(())
}

fn ids(list: &Value) -> Vec<String> {
    list["executions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_land_once_whatever_the_replays_and_order() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, mut agent) = start(&env).await?;
    let job = create_job(&s, "reported").await?;
    let t = now_ms() - 60_000;

    // Without the cluster token nothing is accepted.
    let mut stranger = report_client(s.scheduler.grpc_addr, None);
    let refused = send(&mut stranger, vec![running("e1", &job, t)]).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::Unauthenticated);

    assert_eq!(
        send(&mut agent, vec![running("e1", &job, t)]).await?,
        ["e1"]
    );
    assert_eq!(execution(&s, "e1").await?["status"], "running");
    let done = finished("e1", &job, t, S::Succeeded);
    assert_eq!(send(&mut agent, vec![done.clone()]).await?, ["e1"]);
    let settled = execution(&s, "e1").await?;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(settled["exit_code"], 0);
    assert_eq!(settled["output"], "output of e1");
    assert_eq!(settled["duration_ms"], 250);
    assert_eq!(settled["start_delay_ms"], 10);
    assert_eq!(settled["attempts"][0]["number"], 1);
    assert_eq!(settled["attempts"][0]["status"], "succeeded");
    assert_eq!(settled["attempts"][0]["duration_ms"], 250);
    let sample = format!(
        "crony_executions_total{{job_id=\"{job}\",job_name=\"reported\",status=\"succeeded\"}}"
    );
    assert_eq!(metric(&s, &sample).await?, 1.0);

    // Replays, in any order and in one batch with a bad report: acked, nothing changes,
    // nothing counted twice; the bad report is not acked (it stays in the agent's spool).
    let mut bad = running("", &job, t);
    bad.execution_id.clear();
    let acked = send(
        &mut agent,
        vec![done.clone(), running("e1", &job, t), bad, done.clone()],
    )
    .await?;
    assert_eq!(acked, ["e1"]);
    assert_eq!(
        send(&mut agent, vec![running("e1", &job, t)]).await?,
        ["e1"]
    );
    assert_eq!(execution(&s, "e1").await?, settled);
    assert_eq!(metric(&s, &sample).await?, 1.0);

    // Final before running (reordered spool): the final snapshot stays.
    let acked = send(
        &mut agent,
        vec![
            finished("e2", &job, t + 1_000, S::Failed),
            running("e2", &job, t + 1_000),
        ],
    )
    .await?;
    assert_eq!(acked, ["e2"]);
    assert_eq!(execution(&s, "e2").await?["status"], "failed");

    // The job's fire watermark follows the newest scheduled instant, never back.
    let (_, before) = get(&s, &format!("/api/v1/jobs/{job}")).await?;
    let watermark = before["last_scheduled_at"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!watermark.is_empty(), "{before}");
    send(&mut agent, vec![running("e0", &job, t - 3_600_000)]).await?;
    let (_, after) = get(&s, &format!("/api/v1/jobs/{job}")).await?;
    assert_eq!(after["last_scheduled_at"], watermark.as_str());
    send(&mut agent, vec![running("e3", &job, t + 5_000)]).await?;
    let (_, after) = get(&s, &format!("/api/v1/jobs/{job}")).await?;
    assert_ne!(after["last_scheduled_at"], watermark.as_str(), "{after}");
    counts_match_rows(&env.db_url).await?;
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_and_real_runs_of_one_instant_collapse_in_either_order() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, mut agent) = start(&env).await?;
    let t = now_ms() - 600_000;
    // Missed first (two agents, same deterministic id), then the real run replaces it.
    send(&mut agent, vec![missed("m-1", "job-m", t, "agent-a")]).await?;
    send(&mut agent, vec![missed("m-1", "job-m", t, "agent-b")]).await?;
    let (_, list) = get(&s, "/api/v1/executions?job_id=job-m").await?;
    assert_eq!(ids(&list), ["m-1"]);
    send(&mut agent, vec![running("real-1", "job-m", t)]).await?;
    let (_, list) = get(&s, "/api/v1/executions?job_id=job-m").await?;
    assert_eq!(ids(&list), ["real-1"], "{list}");

    // Real run first: a later missed report of that instant is acked but not stored.
    let t2 = t + 60_000;
    send(
        &mut agent,
        vec![finished("real-2", "job-m", t2, S::Succeeded)],
    )
    .await?;
    assert_eq!(
        send(&mut agent, vec![missed("m-2", "job-m", t2, "agent-b")]).await?,
        ["m-2"]
    );
    // Both in one batch, either order.
    let t3 = t + 120_000;
    send(
        &mut agent,
        vec![
            missed("m-3", "job-m", t3, "agent-b"),
            running("real-3", "job-m", t3),
        ],
    )
    .await?;
    let (_, list) = get(&s, "/api/v1/executions?job_id=job-m").await?;
    assert_eq!(ids(&list), ["real-3", "real-2", "real-1"], "{list}");
    assert_eq!(
        get(&s, "/api/v1/executions/m-2").await?.0,
        StatusCode::NOT_FOUND
    );
    counts_match_rows(&env.db_url).await?;
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_racing_missed_against_real_keep_only_the_real_run() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (a, agent_a) = start(&env).await?;
    let (b, agent_b) = start(&env).await?;
    let t = now_ms() - 3_600_000;
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..8i64 {
        let instants: Vec<i64> = (0..50).map(|n| t + (round * 50 + n) * 1_000).collect();
        let (mut ca, mut cb) = (agent_a.clone(), agent_b.clone());
        let missed_reports = instants
            .iter()
            .map(|&at| missed(&format!("m-{at}"), "job-race", at, "agent-b"))
            .collect();
        let real_reports = instants
            .iter()
            .map(|&at| running(&format!("r-{at}"), "job-race", at))
            .collect();
        tasks.spawn(async move { send(&mut ca, missed_reports).await.map(|ids| ids.len()) });
        tasks.spawn(async move { send(&mut cb, real_reports).await.map(|ids| ids.len()) });
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done??, 50, "every report acked");
    }
    let pool = sqlx::MySqlPool::connect(&env.db_url).await?;
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM executions WHERE job_id = 'job-race'")
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    assert_eq!(rows.len(), 400, "one row per instant");
    assert!(
        rows.iter().all(|(id,)| id.starts_with("r-")),
        "only real runs remain"
    );
    counts_match_rows(&env.db_url).await?;
    a.stop().await;
    b.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_filters_and_pages_without_gaps() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, mut agent) = start(&env).await?;
    let base = now_ms() - 3_600_000;
    let mut reports = Vec::new();
    for n in 0..120i64 {
        let job = if n % 2 == 0 { "job-even" } else { "job-odd" };
        // Pairs share an instant, so paging must break ties by id.
        let status = if n % 3 == 0 { S::Failed } else { S::Succeeded };
        let mut r = finished(&format!("x-{n:03}"), job, base + (n / 2) * 1_000, status);
        if n % 4 == 0 {
            r.agent_id = "agent-b".into();
        }
        if n == 7 {
            r.trigger = crony_proto::v1::TriggerKind::Manual as i32;
        }
        reports.push(r);
    }
    send(&mut agent, reports).await?;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let path = match &cursor {
            Some(c) => format!("/api/v1/executions?limit=50&cursor={c}"),
            None => "/api/v1/executions?limit=50".to_owned(),
        };
        let (status, body) = get(&s, &path).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.extend(ids(&body));
        if page == 0 {
            // Newer executions arriving meanwhile do not shift the pages.
            send(&mut agent, vec![running("x-new", "job-odd", now_ms())]).await?;
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut want: Vec<String> = (0..120).map(|n| format!("x-{n:03}")).collect();
    want.reverse();
    assert_eq!(seen, want, "newest first, no duplicates, no gaps");

    let count = |path: &str| {
        let path = path.to_owned();
        let s = &s;
        async move { get(s, &path).await.map(|(_, b)| ids(&b).len()) }
    };
    assert_eq!(
        count("/api/v1/executions?job_id=job-even&limit=500").await?,
        60
    );
    assert_eq!(
        count("/api/v1/executions?agent_id=agent-b&limit=500").await?,
        30
    );
    assert_eq!(
        count("/api/v1/executions?status=failed&limit=500").await?,
        40
    );
    assert_eq!(
        count("/api/v1/executions?status=failed,running&limit=500").await?,
        41
    );
    assert_eq!(count("/api/v1/executions?trigger=manual").await?, 1);
    let instant = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let window = format!(
        "/api/v1/executions?from={}&to={}",
        instant(base + 10_000),
        instant(base + 20_000)
    );
    assert_eq!(count(&window).await?, 20);

    for (query, field) in [
        ("status=finished", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("from=yesterday", "from"),
        ("cursor=zz", "cursor"),
        ("trigger=cron", "trigger"),
        ("job_id=a/b", "job_id"),
    ] {
        let (status, body) = get(&s, &format!("/api/v1/executions?{query}")).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, body) = get(&s, "/api/v1/executions/nope").await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    s.stop().await;
    Ok(())
}

async fn post_result(
    s: &TestScheduler,
    id: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<(StatusCode, Value, Option<String>)> {
    let response = crony_tests::api_client()
        .post(s.url(&format!("/api/v1/executions/{id}/result")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((
        status,
        response.json().await.unwrap_or(Value::Null),
        retry_after,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_results_settle_once_and_late_ones_are_kept() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, mut agent) = start(&env).await?;
    let key = ReportKey::derive(&ClusterToken::parse(CLUSTER_TOKEN)?);
    let t = now_ms() - 5_000;
    let ok = json!({"status": "succeeded", "output": "done"});

    // Not recorded yet: the right token gets "retry", a wrong one learns nothing.
    let (status, body, retry) = post_result(&s, "a-1", &key.token_for("a-1"), ok.clone()).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_recorded_yet");
    assert_eq!(retry.as_deref(), Some("1"));
    let (status, ..) = post_result(&s, "a-1", "not-a-token", ok.clone()).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut accepted = running("a-1", "job-a", t);
    accepted.async_deadline_ms = now_ms() + 3_600_000;
    send(
        &mut agent,
        vec![accepted.clone(), running("a-2", "job-a", t)],
    )
    .await?;
    for token in ["", "00", key.token_for("a-2").as_str()] {
        let (status, body, _) = post_result(&s, "a-1", token, ok.clone()).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "token {token:?}: {body}");
    }
    for (bad, field) in [
        (json!({"status": "maybe"}), "status"),
        (json!({"output": "x"}), "status"),
        (json!({"status": "failed", "extra": 1}), "extra"),
    ] {
        let (status, body, _) = post_result(&s, "a-1", &key.token_for("a-1"), bad).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }

    let token = key.token_for("a-1");
    let (status, body, _) = post_result(&s, "a-1", &token, ok.clone()).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["settled_by"], "result");
    assert_eq!(body["output"], "done");
    let (status, ..) = post_result(&s, "a-1", &token, ok.clone()).await?;
    assert_eq!(status, StatusCode::OK, "the same result again is fine");
    // A newer running snapshot from the agent does not regress it.
    let mut later = accepted.clone();
    later.revision = 5;
    send(&mut agent, vec![later]).await?;
    assert_eq!(execution(&s, "a-1").await?["status"], "succeeded");
    let (status, body, _) = post_result(
        &s,
        "a-1",
        &token,
        json!({"status": "failed", "error": "boom"}),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_settled");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("succeeded")
    );
    let row = execution(&s, "a-1").await?;
    assert_eq!(row["status"], "succeeded");
    assert_eq!(row["late_result"]["status"], "failed");
    assert_eq!(row["late_result"]["error"], "boom");

    // The async sweeper times out an execution whose deadline passed; a result after that is
    // kept as late, and so is the status.
    let mut short = running("a-3", "job-a", t);
    short.async_deadline_ms = now_ms() + 500;
    send(&mut agent, vec![short]).await?;
    let row = wait_until("a-3 timed out", Duration::from_secs(15), || async {
        let row = execution(&s, "a-3").await.map_err(|e| e.to_string())?;
        Ok((row["status"] == "timed_out").then_some(row))
    })
    .await?;
    assert_eq!(row["settled_by"], "sweeper");
    assert!(
        row["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no async result within")
    );
    assert_eq!(metric(&s, "crony_async_timeouts_total").await?, 1.0);
    let (status, body, _) = post_result(&s, "a-3", &key.token_for("a-3"), ok.clone()).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_settled");
    let row = execution(&s, "a-3").await?;
    assert_eq!(row["status"], "timed_out");
    assert_eq!(row["late_result"]["status"], "succeeded");
    // Results and the timeout sweep moved the counts with the rows.
    counts_match_rows(&env.db_url).await?;

    // A `lost` set by the sweeper gives way to the agent's final report when it comes back.
    let pool = sqlx::MySqlPool::connect(&env.db_url).await?;
    sqlx::query("UPDATE executions SET status = 'lost', settled_by = 'sweeper' WHERE id = 'a-2'")
        .execute(&pool)
        .await?;
    send(&mut agent, vec![finished("a-2", "job-a", t, S::Failed)]).await?;
    let row = execution(&s, "a-2").await?;
    assert_eq!(
        (row["status"].as_str(), row["settled_by"].as_str()),
        (Some("failed"), Some("agent"))
    );
    pool.close().await;
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_past_their_retention_are_purged() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.execution_retention = Duration::from_secs(60);
        c.retention_sweep_interval = Duration::from_millis(300);
    })
    .await?;
    let mut agent = report_client(s.scheduler.grpc_addr, Some(CLUSTER_TOKEN));
    let now = now_ms();
    let old: Vec<_> = (0..30)
        .map(|n| running(&format!("old-{n}"), "job-r", now - 120_000 - n))
        .collect();
    send(&mut agent, old).await?;
    send(&mut agent, vec![running("fresh", "job-r", now)]).await?;
    wait_until("old executions purged", Duration::from_secs(15), || async {
        let (_, list) = get(&s, "/api/v1/executions?job_id=job-r")
            .await
            .map_err(|e| e.to_string())?;
        let left = ids(&list);
        if left == ["fresh"] {
            Ok(Some(()))
        } else {
            Err(format!("left: {}", left.len()))
        }
    })
    .await?;
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_announces_itself_in_etcd_while_it_runs() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut etcd = etcd_client::Client::connect([env.etcd.as_str()], None).await?;
    let dir = crony_common::registry::schedulers_dir(&env.prefix);
    let options = || Some(etcd_client::GetOptions::new().with_prefix());
    let listed = etcd.get(dir.as_str(), options()).await?;
    assert_eq!(listed.kvs().len(), 1);
    let record: crony_common::registry::SchedulerRecord =
        serde_json::from_slice(listed.kvs()[0].value())?;
    assert_eq!(record.id, s.scheduler.id);
    assert_eq!(record.grpc_url, format!("http://{}", s.scheduler.grpc_addr));
    assert_eq!(record.http_url, s.base_url);
    let lease = listed.kvs()[0].lease();
    assert_ne!(lease, 0, "attached to a lease");

    // A lost lease (here: revoked behind its back) is replaced and the record put again.
    etcd.lease_revoke(lease).await?;
    wait_until(
        "the scheduler announced again",
        Duration::from_secs(10),
        || {
            let mut etcd = etcd.clone();
            let dir = dir.clone();
            async move {
                let listed = etcd
                    .get(dir.as_str(), options())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(listed
                    .kvs()
                    .first()
                    .filter(|kv| kv.lease() != lease)
                    .map(|_| ()))
            }
        },
    )
    .await?;
    s.stop().await;
    assert!(
        etcd.get(dir.as_str(), options()).await?.kvs().is_empty(),
        "revoked on stop"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_acked_while_mysql_is_down() -> anyhow::Result<()> {
    // Its own MariaDB: this test kills it.
    let db = MariaDb::start()?;
    let env = TestEnv::on(shared_etcd(), &db);
    let (s, mut agent) = start(&env).await?;
    let t = now_ms();
    assert_eq!(
        send(&mut agent, vec![running("d-1", "job-d", t)]).await?,
        ["d-1"]
    );

    db.kill();
    let refused = send(&mut agent, vec![finished("d-1", "job-d", t, S::Succeeded)]).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::Unavailable);

    db.restart()?;
    // The agent sends the same report again from its spool until it is acked.
    wait_until(
        "the report is acked once MySQL is back",
        Duration::from_secs(30),
        || {
            let mut agent = agent.clone();
            async move {
                match send(&mut agent, vec![finished("d-1", "job-d", t, S::Succeeded)]).await {
                    Ok(ids) if ids == ["d-1"] => Ok(Some(())),
                    Ok(ids) => Err(format!("acked {ids:?}")),
                    Err(status) => Err(status.to_string()),
                }
            }
        },
    )
    .await?;
    assert_eq!(execution(&s, "d-1").await?["status"], "succeeded");
    s.stop().await;
    Ok(())
}
