//! Issue 14 on real processes: an agent whose lease is lost while it runs registers again and is
//! synced again (its jobs keep firing); etcd rebuilt empty still yields a leader whose pushes
//! agents accept (the term comes from MySQL); 30,000 jobs on one agent are all held.

mod common;

use std::time::Duration;

use common::{agent_grpc_addr, create_job, held_by_agent};
use crony_tests::{
    AgentProcess, Etcd, HttpSink, SchedulerProcess, TestEnv, TestScheduler, shared_mariadb,
    wait_until,
};
use serde_json::{Value, json};

fn every_second(name: &str, sink: &HttpSink) -> Value {
    json!({
        "name": name,
        "schedule": "* * * * * *",
        "target": {"kind": "http", "url": sink.url(&format!("/{name}"))},
    })
}

/// Waits until the sink has seen `name` fire at an instant after `after`.
async fn fires_after(
    sink: &HttpSink,
    name: &str,
    after: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    wait_until(
        &format!("{name} fires after {after}"),
        Duration::from_secs(20),
        || async {
            let newer = sink.calls_to(&format!("/{name}")).iter().any(|c| {
                chrono::DateTime::parse_from_rfc3339(&c.header("x-crony-scheduled-at"))
                    .is_ok_and(|t| t > after)
            });
            Ok(newer.then_some(()))
        },
    )
    .await
}

/// The lease the agent's record is under now (0: no record).
async fn agent_lease(etcd: &mut etcd_client::Client, prefix: &str) -> Result<i64, String> {
    let options = etcd_client::GetOptions::new().with_prefix();
    let dir = format!("{prefix}/agents/");
    let found = etcd
        .get(dir.as_str(), Some(options))
        .await
        .map_err(|e| e.to_string())?;
    Ok(found.kvs().first().map(|kv| kv.lease()).unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_registers_again_in_process_is_synced_again() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    // A leader in its own process, frozen while the agent registers again, so it cannot see
    // the record leave and come back: only the record's lease id tells it.
    let s = SchedulerProcess::spawn_with(
        &env.etcd,
        &env.prefix,
        &env.db_url,
        &env.path("logs"),
        &[("CRONY_ELECTION_TTL_SECS", "10")],
    )?;
    let mut agent = AgentProcess::spawn(env.agent_spec("agent").ttl(2))?;
    agent.id().await?;
    common::online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    create_job(&s.base_url, &every_second("tick", &sink))
        .await
        .map_err(anyhow::Error::msg)?;
    fires_after(&sink, "tick", chrono::Utc::now()).await?;

    // Revoke the agent's lease behind its back: it finds the lease gone, registers again under
    // a new one in the same process, and un-arms its jobs until the leader syncs it.
    let mut etcd = etcd_client::Client::connect([env.etcd.as_str()], None).await?;
    let lease = agent_lease(&mut etcd, &env.prefix)
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(lease != 0, "the agent's record is under no lease");
    s.freeze();
    etcd.lease_revoke(lease).await?;
    let revoked = chrono::Utc::now();
    let again = wait_until("the agent registered again", Duration::from_secs(5), || {
        let mut etcd = etcd.clone();
        let prefix = env.prefix.clone();
        async move {
            let now = agent_lease(&mut etcd, &prefix).await?;
            Ok((now != 0 && now != lease).then_some(()))
        }
    })
    .await;
    s.thaw();
    again?;
    fires_after(&sink, "tick", revoked + chrono::Duration::seconds(3)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_rebuilt_empty_still_gives_a_leader_whose_pushes_agents_accept() -> anyhow::Result<()>
{
    let etcd = Etcd::start()?;
    let env = TestEnv::on(&etcd, shared_mariadb());
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.election_ttl = Duration::from_secs(2);
    })
    .await?;
    let mut agent = AgentProcess::spawn(env.agent_spec("agent").ttl(2))?;
    agent.id().await?;
    common::online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    create_job(&s.base_url, &every_second("before", &sink))
        .await
        .map_err(anyhow::Error::msg)?;
    fires_after(&sink, "before", chrono::Utc::now()).await?;

    // Rebuilt as a brand-new cluster: revisions start again from 1.
    etcd.restart(true)?;
    let rebuilt = chrono::Utc::now();
    // A job created now only fires if the agent accepted the new leader's push.
    create_job(&s.base_url, &every_second("after", &sink))
        .await
        .map_err(anyhow::Error::msg)?;
    fires_after(&sink, "after", rebuilt).await?;
    fires_after(&sink, "before", rebuilt + chrono::Duration::seconds(2)).await?;
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_thousand_jobs_on_one_agent_are_all_held_and_fire() -> anyhow::Result<()> {
    const JOBS: usize = 30_000;
    let env = TestEnv::shared();
    let (s, _agent) = common::scheduler_and_agent(&env).await?;
    let sink = HttpSink::start().await?;
    // Realistic specs (a header, a body) so the set is well past the old 4 MiB message limit.
    let body = |i: usize| {
        json!({
            "name": format!("bulk-{i:05}"),
            "schedule": "0 0 3 * * *",
            "target": {"kind": "http", "url": sink.url("/bulk"),
                       "headers": {"x-team": "payments"}, "body": "x".repeat(200)},
            "description": "a nightly job among many",
        })
    };
    let client = crony_tests::api_client();
    let url = s.url("/api/v1/jobs");
    let mut next = 0;
    while next < JOBS {
        let mut batch = tokio::task::JoinSet::new();
        for i in next..(next + 16).min(JOBS) {
            batch.spawn(client.post(&url).json(&body(i)).send());
        }
        while let Some(response) = batch.join_next().await {
            let response = response??;
            anyhow::ensure!(response.status() == 201, "{}", response.text().await?);
        }
        next += 16;
    }
    // The last jobs fire every second: a set this large is armed, not merely stored.
    for name in ["last-1", "last-2"] {
        create_job(&s.base_url, &every_second(name, &sink))
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let addr = agent_grpc_addr(&s.base_url).await?;
    wait_until(
        "the agent holds every job",
        Duration::from_secs(120),
        || async {
            let held = held_by_agent(&addr).await?;
            if held.len() == JOBS + 2 {
                Ok(Some(()))
            } else {
                Err(format!("holds {} of {}", held.len(), JOBS + 2))
            }
        },
    )
    .await?;
    for name in ["last-1", "last-2"] {
        fires_after(&sink, name, chrono::Utc::now()).await?;
    }
    s.stop().await;
    Ok(())
}
