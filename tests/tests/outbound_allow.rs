//! Issue 13, what leaves the scheduler. With `CRONY_CALLBACK_ALLOW`, test alerts, job Feishu
//! webhooks and the cluster webhook never reach a refused host — a loopback "metadata
//! service" counts every request and must see none — while an allowed host does get the
//! alert; no answer of a remote appears in any API answer or `alerts` row. Stored secrets go
//! only to the origin they were given for, and viewers see Feishu webhook URLs cut.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::send;
use crony_common::callback_allow::CallbackAllow;
use crony_tests::metadata::SECRET_BODY;
use crony_tests::{FeishuBot, HttpSink, MetadataServer, TestEnv, TestScheduler, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The loopback address the allow-list allows; the metadata service is on others.
const ALLOWED: &str = "127.0.0.2";
/// A distinctive part of the metadata service's answer.
const SECRET_MARK: &str = "metadata-secret-token";

fn assert_no_secret(what: &str, shown: &impl std::fmt::Display) {
    let text = shown.to_string();
    assert!(
        !text.contains(SECRET_MARK) && !text.contains("ASIA-METADATA"),
        "{what} shows the metadata service's answer: {text}"
    );
}

/// A job that never fires during the test, with `alerts`.
fn job(name: &str, target: &str, alerts: Value) -> Value {
    json!({"name": name, "schedule": "0 0 0 1 1 *",
           "target": {"kind": "http", "method": "POST", "url": target},
           "alerts": alerts})
}

fn hooks(urls: &[&str]) -> Value {
    json!({"feishu_webhooks": urls.iter().map(|u| json!({"url": u})).collect::<Vec<_>>()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_never_reach_a_refused_host_and_never_echo_its_answer() -> anyhow::Result<()> {
    assert!(SECRET_BODY.contains(SECRET_MARK));
    let env = TestEnv::shared();
    let metadata = MetadataServer::start().await?;
    let allowed: IpAddr = ALLOWED.parse()?;
    let sink = HttpSink::start_on(allowed).await?;
    let bot = FeishuBot::start_on(allowed, None).await?;
    let allow = CallbackAllow::parse(ALLOWED)?;
    // A name is decided by its addresses when connecting: `localhost` passes start-up and
    // validation, and every send to it must still be refused.
    let cluster_hook = metadata.named_url("/latest/meta-data/cluster-hook");
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.callback_allow = Some(allow);
        c.alerts.webhook = Some(cluster_hook);
    })
    .await?;
    let client = crony_tests::api_client();
    let test_alert = |body: Value| client.post(s.url("/api/v1/alerts/test")).json(&body);

    // Test alerts aimed at the metadata service by address: refused before anything is sent.
    for channel in ["webhook", "feishu"] {
        let to = metadata.url("/latest/meta-data/iam/security-credentials/");
        let (status, answer) = send(test_alert(json!({"channel": channel, "to": to}))).await?;
        assert_no_secret("the test alert's answer", &answer);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{channel}: {answer}");
        assert_eq!(answer["error"]["field"], "to", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("CRONY_CALLBACK_ALLOW"), "{answer}");
    }
    // By a name that resolves to it: refused by the connector, with a classified reason.
    for channel in ["webhook", "feishu"] {
        let to = metadata.named_url("/open-apis/bot/v2/hook/by-name");
        let (status, answer) = send(test_alert(json!({"channel": channel, "to": to}))).await?;
        assert_no_secret("the test alert's answer", &answer);
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{channel}: {answer}");
        assert_eq!(answer["error"]["code"], "delivery_failed", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("not allowed by CRONY_CALLBACK_ALLOW"),
            "{answer}"
        );
    }
    // The allowed host gets its test alerts.
    let (status, answer) = send(test_alert(
        json!({"channel": "webhook", "to": sink.url("/alerts")}),
    ))
    .await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(sink.calls_to("/alerts").len(), 1);
    let (status, answer) = send(test_alert(json!({"channel": "feishu", "to": bot.url()}))).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(bot.accepted().len(), 1);

    // Job webhooks aimed at it by address: 400 naming the entry, on create and on replace.
    let target = sink.url("/run");
    let jobs = s.url("/api/v1/jobs");
    let hook = metadata.url("/open-apis/bot/v2/hook/metadata");
    let body = job("refused", &target, hooks(&[&bot.url(), &hook]));
    let (status, answer) = send(client.post(&jobs).json(&body)).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["field"], "alerts.feishu_webhooks[1].url");
    let body = job("allowed", &target, hooks(&[&bot.url()]));
    let (status, created) = send(client.post(&jobs).json(&body)).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap_or_default();
    let body = job("allowed", &target, hooks(&[&hook]));
    let (status, answer) = send(client.put(format!("{jobs}/{id}")).json(&body)).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["field"], "alerts.feishu_webhooks[0].url");

    // A job webhook by name is accepted, and its alert (the job has no agent: `unassigned`)
    // is refused at send time, like the cluster webhook's copy.
    let mut alerts = hooks(&[&metadata.named_url("/open-apis/bot/v2/hook/job")]);
    alerts["on"] = json!(["unassigned"]);
    let (status, created) = send(client.post(&jobs).json(&job("by-name", &target, alerts))).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let by_name = created["id"].as_str().unwrap_or_default().to_owned();
    let rows = wait_until(
        "the job's unassigned alerts given up on",
        Duration::from_secs(60),
        || async {
            let (_, list) = send(client.get(s.url(&format!("/api/v1/alerts?job_id={by_name}"))))
                .await
                .map_err(|e| e.to_string())?;
            let rows = list["alerts"].as_array().cloned().unwrap_or_default();
            let done = rows.len() >= 2 && rows.iter().all(|r| r["status"] == "dead");
            Ok(done.then_some(rows))
        },
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let channels: Vec<&str> = rows.iter().filter_map(|r| r["channel"].as_str()).collect();
    assert!(
        channels.contains(&"feishu") && channels.contains(&"webhook"),
        "{rows:?}"
    );
    for row in &rows {
        assert_eq!(
            row["last_error"].as_str().unwrap_or_default(),
            format!(
                "{}: not allowed by CRONY_CALLBACK_ALLOW",
                row["channel"].as_str().unwrap_or_default()
            ),
            "{row}"
        );
    }

    assert_eq!(metadata.requests(), 0, "the metadata service was called");
    let (_, history) = send(client.get(s.url("/api/v1/alerts?limit=500"))).await?;
    assert_no_secret("the alert history", &history);
    let pool = sqlx::MySqlPool::connect(&env.db_url).await?;
    let stored: Vec<(String, String, String)> =
        sqlx::query_as("SELECT recipient, last_error, payload FROM alerts")
            .fetch_all(&pool)
            .await?;
    assert!(stored.len() >= 6, "every attempt is recorded: {stored:?}");
    for row in &stored {
        assert_no_secret("an alerts row", &format!("{row:?}"));
    }
    pool.close().await;
    s.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_cluster_webhook_refused_by_name_stops_the_start_naming_the_setting() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let metadata = MetadataServer::start().await?;
    for (setting, url) in [
        (
            "CRONY_FEISHU_WEBHOOK",
            metadata.url("/open-apis/bot/v2/hook/x"),
        ),
        ("CRONY_ALERT_WEBHOOK", metadata.url("/hook")),
    ] {
        let started = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
            c.callback_allow = Some(CallbackAllow::parse(ALLOWED).expect("a valid list"));
            if setting == "CRONY_FEISHU_WEBHOOK" {
                c.alerts.feishu_webhook = Some(url);
            } else {
                c.alerts.webhook = Some(url);
            }
        })
        .await;
        let error = match started {
            Ok(s) => {
                s.stop().await;
                panic!("{setting} aimed at a refused host was accepted");
            }
            Err(e) => format!("{e:#}"),
        };
        assert!(
            error.starts_with(setting) && error.contains("CRONY_CALLBACK_ALLOW"),
            "{error}"
        );
        assert_eq!(error.lines().count(), 1, "{error}");
    }
    assert_eq!(metadata.requests(), 0);
    Ok(())
}

