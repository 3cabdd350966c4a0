//! Issue 7 (callback allow-list): with `CRONY_CALLBACK_ALLOW`, the scheduler refuses job
//! targets whose host the list refuses (400 naming the field), and an agent refuses at call
//! time, after resolving the name, so nothing is sent to a forbidden address.

mod common;

use std::time::Duration;

use common::{create_job, online};
use crony_common::callback_allow::CallbackAllow;
use crony_tests::{AgentProcess, HttpSink, TestEnv, TestScheduler, wait_until};
use serde_json::{Value, json};

async fn send(method: reqwest::Method, url: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
    let response = crony_tests::api_client()
        .request(method, url)
        .json(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

fn http_job(name: &str, url: &str) -> Value {
    json!({"name": name, "schedule": "* * * * * *",
           "target": {"kind": "http", "method": "POST", "url": url}})
}

#[tokio::test]
async fn the_scheduler_refuses_targets_the_list_does_not_allow() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let allow = CallbackAllow::parse("api.example.com,*.svc.example.com")?;
    let scheduler = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.callback_allow = Some(allow);
    })
    .await?;
    let jobs = scheduler.url("/api/v1/jobs");

    let refused = [
        (
            http_job("metadata", "http://169.254.169.254/latest"),
            "target.url",
        ),
        (
            http_job("loopback", "http://127.0.0.1:8080/run"),
            "target.url",
        ),
        (
            http_job("lookalike", "https://api.example.com.evil.test/run"),
            "target.url",
        ),
        (
            json!({"name": "grpc", "schedule": "* * * * * *",
                   "target": {"kind": "grpc", "endpoint": "http://db.internal:50051"}}),
            "target.endpoint",
        ),
    ];
    for (body, field) in &refused {
        let (status, answer) = send(reqwest::Method::POST, &jobs, body).await?;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["error"]["field"], *field, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("CRONY_CALLBACK_ALLOW")),
            "{answer}"
        );
    }

    // Allowed hosts are accepted, and a replace cannot smuggle a refused one in.
    let id = create_job(
        &scheduler.base_url,
        &http_job("ok", "https://api.example.com/run"),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    create_job(
        &scheduler.base_url,
        &http_job("ok2", "http://billing.svc.example.com/x"),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let (status, answer) = send(
        reqwest::Method::PUT,
        &format!("{jobs}/{id}"),
        &http_job("ok", "http://10.0.0.1/run"),
    )
    .await?;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "target.url");
    scheduler.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_agent_refuses_forbidden_addresses_without_calling_them() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    // The scheduler allows anything; the agent only 10.0.0.0/8, so not the loopback sink.
    let scheduler = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut agent = AgentProcess::spawn(
        env.agent_spec("agent")
            .ttl(2)
            .env("CRONY_CALLBACK_ALLOW", "10.0.0.0/8"),
    )?;
    agent.id().await?;
    online(&scheduler.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    let port = sink.addr.port();
    let base = &scheduler.base_url;

    // An address literal, a name that resolves to loopback (what a DNS rebinding attack
    // would do), and a gRPC endpoint.
    let literal = create_job(base, &http_job("literal", &sink.url("/literal")))
        .await
        .map_err(anyhow::Error::msg)?;
    let named = create_job(
        base,
        &http_job("named", &format!("http://localhost:{port}/named")),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let grpc = create_job(
        base,
        &json!({"name": "grpc", "schedule": "* * * * * *",
                "target": {"kind": "grpc", "endpoint": format!("http://127.0.0.1:{port}")}}),
    )
    .await
    .map_err(anyhow::Error::msg)?;

    for (job, host) in [
        (&literal, "127.0.0.1"),
        (&named, "localhost"),
        (&grpc, "127.0.0.1"),
    ] {
        let failed = wait_until(
            "a failed execution naming the allow-list",
            Duration::from_secs(30),
            || async {
                let failed = common::executions_with(base, job, "failed").await?;
                Ok(failed.into_iter().find(|e| {
                    e["error"]
                        .as_str()
                        .is_some_and(|m| m.contains("CRONY_CALLBACK_ALLOW"))
                }))
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}; agent log: {}", agent.log()))?;
        let error = failed["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(host),
            "the error names the host {host}: {error}"
        );
    }
    assert!(
        sink.calls().is_empty(),
        "nothing may reach a forbidden address: {:?}",
        sink.calls()
    );
    agent.kill();
    scheduler.stop().await;
    Ok(())
}
