//! The jobs API on a real scheduler, MariaDB and etcd: create, read, list, replace, pause,
//! resume, delete, cron preview — and every invalid field refused with a 400 naming it,
//! with nothing invalid reaching MySQL.

mod common;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crony_tests::{TestScheduler, shared_etcd, shared_mariadb, unique_name};

async fn start() -> anyhow::Result<(TestScheduler, String)> {
    let db_url = shared_mariadb().url(&unique_name("crony"));
    let prefix = format!("/{}", unique_name("crony"));
    Ok((
        TestScheduler::start(&shared_etcd().endpoint(), &prefix, &db_url).await?,
        db_url,
    ))
}

fn http_job(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Builds yesterday's revenue report",
        "schedule": "0 30 2 * * *",
        "timezone": "Asia/Shanghai",
        "target": { "kind": "http", "method": "POST", "url": "http://127.0.0.1:9/run",
                    "headers": {"X-Team": "bi"}, "body": "{\"day\":\"yesterday\"}" },
        "payload": "{\"region\":\"cn\"}",
        "timeout_secs": 600,
        "retry": { "max_retries": 3, "backoff": "exponential", "initial_secs": 5, "max_secs": 300 },
        "overlap": "skip",
        "misfire": "fire_once",
        "placement": { "strategy": "weighted_round_robin", "labels": {"zone": "a"}, "agent_id": null },
        "async_timeout_secs": 3600,
        "alerts": { "on": ["failed", "timed_out", "recovered"], "emails": ["bi-oncall@example.com"],
                    "feishu_webhooks": [{"url": "http://127.0.0.1:9/hook", "secret": "s"}] }
    })
}

async fn send(_: &Client, req: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
    let response = req.send().await?;
    let status = response.status();
    let text = response.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    };
    Ok((status, body))
}

/// Breaks one field of a valid job.
type Mutation = Box<dyn Fn(&mut Value)>;