/// The stored spec of a job, as MySQL holds it (no `CRONY_SECRET_KEY`: secrets in clear).
async fn stored_spec(db_url: &str, id: &str) -> anyhow::Result<String> {
    let pool = sqlx::MySqlPool::connect(db_url).await?;
    let (spec,): (String,) = sqlx::query_as("SELECT spec FROM jobs WHERE id = ?")
        .bind(id)
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(spec)
}

#[tokio::test]
async fn a_placeholder_keeps_a_secret_only_for_its_scheme_host_and_port() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let client = crony_tests::api_client();
    let mut body = json!({"name": "secretive", "schedule": "0 0 0 1 1 *",
        "target": {"kind": "http", "method": "POST", "url": "http://127.0.0.2:9/run",
                   "headers": {"Authorization": "Bearer token-one"},
                   "secret_headers": ["Authorization"]},
        "alerts": {"feishu_webhooks": [
            {"url": "https://127.0.0.2:9/open-apis/bot/v2/hook/bot-a", "secret": "feishu-one"}]}});
    let (status, created) = send(client.post(s.url("/api/v1/jobs")).json(&body)).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let put = |body: &Value| client.put(s.url(&format!("/api/v1/jobs/{id}"))).json(body);
    body["target"]["headers"]["Authorization"] = json!("********");
    body["alerts"]["feishu_webhooks"][0]["secret"] = json!("********");

    // Another host, port or scheme with the placeholder: the secret would leave for somewhere
    // it was not given for.
    for url in [
        "http://attacker.example:9/run",
        "http://127.0.0.2:10/run",
        "https://127.0.0.2:9/run",
    ] {
        let mut moved = body.clone();
        moved["target"]["url"] = json!(url);
        let (status, answer) = send(put(&moved)).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {answer}");
        assert_eq!(answer["error"]["field"], "target.headers.Authorization");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("send the secret again"), "{answer}");
    }
    // Only the path and query: the same secret stays.
    body["target"]["url"] = json!("http://127.0.0.2:9/other/path?x=1");
    let (status, answer) = send(put(&body)).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let spec = stored_spec(&env.db_url, &id).await?;
    assert!(
        spec.contains("Bearer token-one") && spec.contains("feishu-one"),
        "{spec}"
    );
    // Another host with the secret sent again.
    body["target"]["url"] = json!("http://127.0.0.9:9/run");
    body["target"]["headers"]["Authorization"] = json!("Bearer token-two");
    let (status, answer) = send(put(&body)).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let spec = stored_spec(&env.db_url, &id).await?;
    assert!(
        spec.contains("Bearer token-two") && !spec.contains("token-one"),
        "{spec}"
    );
    body["target"]["headers"]["Authorization"] = json!("********");

    // The Feishu secret follows its webhook's origin the same way.
    let mut moved = body.clone();
    moved["alerts"]["feishu_webhooks"][0]["url"] =
        json!("https://attacker.example/open-apis/bot/v2/hook/bot-a");
    let (status, answer) = send(put(&moved)).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["field"], "alerts.feishu_webhooks[0].secret");
    body["alerts"]["feishu_webhooks"][0]["url"] =
        json!("https://127.0.0.2:9/open-apis/bot/v2/hook/bot-b");
    let (status, answer) = send(put(&body)).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let spec = stored_spec(&env.db_url, &id).await?;
    assert!(
        spec.contains("feishu-one") && spec.contains("bot-b"),
        "{spec}"
    );
    s.stop().await;
    Ok(())
}

