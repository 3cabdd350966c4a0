//! Issue 2 scenarios on real etcd and MariaDB: agents register, leave (crash and graceful),
//! survive an etcd restart, keep their id; the scheduler's readiness follows MySQL.

mod common;

use std::time::{Duration, Instant};

use common::{agent_ids, agent_keys_in_etcd, agent_state_in_mysql, get_json, sorted};
use crony_tests::{
    AgentProcess, Etcd, MariaDb, TestEnv, TestScheduler, shared_etcd, shared_mariadb, wait_until,
};

async fn wait_online(s: &TestScheduler, want: &[String], within: Duration) -> anyhow::Result<()> {
    let want = sorted(want.to_vec());
    wait_until(
        &format!("API lists exactly {want:?} online"),
        within,
        || {
            let want = want.clone();
            async move {
                let ids = agent_ids(&s.base_url, "online").await?;
                if ids == want {
                    Ok(Some(()))
                } else {
                    Err(format!("online: {ids:?}"))
                }
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_register_and_appear_in_the_api_within_a_second() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let scheduler = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut a = AgentProcess::spawn(env.agent_spec("a").env("CRONY_AGENT_WEIGHT", "3"))?;
    let mut b = AgentProcess::spawn(
        env.agent_spec("b")
            .env("CRONY_AGENT_LABELS", "zone=b,tier=batch"),
    )?;
    let ids = sorted(vec![a.id().await?, b.id().await?]);

    wait_until(
        "both agents registered in etcd",
        Duration::from_secs(15),
        || {
            let (endpoint, prefix, ids) = (env.etcd.clone(), env.prefix.clone(), ids.clone());
            async move { Ok((agent_keys_in_etcd(&endpoint, &prefix).await? == ids).then_some(())) }
        },
    )
    .await?;
    wait_online(&scheduler, &ids, Duration::from_secs(1)).await?;

    // The single-agent view carries what the agent published.
    let (status, agent) = get_json(&scheduler.url(&format!("/api/v1/agents/{}", b.id().await?)))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 200);
    assert_eq!(agent["state"], "online");
    assert_eq!(agent["labels"]["zone"], "b");
    assert_eq!(agent["labels"]["tier"], "batch");
    assert!(
        agent["grpc_addr"]
            .as_str()
            .unwrap_or_default()
            .starts_with("127.0.0.1:")
    );
    let (_, heavy) = get_json(&scheduler.url(&format!("/api/v1/agents/{}", a.id().await?)))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(heavy["weight"], 3);

    // MySQL records both as online.
    for id in &ids {
        wait_until(
            "MySQL records the agent online",
            Duration::from_secs(5),
            || async {
                Ok(
                    (agent_state_in_mysql(&env.db_url, id).await?.as_deref() == Some("online"))
                        .then_some(()),
                )
            },
        )
        .await?;
    }

    // Unknown agents are a 404 with the error shape of the API; bad filters a 400 naming the field.
    let (status, body) = get_json(&scheduler.url("/api/v1/agents/nope"))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = get_json(&scheduler.url("/api/v1/agents?state=sleepy"))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "state");

    // Prometheus text: the live agents and the process metrics.
    let metrics = crony_tests::api_client()
        .get(scheduler.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("crony_live_agents 2"), "{metrics}");
    assert!(
        metrics.contains("process_resident_memory_bytes"),
        "{metrics}"
    );

    let (status, _) = get_json(&scheduler.url("/healthz"))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 200);
    scheduler.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_agent_is_offline_within_ttl_plus_one_second() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let scheduler = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let ttl = 2;
    let mut victim = AgentProcess::spawn(env.agent_spec("victim").ttl(ttl))?;
    let mut survivor = AgentProcess::spawn(env.agent_spec("survivor").ttl(ttl))?;
    let (victim_id, survivor_id) = (victim.id().await?, survivor.id().await?);
    wait_online(
        &scheduler,
        &[victim_id.clone(), survivor_id.clone()],
        Duration::from_secs(15),
    )
    .await?;

    victim.kill();
    let killed = Instant::now();
    wait_online(
        &scheduler,
        std::slice::from_ref(&survivor_id),
        Duration::from_secs(ttl + 1),
    )
    .await?;
    let gone_after = killed.elapsed();
    wait_until(
        "MySQL marks the killed agent offline",
        Duration::from_secs(2),
        || async {
            Ok((agent_state_in_mysql(&env.db_url, &victim_id)
                .await?
                .as_deref()
                == Some("offline"))
            .then_some(()))
        },
    )
    .await?;
    // It stays in the history, offline.
    assert_eq!(
        agent_ids(&scheduler.base_url, "offline")
            .await
            .map_err(anyhow::Error::msg)?,
        vec![victim_id]
    );
    eprintln!("SIGKILLed agent left the live set after {gone_after:?} (TTL {ttl} s)");
    scheduler.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gracefully_stopped_agent_disappears_at_once() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let scheduler = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    // A long TTL: only the revoked lease can explain a quick disappearance.
    let mut agent = AgentProcess::spawn(env.agent_spec("a").ttl(30))?;
    let id = agent.id().await?;
    wait_online(
        &scheduler,
        std::slice::from_ref(&id),
        Duration::from_secs(15),
    )
    .await?;

    let status = agent.terminate().await?;
    assert!(
        status.success(),
        "agent exit status {status}; log: {}",
        agent.log()
    );
    assert!(
        agent.log().contains("lease revoked"),
        "log: {}",
        agent.log()
    );
    wait_online(&scheduler, &[], Duration::from_secs(1)).await?;
    wait_until(
        "MySQL marks the stopped agent offline",
        Duration::from_secs(2),
        || async {
            Ok(
                (agent_state_in_mysql(&env.db_url, &id).await?.as_deref() == Some("offline"))
                    .then_some(()),
            )
        },
    )
    .await?;
    scheduler.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_and_scheduler_recover_from_an_etcd_restart() -> anyhow::Result<()> {
    // Its own etcd: this test kills it.
    let etcd = Etcd::start()?;
    let env = TestEnv::on(&etcd, shared_mariadb());
    let scheduler = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut a = AgentProcess::spawn(env.agent_spec("a").ttl(2))?;
    let mut b = AgentProcess::spawn(env.agent_spec("b").ttl(2))?;
    let a_id = a.id().await?;
    let ids = sorted(vec![a_id.clone(), b.id().await?]);
    wait_online(&scheduler, &ids, Duration::from_secs(15)).await?;

    // A crash that loses everything: a brand-new etcd on the same port, with no keys, no
    // leases and revisions starting again from 1.
    etcd.restart(true)?;
    wait_until(
        "agents registered again in the new etcd",
        Duration::from_secs(20),
        || {
            let (endpoint, prefix, ids) = (env.etcd.clone(), env.prefix.clone(), ids.clone());
            async move { Ok((agent_keys_in_etcd(&endpoint, &prefix).await? == ids).then_some(())) }
        },
    )
    .await?;
    wait_online(&scheduler, &ids, Duration::from_secs(10)).await?;

    // The scheduler is watching the new etcd, not a stale view: joins and leaves still show.
    let mut c = AgentProcess::spawn(env.agent_spec("c").ttl(2))?;
    let c_id = c.id().await?;
    let mut all = ids.clone();
    all.push(c_id);
    wait_online(&scheduler, &all, Duration::from_secs(10)).await?;
    a.terminate().await?;
    let rest: Vec<String> = all.iter().filter(|id| **id != a_id).cloned().collect();
    wait_online(&scheduler, &rest, Duration::from_secs(5)).await?;

    let (status, ready) = get_json(&scheduler.url("/readyz"))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 200, "{ready}");
    scheduler.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_keeps_its_id() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let scheduler = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut first = AgentProcess::spawn(env.agent_spec("a"))?;
    let id = first.id().await?;
    wait_online(
        &scheduler,
        std::slice::from_ref(&id),
        Duration::from_secs(15),
    )
    .await?;
    first.terminate().await?;
    wait_online(&scheduler, &[], Duration::from_secs(5)).await?;

    let mut second = AgentProcess::spawn(env.agent_spec("a"))?;
    assert_eq!(second.id().await?, id);
    wait_online(
        &scheduler,
        std::slice::from_ref(&id),
        Duration::from_secs(15),
    )
    .await?;
    // One agent in the history, not two.
    assert_eq!(
        agent_ids(&scheduler.base_url, "offline")
            .await
            .map_err(anyhow::Error::msg)?,
        Vec::<String>::new()
    );
    scheduler.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_mysql_while_mariadb_is_down() -> anyhow::Result<()> {
    // Its own MariaDB: this test kills it.
    let db = MariaDb::start()?;
    let env = TestEnv::on(shared_etcd(), &db);
    let scheduler = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let readyz = scheduler.url("/readyz");
    let (status, body) = get_json(&readyz).await.map_err(anyhow::Error::msg)?;
    assert_eq!(status, 200, "{body}");

    db.kill();
    let body = wait_until(
        "readyz answers 503 naming mysql",
        Duration::from_secs(10),
        || async {
            let (status, body) = get_json(&readyz).await?;
            Ok((status == 503).then_some(body))
        },
    )
    .await?;
    assert_eq!(body["failing"], serde_json::json!(["mysql"]), "{body}");
    assert_eq!(body["checks"]["etcd"], "ok");
    // Anonymous callers learn only that it failed, never the driver's error text (which
    // names hosts, ports and users).
    let mysql = body["checks"]["mysql"].as_str().unwrap_or_default();
    assert!(["unreachable", "timeout"].contains(&mysql), "{body}");
    assert_eq!(
        body["checks"].as_object().map(|c| c.len()),
        Some(2),
        "{body}"
    );

    db.restart()?;
    wait_until(
        "readyz answers 200 again",
        Duration::from_secs(30),
        || async {
            let (status, body) = get_json(&readyz).await?;
            if status == 200 {
                Ok(Some(()))
            } else {
                Err(body.to_string())
            }
        },
    )
    .await?;
    scheduler.stop().await;
    Ok(())
}

/// Two agents on one host both defaulting to metrics port 9192: the second cannot bind it. It
/// must exit before registering, or the leader assigns it jobs that nobody fires for a lease.
#[tokio::test]
async fn an_agent_that_cannot_bind_its_metrics_port_never_registers() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let mut agent = AgentProcess::spawn(
        env.agent_spec("port-taken")
            .env("CRONY_AGENT_METRICS_ADDR", &addr),
    )?;
    let id = agent.id().await?;
    let status = agent.exited(Duration::from_secs(15)).await?;
    assert!(!status.success());
    assert!(
        agent.log().contains("CRONY_AGENT_METRICS_ADDR"),
        "the error names the setting: {}",
        agent.log()
    );
    let keys = agent_keys_in_etcd(&env.etcd, &env.prefix)
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(
        !keys.contains(&id),
        "the agent registered before it failed: {keys:?}"
    );
    Ok(())
}
