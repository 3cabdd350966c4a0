//! Issue 13 (secure by default): the cluster credential. An outsider who knows only the
//! published `crony.v1` proto cannot push a job to an agent, trigger it or forge a report;
//! secrets come from files; and the explicit insecure mode keeps gRPC on loopback, says so at
//! every start and refuses async results.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{create_job, executions_in_mysql, held_by_agent};
use crony_proto::v1::{
    ExecutionStatus, JobSpec, ShellTarget, SyncRequest, Target, TriggerKind, TriggerRequest, target,
};
use crony_tests::grpc::agent_client_with;
use crony_tests::process::free_port;
use crony_tests::reports::{finished, now_ms, report_client, send};
use crony_tests::{AgentProcess, CLUSTER_TOKEN, SchedulerProcess, TestEnv, wait_until};
use serde_json::json;

const OUTSIDER_JOB: &str = "outsider-job";

/// What the outsider sent: a shell job that fires every second, under a term no
/// scheduler will ever reach.
fn outsider_sync(marker: &Path) -> SyncRequest {
    let shell = ShellTarget {
        command: format!("touch {}", marker.display()),
        ..ShellTarget::default()
    };
    SyncRequest {
        term: 1 << 62,
        generation: 1 << 62,
        chunk: 0,
        more: false,
        jobs: vec![JobSpec {
            id: OUTSIDER_JOB.into(),
            name: "outsider".into(),
            schedule: "* * * * * *".into(),
            timezone: "UTC".into(),
            enabled: true,
            target: Some(Target {
                kind: Some(target::Kind::Shell(shell)),
            }),
            timeout_secs: 10,
            assignment_epoch: 1,
            ..JobSpec::default()
        }],
    }
}

/// A shell job of the real scheduler that appends a line to `marker` at every run.
async fn real_job(base: &str, name: &str, marker: &Path) -> anyhow::Result<String> {
    let command = format!("echo ran >> {}", marker.display());
    create_job(
        base,
        &json!({"name": name, "schedule": "* * * * * *",
                "target": {"kind": "shell", "command": command}}),
    )
    .await
    .map_err(anyhow::Error::msg)
}

/// Waits until `n` runs of `job` succeeded and are recorded in MySQL; returns their ids.
async fn recorded(env: &TestEnv, job: &str, n: usize) -> anyhow::Result<Vec<String>> {
    wait_until(
        &format!("{n} runs of {job} recorded"),
        Duration::from_secs(30),
        || async move {
            let rows = executions_in_mysql(&env.db_url, job).await?;
            let ok: Vec<String> = rows
                .into_iter()
                .filter(|(_, status, _)| status == "succeeded")
                .map(|(id, _, _)| id)
                .collect();
            Ok((ok.len() >= n).then_some(ok))
        },
    )
    .await
}

#[tokio::test]
async fn an_outsider_without_the_cluster_token_can_neither_push_nor_trigger_nor_report()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (scheduler, agent) = common::scheduler_and_agent(&env).await?;
    let addr = common::agent_grpc_addr(&scheduler.base_url).await?;
    let marker = env.path("outsider-was-here");
    let guess = "an-outsiders-guess-at-the-cluster-token-0000";
    for token in [None, Some(guess)] {
        let mut outsider = agent_client_with(&addr, token)?;
        let sync = outsider.sync(outsider_sync(&marker)).await;
        let status = sync.expect_err("an outsider's Sync must be refused");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
        let trigger = outsider
            .trigger(TriggerRequest {
                job_id: OUTSIDER_JOB.into(),
                assignment_epoch: 1,
                kind: TriggerKind::Manual as i32,
                ..TriggerRequest::default()
            })
            .await;
        let status = trigger.expect_err("an outsider's Trigger must be refused");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

        let mut forger = report_client(scheduler.scheduler.grpc_addr, token);
        let forged = finished(
            "forged-1",
            OUTSIDER_JOB,
            now_ms(),
            ExecutionStatus::Succeeded,
        );
        let status = send(&mut forger, vec![forged])
            .await
            .expect_err("an outsider's ReportBatch must be refused");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    }

    // The real scheduler still drives the agent: its job runs and is recorded, twice (so the
    // outsider's every-second job would have had its chances too)...
    let real = real_job(&scheduler.base_url, "real", &env.path("real-ran")).await?;
    recorded(&env, &real, 2)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; agent log: {}", agent.log()))?;
    // ...while the outsider's job was never held nor run, and nothing forged was recorded.
    let held = held_by_agent(&addr).await.map_err(anyhow::Error::msg)?;
    assert!(!held.contains_key(OUTSIDER_JOB), "held: {held:?}");
    assert!(!marker.exists(), "the outsider's command ran");
    let forged = executions_in_mysql(&env.db_url, OUTSIDER_JOB)
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(forged.is_empty(), "forged executions recorded: {forged:?}");
    scheduler.stop().await;
    Ok(())
}