#[tokio::test]
async fn viewers_see_feishu_webhook_urls_cut_and_editors_whole() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let admin = crony_tests::api_client();
    let url = "https://open.feishu.cn/open-apis/bot/v2/hook/abcdef-bot-token-1234";
    let body = job("chatty", "http://127.0.0.2:9/run", hooks(&[url]));
    let (status, created) = send(admin.post(s.url("/api/v1/jobs")).json(&body)).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_owned();

    let mut tokens = Vec::new();
    for role in ["viewer", "operator"] {
        let (status, made) = send(
            admin
                .post(s.url("/api/v1/tokens"))
                .json(&json!({"name": format!("{role} script"), "role": role})),
        )
        .await?;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        tokens.push((role, made["token"].as_str().unwrap_or_default().to_owned()));
    }
    // A plain client: the harness's admin token must not go with these calls.
    let plain = reqwest::Client::new();
    for (role, token) in &tokens {
        let (_, one) = send(
            plain
                .get(s.url(&format!("/api/v1/jobs/{id}")))
                .bearer_auth(token),
        )
        .await?;
        let (_, list) = send(plain.get(s.url("/api/v1/jobs")).bearer_auth(token)).await?;
        let listed = list["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["id"] == id.as_str()))
            .cloned()
            .unwrap_or_default();
        for shown in [&one, &listed] {
            let hook = &shown["alerts"]["feishu_webhooks"][0]["url"];
            if *role == "viewer" {
                assert_eq!(
                    hook, "https://open.feishu.cn/open-apis/bot/v2/hook/abcd…",
                    "{shown}"
                );
                assert!(!shown.to_string().contains("bot-token"), "{shown}");
            } else {
                assert_eq!(hook, url, "{role}: {shown}");
            }
        }
    }
    s.stop().await;
    Ok(())
}
