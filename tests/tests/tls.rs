//! Issue 7 (TLS): with `CRONY_TLS_CERT`/`CRONY_TLS_KEY`, the scheduler's HTTP API and
//! `ReportService` and the agent's `AgentService` serve TLS; `CRONY_TLS_CA` verifies the other
//! side. Jobs are pushed and executions reported over TLS, plain HTTP is refused, and an agent
//! that does not trust the scheduler's certificate cannot report (and says why).

mod common;

use std::time::Duration;

use crony_common::tls::{CaBundle, ServerIdentity};
use crony_tests::{AgentProcess, HttpSink, TestEnv, TestPki, TestScheduler, wait_until};
use serde_json::{Value, json};

/// A scheduler serving TLS with `pki`'s certificate and trusting `pki`'s CA for agents.
async fn tls_scheduler(env: &TestEnv, pki: &TestPki) -> anyhow::Result<TestScheduler> {
    let identity = ServerIdentity::load(&pki.cert, &pki.key)?;
    let ca = CaBundle::load(&pki.ca)?;
    TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |config| {
        config.tls = Some(identity);
        config.tls_ca = Some(ca);
    })
    .await
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, Value), String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.map_err(|e| e.to_string())?))
}

async fn online_over_tls(client: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    wait_until(
        "the agent is online",
        Duration::from_secs(20),
        || async move {
            let (_, body) = get(client, &format!("{base}/api/v1/agents?state=online")).await?;
            Ok(body["agents"]
                .as_array()
                .filter(|a| a.len() == 1)
                .map(|a| a[0].clone()))
        },
    )
    .await
}

async fn create_http_job(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    url: &str,
) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/api/v1/jobs"))
        .json(&json!({"name": name, "schedule": "* * * * * *",
                      "target": {"kind": "http", "method": "POST", "url": url}}))
        .send()
        .await?;
    let status = response.status().as_u16();
    let body: Value = response.json().await?;
    anyhow::ensure!(status == 201, "create answered {status}: {body}");
    Ok(body["id"].as_str().unwrap_or_default().to_owned())
}

/// The agent's record in etcd, as schedulers read it.
async fn agent_record(env: &TestEnv, id: &str) -> anyhow::Result<Value> {
    let mut etcd = etcd_client::Client::connect([env.etcd.as_str()], None).await?;
    let key = crony_common::registry::agent_key(&env.prefix, id);
    let found = etcd.get(key, None).await?;
    let kv = found
        .kvs()
        .first()
        .ok_or_else(|| anyhow::anyhow!("agent {id} not in etcd"))?;
    Ok(serde_json::from_slice(kv.value())?)
}