#[tokio::test]
async fn secrets_read_from_files_run_a_whole_cluster() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let dir = env.path("secrets");
    std::fs::create_dir_all(&dir)?;
    // Written the way `echo secret > file` and editors write them: with a line break.
    let file = |name: &str, value: &str| -> anyhow::Result<String> {
        let path = dir.join(name);
        std::fs::write(&path, format!("{value}\n"))?;
        Ok(path.to_string_lossy().into_owned())
    };
    let token = file("cluster-token", CLUSTER_TOKEN)?;
    let database = file("database-url", &env.db_url)?;
    let password = "admin-password-from-a-file";
    let password_file = file("admin-password", password)?;
    let scheduler = SchedulerProcess::spawn_with(
        &env.etcd,
        &env.prefix,
        &env.db_url,
        &env.path("logs"),
        &[
            ("CRONY_CLUSTER_TOKEN", ""),
            ("CRONY_CLUSTER_TOKEN_FILE", &token),
            ("CRONY_DATABASE_URL", ""),
            ("CRONY_DATABASE_URL_FILE", &database),
            ("CRONY_ADMIN_PASSWORD", ""),
            ("CRONY_ADMIN_PASSWORD_FILE", &password_file),
        ],
    )?;
    let mut agent = AgentProcess::spawn(
        env.agent_spec("agent")
            .ttl(2)
            .env("CRONY_CLUSTER_TOKEN", "")
            .env("CRONY_CLUSTER_TOKEN_FILE", &token),
    )?;
    agent.id().await?;
    common::online(&scheduler.base_url, 1)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; scheduler log: {}", scheduler.log()))?;

    // Both read the same token from the file: the job is pushed, runs and is reported.
    let job = real_job(&scheduler.base_url, "from-files", &env.path("ran")).await?;
    recorded(&env, &job, 1)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; agent log: {}", agent.log()))?;
    // The first admin got the password in the file.
    let login = reqwest::Client::new()
        .post(scheduler.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await?;
    assert_eq!(login.status().as_u16(), 200);
    agent.terminate().await?;
    Ok(())
}

/// `true` when something accepts TCP connections on `ip:port`.
fn listening(ip: &str, port: u16) -> bool {
    let addr = std::net::SocketAddr::new(ip.parse().expect("an IP"), port);
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

#[tokio::test]
async fn without_a_token_grpc_listens_on_loopback_only_and_every_start_says_so()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (report_port, agent_port) = (free_port(), free_port());
    let report_addr = format!("0.0.0.0:{report_port}");
    let scheduler = SchedulerProcess::spawn_with(
        &env.etcd,
        &env.prefix,
        &env.db_url,
        &env.path("logs"),
        &[
            ("CRONY_CLUSTER_TOKEN", ""),
            ("CRONY_INSECURE_NO_CLUSTER_TOKEN", "true"),
            ("CRONY_GRPC_ADDR", &report_addr),
        ],
    )?;
    let mut agent = AgentProcess::spawn(
        env.agent_spec("agent")
            .ttl(2)
            .env("CRONY_CLUSTER_TOKEN", "")
            .env("CRONY_INSECURE_NO_CLUSTER_TOKEN", "true")
            .env("CRONY_AGENT_GRPC_ADDR", &format!("0.0.0.0:{agent_port}")),
    )?;
    agent.id().await?;
    common::online(&scheduler.base_url, 1)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; scheduler log: {}", scheduler.log()))?;

    // Both announce loopback, and listen there only although 0.0.0.0 was asked for.
    let record = common::etcd_record(&env, "agents").await?;
    assert_eq!(record["grpc_addr"], format!("127.0.0.1:{agent_port}"));
    let record = common::etcd_record(&env, "schedulers").await?;
    assert_eq!(
        record["grpc_url"],
        format!("http://127.0.0.1:{report_port}")
    );
    for port in [agent_port, report_port] {
        assert!(listening("127.0.0.1", port), "nothing on 127.0.0.1:{port}");
        // Another address of this machine (127.0.0.2 is one, on lo) finds nothing.
        assert!(
            !listening("127.0.0.2", port),
            "port {port} is not loopback-only"
        );
    }
    for (log, service, port) in [
        (agent.log(), "AgentService", agent_port),
        (scheduler.log(), "ReportService", report_port),
    ] {
        assert!(
            log.contains(&format!(
                "INSECURE: running without a cluster token (--insecure-no-cluster-token): {service}"
            )) && log.contains(&format!("instead of the configured 0.0.0.0:{port}")),
            "no warning in the log: {log}"
        );
    }

    // On one machine the pair works: the job runs and is recorded.
    let job = real_job(&scheduler.base_url, "local", &env.path("ran")).await?;
    let runs = recorded(&env, &job, 1)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; agent log: {}", agent.log()))?;
    // No report tokens exist without a secret: an async result is refused, saying why.
    let answer = reqwest::Client::new()
        .post(scheduler.url(&format!("/api/v1/executions/{}/result", runs[0])))
        .bearer_auth("0".repeat(64))
        .json(&json!({"status": "succeeded"}))
        .send()
        .await?;
    assert_eq!(answer.status().as_u16(), 403);
    let body: serde_json::Value = answer.json().await?;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("need a cluster credential"), "{body}");
    agent.terminate().await?;
    Ok(())
}
