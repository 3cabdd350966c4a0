//! Issue 13 (mutual TLS): with `CRONY_TLS_CLIENT_CA`, the agent's `AgentService` and the
//! scheduler's `ReportService` accept only callers presenting a certificate that CA signed,
//! and the scheduler and agent present theirs, so the real pair works. The HTTP API asks for
//! no client certificate (browsers and scripts use accounts and tokens).

mod common;

use std::time::Duration;

use crony_common::tls::{CaBundle, ServerIdentity};
use crony_proto::v1::{ExecutionStatus, ListHeldRequest};
use crony_tests::grpc::{agent_client_on, report_client_on, tls_channel};
use crony_tests::reports::{finished, now_ms, send};
use crony_tests::{AgentProcess, TestEnv, TestPki, TestScheduler, wait_until};
use serde_json::{Value, json};

#[tokio::test]
async fn only_peers_with_a_certificate_of_the_cluster_ca_get_in() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let pki = TestPki::create(&env.path("pki"), "cluster")?;
    let stranger = TestPki::create(&env.path("pki"), "stranger")?;
    let identity = ServerIdentity::load(&pki.cert, &pki.key)?;
    let ca = CaBundle::load(&pki.ca)?;
    let scheduler = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |config| {
        config.tls = Some(identity);
        config.tls_ca = Some(ca.clone());
        config.tls_client_ca = Some(ca);
    })
    .await?;
    let mut agent = AgentProcess::spawn(
        env.agent_spec("agent")
            .ttl(2)
            .env("CRONY_TLS_CERT", pki.cert_str())
            .env("CRONY_TLS_KEY", pki.key_str())
            .env("CRONY_TLS_CA", pki.ca_str())
            .env("CRONY_TLS_CLIENT_CA", pki.ca_str()),
    )?;
    agent.id().await?;

    // The HTTP API answers a client without any certificate of its own.
    let http = pki.client()?;
    let base = scheduler.base_url.clone();
    let agents_url = format!("{base}/api/v1/agents?state=online");
    let agents: Value = wait_until("the agent is online", Duration::from_secs(20), || {
        let request = http.get(&agents_url);
        async move {
            let body: Value = request
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            Ok((body["agents"].as_array().map_or(0, Vec::len) == 1).then_some(body))
        }
    })
    .await?;
    let agent_addr = agents["agents"][0]["grpc_addr"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // The real pair: pushed with the scheduler's certificate, reported with the agent's.
    let response = http
        .post(format!("{base}/api/v1/jobs"))
        .json(&json!({"name": "mtls", "schedule": "* * * * * *",
                      "target": {"kind": "shell", "command": "true"}}))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 201);
    let job = response.json::<Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    wait_until("a run is recorded", Duration::from_secs(30), || async {
        let rows = common::executions_in_mysql(&env.db_url, &job).await?;
        Ok(rows.iter().any(|(_, s, _)| s == "succeeded").then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}; agent log: {}", agent.log()))?;

    // With the cluster token but no certificate, or one from another CA: refused both ways.
    let report_addr = scheduler.scheduler.grpc_addr.to_string();
    for client in [None, Some(&stranger)] {
        let who = if client.is_some() {
            "a stranger's"
        } else {
            "no"
        };
        let mut to_agent = agent_client_on(tls_channel(&agent_addr, &pki, client)?);
        let held = to_agent.list_held(ListHeldRequest {}).await;
        assert!(held.is_err(), "the agent answered {who} certificate");
        let mut to_scheduler = report_client_on(tls_channel(&report_addr, &pki, client)?);
        let forged = finished("mtls-forged", &job, now_ms(), ExecutionStatus::Failed);
        let sent = send(&mut to_scheduler, vec![forged]).await;
        assert!(
            sent.is_err(),
            "ReportService took a report with {who} certificate"
        );
    }
    // The same calls with the cluster's certificate go through: the certificate was the
    // reason.
    let mut to_agent = agent_client_on(tls_channel(&agent_addr, &pki, Some(&pki))?);
    let held = to_agent.list_held(ListHeldRequest {}).await?.into_inner();
    assert!(held.jobs.iter().any(|j| j.job_id == job), "{held:?}");
    let rows = common::executions_in_mysql(&env.db_url, &job)
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(
        rows.iter().all(|(id, _, _)| id != "mtls-forged"),
        "a report without a valid certificate was recorded"
    );
    agent.terminate().await?;
    scheduler.stop().await;
    Ok(())
}