#[tokio::test]
async fn jobs_and_executions_travel_over_tls_and_plain_http_is_refused() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let pki = TestPki::create(&env.path("pki"), "cluster")?;
    let scheduler = tls_scheduler(&env, &pki).await?;
    assert!(scheduler.base_url.starts_with("https://"));
    let mut agent = AgentProcess::spawn(
        env.agent_spec("agent")
            .ttl(2)
            .env("CRONY_TLS_CERT", pki.cert_str())
            .env("CRONY_TLS_KEY", pki.key_str())
            .env("CRONY_TLS_CA", pki.ca_str()),
    )?;
    let agent_id = agent.id().await?;
    let client = pki.client()?;
    let base = scheduler.base_url.clone();

    // The API answers over https to a client that trusts the CA; the agent announced TLS.
    let (status, health) = get(&client, &format!("{base}/healthz"))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 200, "{health}");
    online_over_tls(&client, &base).await?;
    assert_eq!(agent_record(&env, &agent_id).await?["tls"], true);

    // Pushed to the agent over TLS, run against the sink, reported over TLS into MySQL.
    let sink = HttpSink::start().await?;
    let job = create_http_job(&client, &base, "over-tls", &sink.url("/tls")).await?;
    let rows = wait_until(
        "an execution of the job reaches MySQL",
        Duration::from_secs(30),
        || async {
            let rows = common::executions_in_mysql(&env.db_url, &job).await?;
            Ok(rows
                .iter()
                .any(|(_, status, _)| status == "succeeded")
                .then_some(rows))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}; agent log: {}", agent.log()))?;
    assert!(!rows.is_empty());
    assert!(!sink.calls_to("/tls").is_empty(), "the sink was called");

    // Over TLS, the dashboard's session cookie is marked Secure.
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": crony_tests::ADMIN_PASSWORD}))
        .send()
        .await?;
    assert_eq!(login.status().as_u16(), 200);
    let session = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("crony_session="))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(session.contains("Secure"), "session cookie: {session:?}");

    // The same port does not speak plain HTTP, and a client without the CA is refused too.
    let plain = format!("http://{}/healthz", scheduler.scheduler.http_addr);
    assert!(
        reqwest::get(&plain).await.is_err(),
        "plain HTTP to the TLS port must fail"
    );
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "a client that does not trust the CA must fail the handshake"
    );

    agent.terminate().await?;
    scheduler.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_agent_that_does_not_trust_the_scheduler_cannot_report() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let pki = TestPki::create(&env.path("pki"), "cluster")?;
    let stranger = TestPki::create(&env.path("pki"), "stranger")?;
    let scheduler = tls_scheduler(&env, &pki).await?;
    // The agent serves the cluster's certificate (so jobs reach it) but verifies schedulers
    // against a CA that did not sign the scheduler's certificate.
    let mut agent = AgentProcess::spawn(
        env.agent_spec("agent")
            .ttl(2)
            .env("CRONY_TLS_CERT", pki.cert_str())
            .env("CRONY_TLS_KEY", pki.key_str())
            .env("CRONY_TLS_CA", stranger.ca_str()),
    )?;
    agent.id().await?;
    let client = pki.client()?;
    let base = scheduler.base_url.clone();
    online_over_tls(&client, &base).await?;
    let sink = HttpSink::start().await?;
    let job = create_http_job(&client, &base, "unreported", &sink.url("/unreported")).await?;

    // The job runs (the sink is called), but every report is refused by the agent's own TLS
    // check, and the log says so.
    wait_until("the job ran", Duration::from_secs(30), || async {
        Ok((!sink.calls_to("/unreported").is_empty()).then_some(()))
    })
    .await?;
    wait_until(
        "the agent logs why it cannot report",
        Duration::from_secs(30),
        || async {
            let log = agent.log();
            Ok((log.contains("report batch refused")
                && log.contains("invalid peer certificate: UnknownIssuer"))
            .then_some(()))
        },
    )
    .await?;
    let rows = common::executions_in_mysql(&env.db_url, &job)
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(
        rows.is_empty(),
        "no execution may reach MySQL through an untrusted scheduler: {rows:?}"
    );
    agent.kill();
    scheduler.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_plain_agent_works_with_a_tls_scheduler_during_a_rollout() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let pki = TestPki::create(&env.path("pki"), "cluster")?;
    let scheduler = tls_scheduler(&env, &pki).await?;
    // Only the CA: the agent serves plain gRPC (its record says tls: false) but reports to the
    // scheduler over TLS, as in a cluster moving to TLS one process at a time.
    let mut agent = AgentProcess::spawn(
        env.agent_spec("agent")
            .ttl(2)
            .env("CRONY_TLS_CA", pki.ca_str()),
    )?;
    let agent_id = agent.id().await?;
    let client = pki.client()?;
    let base = scheduler.base_url.clone();
    online_over_tls(&client, &base).await?;
    assert_eq!(agent_record(&env, &agent_id).await?["tls"], false);
    let sink = HttpSink::start().await?;
    let job = create_http_job(&client, &base, "rollout", &sink.url("/rollout")).await?;
    wait_until(
        "an execution of the job reaches MySQL",
        Duration::from_secs(30),
        || async {
            let rows = common::executions_in_mysql(&env.db_url, &job).await?;
            Ok(rows
                .iter()
                .any(|(_, status, _)| status == "succeeded")
                .then_some(()))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}; agent log: {}", agent.log()))?;
    agent.terminate().await?;
    scheduler.stop().await;
    Ok(())
}
