//! Issue 7 (cluster authentication): schedulers and agents present `CRONY_CLUSTER_TOKEN` to
//! each other on every gRPC call. A scheduler with the wrong token cannot push to an agent, an
//! agent (or anyone) with the wrong token cannot report, and both sides log the rejection
//! without the token.

mod common;

use std::time::Duration;

use common::{create_job, held_by_agent_with_token};
use crony_tests::reports::{report_client, running};
use crony_tests::{AgentProcess, SchedulerProcess, TestEnv, wait_until};
use serde_json::json;

const RIGHT: &str = "the-cluster-token-2f9c-8b1e0d4a7c3f5e69";
const WRONG: &str = "not-the-cluster-token-77a1-3c9e5b0f2d8a";

#[tokio::test]
async fn a_wrong_cluster_token_is_refused_both_ways_and_logged() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let logs = env.path("logs");
    let scheduler = SchedulerProcess::spawn_with(
        &env.etcd,
        &env.prefix,
        &env.db_url,
        &logs,
        &[("CRONY_CLUSTER_TOKEN", RIGHT)],
    )?;
    let mut agent = AgentProcess::spawn(
        env.agent_spec("outsider")
            .ttl(2)
            .env("CRONY_CLUSTER_TOKEN", WRONG),
    )?;
    agent.id().await?;
    common::online(&scheduler.base_url, 1).await?;
    create_job(
        &scheduler.base_url,
        &json!({"name": "never-pushed", "schedule": "* * * * * *",
                "target": {"kind": "shell", "command": "true"}}),
    )
    .await
    .map_err(anyhow::Error::msg)?;

    // Scheduler → agent: every push is refused; the agent says so in its log.
    wait_until(
        "the agent logs refused pushes",
        Duration::from_secs(15),
        || async {
            Ok(agent
                .log()
                .contains("rejected a gRPC call with a missing or wrong cluster token")
                .then_some(()))
        },
    )
    .await?;
    let grpc_addr = agent_addr(&scheduler.base_url).await?;
    let held = held_by_agent_with_token(&grpc_addr, Some(WRONG))
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(
        held.is_empty(),
        "the agent holds nothing it was not allowed to be given: {held:?}"
    );

    // Agent → scheduler: a report with the wrong token is refused and logged.
    let grpc = scheduler_grpc_addr(&env).await?;
    let mut client = report_client(grpc, Some(WRONG));
    let refused = crony_tests::reports::send(&mut client, vec![running("e1", "j1", 0)]).await;
    let status = refused.expect_err("a report with the wrong token must be refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    wait_until(
        "the scheduler logs the refused report",
        Duration::from_secs(10),
        || async {
            Ok(scheduler
                .log()
                .contains("rejected a gRPC call with a missing or wrong cluster token")
                .then_some(()))
        },
    )
    .await?;
    for log in [agent.log(), scheduler.log()] {
        assert!(
            !log.contains(RIGHT) && !log.contains(WRONG),
            "a token was logged"
        );
    }
    Ok(())
}

async fn agent_addr(base: &str) -> anyhow::Result<String> {
    let (_, agents) = common::get_json(&format!("{base}/api/v1/agents"))
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(agents["agents"][0]["grpc_addr"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// The scheduler's `ReportService` address, as it announced itself in etcd.
async fn scheduler_grpc_addr(env: &TestEnv) -> anyhow::Result<std::net::SocketAddr> {
    let record = common::etcd_record(env, "schedulers").await?;
    let url = record["grpc_url"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no grpc_url in {record}"))?;
    Ok(url.trim_start_matches("http://").parse()?)
}
