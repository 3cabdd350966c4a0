//! `?dry_run=true` and `PUT /api/v1/jobs/by-name/{name}` on a real scheduler and MariaDB: a dry
//! run answers the field diff and writes nothing (no job, no audit row); by-name is idempotent
//! (an equal definition keeps `updated_at` and adds no audit row); the audit log records the
//! `X-Crony-Source` of each change.

mod common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::send;
use crony_tests::{TestEnv, TestScheduler, api_client};

fn job(name: &str, timeout: u32, token: &str) -> Value {
    json!({
        "name": name, "schedule": "@every 1h",
        "target": {"kind": "http", "url": "http://127.0.0.1:9/run",
                   "headers": {"Authorization": token}, "secret_headers": ["Authorization"]},
        "timeout_secs": timeout,
    })
}

async fn audit(s: &TestScheduler) -> anyhow::Result<Vec<Value>> {
    let (_, body) =
        send(api_client().get(s.url("/api/v1/audit?target_type=job&limit=500"))).await?;
    Ok(body["entries"].as_array().cloned().unwrap_or_default())
}

async fn job_count(s: &TestScheduler) -> anyhow::Result<usize> {
    let (_, body) = send(api_client().get(s.url("/api/v1/jobs"))).await?;
    Ok(body["jobs"].as_array().map_or(0, Vec::len))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_answer_the_diff_and_write_nothing() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let c = api_client();

    let (status, plan) = send(
        c.post(s.url("/api/v1/jobs?dry_run=true"))
            .json(&job("a", 60, "t1")),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["change"], "create");
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "timeout_secs")
    );
    assert_eq!(job_count(&s).await?, 0);
    assert!(
        audit(&s).await?.is_empty(),
        "a dry run is not audited: nothing happened"
    );

    // Invalid input is refused exactly as the write would refuse it.
    let (status, body) = send(
        c.post(s.url("/api/v1/jobs?dry_run=true"))
            .json(&job("a", 0, "t1")),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "timeout_secs");
    let (status, body) = send(
        c.post(s.url("/api/v1/jobs?dry_run=maybe"))
            .json(&job("a", 60, "t1")),
    )
    .await?;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("dry_run"))
    );

    let (status, created) = send(c.post(s.url("/api/v1/jobs")).json(&job("a", 60, "t1"))).await?;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        c.post(s.url("/api/v1/jobs?dry_run=true"))
            .json(&job("a", 60, "t1")),
    )
    .await?;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the name is taken, as the write would say"
    );

    let changed = job("a", 90, "t2");
    let (status, plan) = send(
        c.put(s.url(&format!("/api/v1/jobs/{id}?dry_run=true")))
            .json(&changed),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["change"], "update");
    let changes = plan["changes"].as_array().unwrap();
    let fields: Vec<&str> = changes.iter().filter_map(|c| c["field"].as_str()).collect();
    assert_eq!(fields, ["target.headers.Authorization", "timeout_secs"]);
    assert_eq!(changes[0]["secret"], true);
    assert!(
        !plan.to_string().contains("t1") && !plan.to_string().contains("t2"),
        "{plan}"
    );
    assert_eq!(
        (changes[1]["before"].clone(), changes[1]["after"].clone()),
        (json!(60), json!(90))
    );

    let (status, plan) = send(c.delete(s.url(&format!("/api/v1/jobs/{id}?dry_run=true")))).await?;
    assert_eq!(
        (status, plan["change"].clone()),
        (StatusCode::OK, json!("delete"))
    );
    let (_, stored) = send(c.get(s.url(&format!("/api/v1/jobs/{id}")))).await?;
    assert_eq!(
        stored["timeout_secs"], 60,
        "neither dry run changed the job"
    );
    assert_eq!(audit(&s).await?.len(), 1, "only the real create is audited");
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_name_is_idempotent_and_the_audit_log_records_the_source() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let c = api_client();
    let put = |body: Value| {
        c.put(s.url("/api/v1/jobs/by-name/report"))
            .header("X-Crony-Source", "ci pipeline #42")
            .json(&body)
    };
    let response = put(job("report", 60, "t1")).send().await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-crony-change"], "created");
    let first: Value = response.json().await?;

    let response = put(job("report", 60, "t1")).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-crony-change"], "unchanged");
    let same: Value = response.json().await?;
    assert_eq!(same["updated_at"], first["updated_at"]);
    assert_eq!(same["id"], first["id"]);
    // The placeholder a GET shows keeps the stored secret: still unchanged.
    let response = put(job("report", 60, "********")).send().await?;
    assert_eq!(response.headers()["x-crony-change"], "unchanged");

    let response = put(job("report", 120, "t1")).send().await?;
    assert_eq!(response.headers()["x-crony-change"], "updated");
    let entries = audit(&s).await?;
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["job.update", "job.create"],
        "newest first; unchanged puts are not changes"
    );
    assert!(
        entries.iter().all(|e| e["source"] == "ci pipeline #42"),
        "{entries:?}"
    );

    let (_, by_name) = send(c.get(s.url("/api/v1/jobs/by-name/report"))).await?;
    assert_eq!(by_name["timeout_secs"], 120);
    let (status, _) = send(c.get(s.url("/api/v1/jobs/by-name/nobody"))).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = send(put(job("other", 60, "t1"))).await?;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("name"))
    );
    let too_long = "x".repeat(65);
    let request = c
        .put(s.url("/api/v1/jobs/by-name/report"))
        .header("X-Crony-Source", too_long);
    let (status, body) = send(request.json(&job("report", 60, "t1"))).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "x-crony-source");
    assert_eq!(audit(&s).await?.len(), 2);
    s.stop().await;
    Ok(())
}
