//! The agent's data dir on a real, full disk (a small tmpfs): a fire whose start cannot be
//! recorded is not run, and a write the full disk cut in half does not cost the good records
//! written after it when the agent starts again.

mod common;

use std::time::Duration;

use common::{create_job, every_call_recorded_once, online};
use crony_tests::disk::SmallDisk;
use crony_tests::{AgentProcess, HttpSink, TestEnv, TestScheduler, wait_until};
use serde_json::json;

/// Calls the service got for `path`, at least `n` of them.
async fn calls_reach(sink: &HttpSink, path: &str, n: usize, what: &str) -> anyhow::Result<()> {
    wait_until(what, Duration::from_secs(20), || async {
        Ok((sink.calls_to(path).len() >= n).then_some(()))
    })
    .await
}

#[tokio::test]
async fn a_full_disk_runs_nothing_it_cannot_record_and_loses_no_record_after_it()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let disk = SmallDisk::mount(&env.path("disk"), 1024 * 1024)?;
    // The log and id stay off the small disk; only the data (spool, held jobs) is on it.
    let spec = env
        .agent_spec("agent")
        .env("CRONY_AGENT_ID", "agent-on-a-small-disk")
        .env("CRONY_AGENT_DATA_DIR", &disk.path().display().to_string());
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut agent = AgentProcess::spawn(spec.clone())?;
    online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    let job = create_job(
        &s.base_url,
        &json!({"name": "every-second", "schedule": "* * * * * *", "misfire": "skip",
                "target": {"kind": "http", "method": "POST", "url": sink.url("/tick")}}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    calls_reach(&sink, "/tick", 2, "the job runs").await?;

    // From here reports stay in the spool: no scheduler takes them.
    s.stop().await;
    disk.fill()?;
    wait_until(
        "the spool fails to write",
        Duration::from_secs(20),
        || async { Ok(agent.log().contains("spool write failed").then_some(())) },
    )
    .await?;
    // Three instants on the full disk: nothing may reach the service unrecorded.
    let during = sink.calls_to("/tick").len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let called_while_full = sink.calls_to("/tick").len() - during;
    disk.free()?;
    let after = sink.calls_to("/tick").len();
    calls_reach(
        &sink,
        "/tick",
        after + 3,
        "the job runs again on a freed disk",
    )
    .await?;

    // The agent dies with those runs unreported, and starts again from its spool.
    agent.kill();
    let _agent = AgentProcess::spawn(spec)?;
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let calls = every_call_recorded_once(&env.db_url, &sink, &job, "/tick").await?;
    assert!(calls > 5, "{calls} calls");
    assert!(
        called_while_full <= 1,
        "{called_while_full} calls while the spool could not record a start"
    );
    s.stop().await;
    Ok(())
}