async fn job_count(db_url: &str) -> anyhow::Result<i64> {
    let pool = sqlx::MySqlPool::connect(db_url).await?;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_can_be_created_read_listed_replaced_paused_and_deleted() -> anyhow::Result<()> {
    let (s, db_url) = start().await?;
    let c = crony_tests::api_client();

    let (status, job) = send(
        &c,
        c.post(s.url("/api/v1/jobs"))
            .json(&http_job("nightly-report")),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().expect("id").to_owned();
    assert_eq!(job["name"], "nightly-report");
    assert_eq!(job["target"]["headers"]["X-Team"], "bi");
    assert_eq!(job["assignment_epoch"], 0);
    assert!(job["agent_id"].is_null(), "no agent yet: {job}");
    // Next fires in the job's time zone: 02:30 Shanghai is 18:30 UTC.
    let fires = job["next_fires"].as_array().expect("next_fires");
    assert_eq!(fires.len(), 5);
    for fire in fires {
        assert!(
            fire["local"].as_str().unwrap().ends_with("T02:30:00+08:00"),
            "{fire}"
        );
        assert!(
            fire["utc"].as_str().unwrap().ends_with("T18:30:00+00:00"),
            "{fire}"
        );
    }

    // Defaults are filled in for a minimal job.
    let minimal = json!({"name": "minimal", "schedule": "@every 30s",
                         "target": {"kind": "shell", "command": "true"}});
    let (status, min) = send(&c, c.post(s.url("/api/v1/jobs")).json(&minimal)).await?;
    assert_eq!(status, StatusCode::CREATED, "{min}");
    assert_eq!(min["timezone"], "UTC");
    assert_eq!(min["enabled"], true);
    assert_eq!(min["overlap"], "skip");
    assert_eq!(min["misfire"], "fire_once");
    assert_eq!(min["timeout_secs"], 60);

    let (status, got) = send(&c, c.get(s.url(&format!("/api/v1/jobs/{id}")))).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["id"], id.as_str());

    // The same name again is a conflict on `name`.
    let (status, err) = send(
        &c,
        c.post(s.url("/api/v1/jobs"))
            .json(&http_job("nightly-report")),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["field"], "name");

    // List, filter and page.
    for n in 0..3 {
        let (status, _) = send(
            &c,
            c.post(s.url("/api/v1/jobs"))
                .json(&http_job(&format!("batch-{n}"))),
        )
        .await?;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, all) = send(&c, c.get(s.url("/api/v1/jobs"))).await?;
    assert_eq!(all["jobs"].as_array().unwrap().len(), 5);
    let (_, batch) = send(&c, c.get(s.url("/api/v1/jobs?q=batch"))).await?;
    assert_eq!(batch["jobs"].as_array().unwrap().len(), 3);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = send(
            &c,
            c.get(s.url(&format!("/api/v1/jobs?limit=2&cursor={cursor}"))),
        )
        .await?;
        assert_eq!(status, StatusCode::OK);
        seen.extend(
            page["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(seen.len() <= 5, "paging does not end");
    }
    assert_eq!(seen.len(), 5);
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique, seen, "pages overlap");

    // Replace.
    let mut changed = http_job("nightly-report");
    changed["schedule"] = json!("0 0 * * *");
    changed["timezone"] = json!("UTC");
    let (status, replaced) = send(
        &c,
        c.put(s.url(&format!("/api/v1/jobs/{id}"))).json(&changed),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["schedule"], "0 0 * * *");
    assert!(
        replaced["next_fires"][0]["utc"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00+00:00")
    );
    let (status, err) = send(
        &c,
        c.put(s.url(&format!("/api/v1/jobs/{id}")))
            .json(&http_job("batch-0")),
    )
    .await?;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (StatusCode::CONFLICT, json!("name"))
    );
    let (status, _) = send(&c, c.put(s.url("/api/v1/jobs/nope")).json(&changed)).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Pause and resume.
    let (status, paused) = send(&c, c.post(s.url(&format!("/api/v1/jobs/{id}/pause")))).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["next_fires"], json!([]));
    let (_, disabled) = send(&c, c.get(s.url("/api/v1/jobs?enabled=false"))).await?;
    assert_eq!(disabled["jobs"].as_array().unwrap().len(), 1);
    let (_, resumed) = send(&c, c.post(s.url(&format!("/api/v1/jobs/{id}/resume")))).await?;
    assert_eq!(resumed["enabled"], true);

    // Delete.
    let (status, _) = send(&c, c.delete(s.url(&format!("/api/v1/jobs/{id}")))).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = send(&c, c.get(s.url(&format!("/api/v1/jobs/{id}")))).await?;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let (status, _) = send(&c, c.delete(s.url(&format!("/api/v1/jobs/{id}")))).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(job_count(&db_url).await?, 4);

    // Every change is in the audit log, with who made it and the state before and after.
    let (status, audit) = send(
        &c,
        c.get(s.url(&format!("/api/v1/audit?target_type=job&target_id={id}"))),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    let actions: Vec<&str> = entries
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "job.create",
            "job.update",
            "job.pause",
            "job.resume",
            "job.delete"
        ]
    );
    for entry in &entries {
        assert_eq!(entry["actor"]["kind"], "token", "{entry}");
        assert_eq!(entry["actor"]["name"], "CRONY_ADMIN_TOKEN", "{entry}");
    }
    let update = &entries[3];
    assert_eq!(update["before"]["name"], "nightly-report");
    assert_ne!(update["before"], update["after"]);
    assert!(entries[0]["after"].is_null(), "a delete has no after");
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_field_is_a_400_naming_it_and_nothing_is_stored() -> anyhow::Result<()> {
    let (s, db_url) = start().await?;
    let c = crony_tests::api_client();
    let big = "x".repeat(64 * 1024 + 1);
    let cases: Vec<(&str, Mutation)> = vec![
        ("name", Box::new(|j| j["name"] = json!(""))),
        ("name", Box::new(|j| j["name"] = json!(" padded"))),
        ("name", Box::new(|j| j["name"] = json!("n".repeat(129)))),
        ("schedule", Box::new(|j| j["schedule"] = json!("every day"))),
        (
            "schedule",
            Box::new(|j| j["schedule"] = json!("0 0 * MON *")),
        ),
        (
            "schedule",
            Box::new(|j| j["schedule"] = json!("0 0 0 30 2 *")),
        ),
        ("schedule", Box::new(|j| j["schedule"] = json!("@every 0s"))),
        (
            "timezone",
            Box::new(|j| j["timezone"] = json!("Mars/Olympus")),
        ),
        (
            "target.url",
            Box::new(|j| j["target"]["url"] = json!("ftp://example.com/x")),
        ),
        (
            "target.url",
            Box::new(|j| j["target"]["url"] = json!("not a url")),
        ),
        (
            "target.method",
            Box::new(|j| j["target"]["method"] = json!("FETCH")),
        ),
        (
            "target.headers",
            Box::new(|j| j["target"]["headers"] = json!({"bad header": "x"})),
        ),
        ("target.body", {
            let big = big.clone();
            Box::new(move |j| j["target"]["body"] = json!(big))
        }),
        (
            "target.success_status",
            Box::new(|j| j["target"]["success_status"] = json!(99)),
        ),
        (
            "target",
            Box::new(|j| j["target"] = json!({"kind": "ftp", "url": "x"})),
        ),
        (
            "target.endpoint",
            Box::new(|j| j["target"] = json!({"kind": "grpc", "endpoint": "localhost"})),
        ),
        (
            "target.method",
            Box::new(|j| {
                j["target"] =
                    json!({"kind": "grpc", "endpoint": "http://127.0.0.1:1", "method": "Execute"})
            }),
        ),
        (
            "target.command",
            Box::new(|j| j["target"] = json!({"kind": "shell", "command": "  "})),
        ),
        (
            "target.workdir",
            Box::new(|j| j["target"] = json!({"kind": "shell", "command": "ls", "workdir": "tmp"})),
        ),
        (
            "target.env",
            Box::new(|j| {
                j["target"] = json!({"kind": "shell", "command": "ls", "env": {"1X": "y"}})
            }),
        ),
        ("payload", {
            let big = big.clone();
            Box::new(move |j| j["payload"] = json!(big))
        }),
        ("timeout_secs", Box::new(|j| j["timeout_secs"] = json!(0))),
        ("timeout_secs", Box::new(|j| j["timeout_secs"] = json!(-5))),
        (
            "async_timeout_secs",
            Box::new(|j| j["async_timeout_secs"] = json!(0)),
        ),
        (
            "retry.max_retries",
            Box::new(|j| j["retry"]["max_retries"] = json!(1000)),
        ),
        (
            "retry.backoff",
            Box::new(|j| j["retry"]["backoff"] = json!("sometimes")),
        ),
        (
            "retry.max_secs",
            Box::new(|j| j["retry"]["max_secs"] = json!(1)),
        ),
        ("overlap", Box::new(|j| j["overlap"] = json!("maybe"))),
        ("misfire", Box::new(|j| j["misfire"] = json!("never"))),
        ("alert_lang", Box::new(|j| j["alert_lang"] = json!("fr"))),
        (
            "placement.strategy",
            Box::new(|j| j["placement"]["strategy"] = json!("random")),
        ),
        (
            "placement.labels",
            Box::new(|j| j["placement"]["labels"] = json!({"zone": "a b"})),
        ),
        (
            "placement.agent_id",
            Box::new(|j| j["placement"]["agent_id"] = json!("a/b")),
        ),
        (
            "alerts.emails",
            Box::new(|j| j["alerts"]["emails"] = json!(["not-an-email"])),
        ),
        (
            "alerts.on",
            Box::new(|j| j["alerts"]["on"] = json!(["exploded"])),
        ),
        (
            "alerts.feishu_webhooks.url",
            Box::new(|j| j["alerts"]["feishu_webhooks"] = json!([{"url": "nope"}])),
        ),
        ("colour", Box::new(|j| j["colour"] = json!("blue"))),
    ];
    for (field, mutate) in &cases {
        let mut job = http_job("valid-name");
        mutate(&mut job);
        let (status, body) = send(&c, c.post(s.url("/api/v1/jobs")).json(&job)).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        assert_eq!(body["error"]["code"], "invalid_argument", "{field}: {body}");
        let named = body["error"]["field"].as_str().unwrap_or_default();
        assert!(
            named.starts_with(field),
            "expected field {field}, got {body}"
        );
    }
    // Not JSON at all, and a missing required field.
    let (status, body) = send(
        &c,
        c.post(s.url("/api/v1/jobs"))
            .body("{")
            .header("content-type", "application/json"),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = send(
        &c,
        c.post(s.url("/api/v1/jobs")).json(&json!({"name": "x"})),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("schedule"),
        "{body}"
    );
    // A body over the limit is refused before parsing.
    let (status, _) = send(
        &c,
        c.post(s.url("/api/v1/jobs"))
            .header("content-type", "application/json")
            .body("x".repeat(2 * 1024 * 1024)),
    )
    .await
    .unwrap_or((StatusCode::PAYLOAD_TOO_LARGE, Value::Null));
    assert!(status.is_client_error(), "{status}");
    assert_eq!(
        job_count(&db_url).await?,
        0,
        "nothing invalid reached MySQL"
    );

    // Invalid replacement leaves the stored job as it was.
    let (_, job) = send(&c, c.post(s.url("/api/v1/jobs")).json(&http_job("keep-me"))).await?;
    let id = job["id"].as_str().unwrap();
    let mut bad = http_job("keep-me");
    bad["timezone"] = json!("Nowhere/Else");
    let (status, _) = send(&c, c.put(s.url(&format!("/api/v1/jobs/{id}"))).json(&bad)).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, still) = send(&c, c.get(s.url(&format!("/api/v1/jobs/{id}")))).await?;
    assert_eq!(still["timezone"], "Asia/Shanghai");

    // Bad list filters.
    let (status, body) = send(&c, c.get(s.url("/api/v1/jobs?enabled=maybe"))).await?;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("enabled"))
    );
    let (status, body) = send(&c, c.get(s.url("/api/v1/jobs?limit=0"))).await?;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("limit"))
    );
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_preview_lists_fires_in_the_time_zone_or_names_the_bad_parameter() -> anyhow::Result<()>
{
    let (s, _) = start().await?;
    let c = crony_tests::api_client();
    let url = s.url("/api/v1/cron/preview?schedule=0%2030%202%20*%20*%20*&timezone=Asia/Shanghai&count=3&after=2026-03-02T00:00:00Z");
    let (status, body) = send(&c, c.get(url)).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fires = body["fires"].as_array().unwrap();
    assert_eq!(fires.len(), 3);
    assert_eq!(fires[0]["utc"], "2026-03-02T18:30:00+00:00");
    assert_eq!(fires[0]["local"], "2026-03-03T02:30:00+08:00");
    assert_eq!(fires[2]["local"], "2026-03-05T02:30:00+08:00");

    for (query, field) in [
        ("schedule=bogus", "schedule"),
        ("", "schedule"),
        ("schedule=@daily&timezone=Nowhere", "timezone"),
        ("schedule=@daily&count=0", "count"),
        ("schedule=@daily&count=1000", "count"),
        ("schedule=@daily&after=yesterday", "after"),
    ] {
        let (status, body) =
            send(&c, c.get(s.url(&format!("/api/v1/cron/preview?{query}")))).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    s.stop().await;
    Ok(())
}

#[tokio::test]
async fn feishu_secrets_never_leave_the_server_and_a_put_of_the_placeholder_keeps_them()
-> anyhow::Result<()> {
    let (s, db_url) = start().await?;
    let client = crony_tests::api_client();
    let secret = "feishu-signing-secret-1234";
    let mut body = http_job("secretive");
    body["alerts"]["feishu_webhooks"] =
        json!([{"url": "http://127.0.0.1:9/hook", "secret": secret}]);
    let (status, created) = send(&client, client.post(s.url("/api/v1/jobs")).json(&body)).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let (_, read) = send(&client, client.get(s.url(&format!("/api/v1/jobs/{id}")))).await?;
    let (_, list) = send(&client, client.get(s.url("/api/v1/jobs"))).await?;
    for shown in [&created, &read, &list] {
        assert!(!shown.to_string().contains(secret), "secret shown: {shown}");
    }
    let placeholder = read["alerts"]["feishu_webhooks"][0]["secret"].clone();
    assert_eq!(placeholder, "********");

    // Sending the placeholder back (an edit of something else) keeps the stored secret.
    body["description"] = json!("edited");
    body["alerts"]["feishu_webhooks"][0]["secret"] = placeholder.clone();
    let (status, replaced) = send(
        &client,
        client.put(s.url(&format!("/api/v1/jobs/{id}"))).json(&body),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    let pool = sqlx::MySqlPool::connect(&db_url).await?;
    let (stored,): (String,) = sqlx::query_as("SELECT spec FROM jobs WHERE id = ?")
        .bind(&id)
        .fetch_one(&pool)
        .await?;
    assert!(
        stored.contains(secret) && stored.contains("edited"),
        "{stored}"
    );

    // A new token on the same origin is an edit of the same bot: the secret stays.
    body["alerts"]["feishu_webhooks"][0]["url"] = json!("http://127.0.0.1:9/other-hook");
    let (status, replaced) = send(
        &client,
        client.put(s.url(&format!("/api/v1/jobs/{id}"))).json(&body),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{replaced}");

    // The placeholder for a webhook that has no stored secret is refused, naming the field.
    body["alerts"]["feishu_webhooks"]
        .as_array_mut()
        .unwrap()
        .push(json!({"url": "http://127.0.0.1:9/third-hook", "secret": placeholder}));
    let (status, refused) = send(
        &client,
        client.put(s.url(&format!("/api/v1/jobs/{id}"))).json(&body),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        refused["error"]["field"],
        "alerts.feishu_webhooks[1].secret"
    );
    pool.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_lists_the_soonest_fires_of_enabled_jobs_only() -> anyhow::Result<()> {
    let (s, _) = start().await?;
    let c = crony_tests::api_client();
    let mut ids = Vec::new();
    for (name, schedule) in [
        ("hourly", "@every 1h"),
        ("daily", "0 0 3 * * *"),
        ("paused", "* * * * * *"),
    ] {
        let mut job = http_job(name);
        job["schedule"] = json!(schedule);
        job["placement"]["labels"] = json!({});
        job["enabled"] = json!(name != "paused");
        let (status, body) = send(&c, c.post(s.url("/api/v1/jobs")).json(&job)).await?;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap_or_default().to_owned());
    }
    let names = |summary: &Value| -> Vec<String> {
        summary["next_fires"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["job_name"].as_str().map(str::to_owned))
            .collect()
    };
    // The leader publishes the soonest fires about once a second.
    let summary = crony_tests::wait_until(
        "both enabled jobs are in the next fires",
        std::time::Duration::from_secs(10),
        || async {
            let (_, summary) = send(&c, c.get(s.url("/api/v1/stats/summary")))
                .await
                .map_err(|e| e.to_string())?;
            let mut listed = names(&summary);
            listed.sort();
            Ok((listed == ["daily", "hourly"]).then_some(summary))
        },
    )
    .await?;
    assert_eq!(summary["next_fires_partial"], false, "{summary}");
    let fires = summary["next_fires"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let utc: Vec<&str> = fires.iter().filter_map(|f| f["utc"].as_str()).collect();
    let mut sorted = utc.clone();
    sorted.sort();
    assert_eq!(utc, sorted, "soonest first: {summary}");
    // Pausing or deleting takes a job out at once, before the next publish.
    let (status, _) = send(&c, c.post(s.url(&format!("/api/v1/jobs/{}/pause", ids[0])))).await?;
    assert_eq!(status, StatusCode::OK);
    let (_, summary) = send(&c, c.get(s.url("/api/v1/stats/summary"))).await?;
    assert_eq!(names(&summary), ["daily"], "{summary}");
    let (status, _) = send(&c, c.delete(s.url(&format!("/api/v1/jobs/{}", ids[1])))).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, summary) = send(&c, c.get(s.url("/api/v1/stats/summary"))).await?;
    assert!(names(&summary).is_empty(), "{summary}");
    s.stop().await;
    Ok(())
}
