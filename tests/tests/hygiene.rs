//! Issue 13's hygiene rules on a real scheduler (and agent) with MariaDB and etcd: bodies must
//! be declared JSON (no cross-site form posts, login included); API tokens stop working with
//! their owner's account and never outrank it; two admins demoting each other at once cannot
//! leave no admin; `CRONY_METRICS_TOKEN` guards `/metrics` on both binaries.

mod common;

use std::time::Duration;

use common::send;
use crony_tests::{AgentProcess, TestEnv, TestScheduler, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct-horse-battery-9";

fn assert_415(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type", "{body}");
    assert_eq!(body["error"]["field"], "content-type", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_not_declared_json_are_refused_and_change_nothing() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    // What a page on another site can make a browser send without a preflight: text/plain
    // with a JSON text, or a form. Before the rule, the text/plain login signed in.
    let login = json!({"username": "admin", "password": crony_tests::ADMIN_PASSWORD}).to_string();
    let response = reqwest::Client::new()
        .post(s.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body(login.clone())
        .send()
        .await?;
    assert!(
        response
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .is_none(),
        "no session may be set"
    );
    let status = response.status();
    let body: Value = response.json().await?;
    assert_415(status, &body);
    let (status, body) = send(
        reqwest::Client::new()
            .post(s.url("/api/v1/auth/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "username=admin&password={}",
                crony_tests::ADMIN_PASSWORD
            )),
    )
    .await?;
    assert_415(status, &body);

    let c = crony_tests::api_client();
    let job = json!({"name": "form-job", "schedule": "0 0 3 * * *",
                     "target": {"kind": "http", "url": "http://127.0.0.1:9/x"}});
    let (status, body) = send(
        c.post(s.url("/api/v1/jobs"))
            .header("content-type", "text/plain")
            .body(job.to_string()),
    )
    .await?;
    assert_415(status, &body);
    let (status, body) = send(c.post(s.url("/api/v1/alerts/test")).body("{}")).await?;
    assert_415(status, &body);
    let (_, jobs) = send(c.get(s.url("/api/v1/jobs"))).await?;
    assert_eq!(jobs["jobs"], json!([]), "nothing was created: {jobs}");

    // Declared JSON, with a charset, still works.
    let (status, body) = send(
        reqwest::Client::new()
            .post(s.url("/api/v1/auth/login"))
            .header("content-type", "application/json; charset=utf-8")
            .body(login),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.stop().await;
    Ok(())
}

/// Signs in as `user` and makes an admin-role API token through the session.
async fn token_made_by(base: &str, user: &str) -> anyhow::Result<(u64, String)> {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "login of {user}");
    let cookies: Vec<String> = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let login: Value = response.json().await?;
    let csrf = login["csrf_token"].as_str().unwrap_or_default().to_owned();
    let (status, made) = send(
        client
            .post(format!("{base}/api/v1/tokens"))
            .header(reqwest::header::COOKIE, cookies.join("; "))
            .header("x-csrf-token", csrf)
            .json(&json!({"name": format!("{user}-token"), "role": "admin"})),
    )
    .await?;
    anyhow::ensure!(status == StatusCode::CREATED, "token of {user}: {made}");
    Ok((
        made["id"].as_u64().unwrap_or_default(),
        made["token"].as_str().unwrap_or_default().to_owned(),
    ))
}

async fn status_with(token: &str, request: reqwest::RequestBuilder) -> anyhow::Result<StatusCode> {
    Ok(request.bearer_auth(token).send().await?.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_stop_with_their_owner_and_never_outrank_them() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let admin = crony_tests::api_client();
    let (status, bob) = send(
        admin
            .post(s.url("/api/v1/users"))
            .json(&json!({"username": "bob", "password": PASSWORD, "role": "admin"})),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let bob_url = s.url(&format!("/api/v1/users/{}", bob["id"]));
    let (token_id, token) = token_made_by(&s.base_url, "bob").await?;
    let plain = reqwest::Client::new();
    let read = || plain.get(s.url("/api/v1/agents"));
    let admin_only = || plain.get(s.url("/api/v1/tokens"));
    assert_eq!(status_with(&token, admin_only()).await?, StatusCode::OK);

    // Demoted: the admin-role token acts as a viewer now.
    let (status, body) = send(admin.patch(&bob_url).json(&json!({"role": "viewer"}))).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(status_with(&token, read()).await?, StatusCode::OK);
    assert_eq!(
        status_with(&token, admin_only()).await?,
        StatusCode::FORBIDDEN
    );

    // Disabled: refused; enabled again: back (disabling suspends, it does not revoke).
    let (status, body) = send(admin.patch(&bob_url).json(&json!({"disabled": true}))).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(plain.get(s.url("/api/v1/agents")).bearer_auth(&token)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("disabled user"),
        "{body}"
    );
    let (status, _) = send(admin.patch(&bob_url).json(&json!({"disabled": false}))).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_with(&token, read()).await?, StatusCode::OK);

    // Deleted: refused, and revoked for good (the list says so).
    let (status, _) = send(admin.delete(&bob_url)).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(status_with(&token, read()).await?, StatusCode::UNAUTHORIZED);
    let (_, tokens) = send(admin.get(s.url("/api/v1/tokens"))).await?;
    let listed = tokens["tokens"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["id"].as_u64() == Some(token_id)))
        .cloned()
        .unwrap_or_default();
    assert!(listed["revoked_at"].is_string(), "{tokens}");
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let admin = crony_tests::api_client();
    let (_, users) = send(admin.get(s.url("/api/v1/users"))).await?;
    let first = users["users"][0]["id"].as_u64().unwrap_or_default();
    let (status, second) = send(
        admin
            .post(s.url("/api/v1/users"))
            .json(&json!({"username": "second-admin", "password": PASSWORD, "role": "admin"})),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second = second["id"].as_u64().unwrap_or_default();
    // A check made before the write (list, then update) lets both pass now and then; the
    // rule inside the transaction never does. Several rounds give a race room to show.
    for round in 0..8 {
        let disable = |id: u64| {
            admin
                .patch(s.url(&format!("/api/v1/users/{id}")))
                .json(&json!({"disabled": true}))
                .send()
        };
        let (a, b) = tokio::join!(disable(first), disable(second));
        let mut statuses = [a?.status(), b?.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}: exactly one may pass"
        );
        let (_, users) = send(admin.get(s.url("/api/v1/users"))).await?;
        let enabled_admins = users["users"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|u| u["role"] == "admin" && u["disabled"] == false)
                    .count()
            })
            .unwrap_or_default();
        assert_eq!(enabled_admins, 1, "round {round}: {users}");
        for id in [first, second] {
            let (status, body) = send(
                admin
                    .patch(s.url(&format!("/api/v1/users/{id}")))
                    .json(&json!({"disabled": false})),
            )
            .await?;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    s.stop().await;
    Ok(())
}

const METRICS_TOKEN: &str = "scrape-token-0123456789abcdef";

async fn metrics_status(url: &str, token: Option<&str>) -> anyhow::Result<(StatusCode, String)> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    Ok((response.status(), response.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_guards_metrics_on_scheduler_and_agent() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.metrics_token = Some(
            crony_common::metrics_token::MetricsToken::parse(METRICS_TOKEN)
                .expect("the test token is long enough"),
        );
    })
    .await?;
    let port = crony_tests::process::free_port();
    let agent_metrics = format!("http://127.0.0.1:{port}/metrics");
    let mut agent = AgentProcess::spawn(
        env.agent_spec("metered")
            .env("CRONY_AGENT_METRICS_ADDR", &format!("127.0.0.1:{port}"))
            .env("CRONY_METRICS_TOKEN", METRICS_TOKEN),
    )?;
    agent.id().await?;
    wait_until(
        "the agent serves /metrics",
        Duration::from_secs(10),
        || async { Ok(metrics_status(&agent_metrics, None).await.ok().map(|_| ())) },
    )
    .await?;
    for url in [s.url("/metrics"), agent_metrics] {
        let (status, text) = metrics_status(&url, None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{url}: {text}");
        assert!(!text.contains("crony_"), "{url} leaked metrics: {text}");
        let (status, _) = metrics_status(&url, Some("scrape-token-wrong")).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{url}");
        let (status, text) = metrics_status(&url, Some(METRICS_TOKEN)).await?;
        assert_eq!(status, StatusCode::OK, "{url}: {text}");
        assert!(text.contains("crony_"), "{url}: {text}");
    }
    // Health stays open for probes.
    let (status, _) = metrics_status(&s.url("/healthz"), None).await?;
    assert_eq!(status, StatusCode::OK);
    agent.terminate().await?;
    s.stop().await;
    Ok(())
}
