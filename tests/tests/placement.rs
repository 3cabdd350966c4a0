//! Issue 3 scenarios on real etcd and MariaDB: weighted round-robin and fewest-jobs placement,
//! pushes that make agents hold exactly what MySQL says, failover of a SIGKILLed agent's jobs,
//! pause/delete, and leader election with a killed leader.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::{agent_ids, assignments_in_mysql, held_by_agent};
use crony_tests::{
    AgentProcess, SchedulerProcess, TestEnv, TestScheduler, shared_mariadb, unique_name, wait_until,
};
use serde_json::{Value, json};

/// An agent with a 2 s lease, a weight, and its name as a label.
fn agent(env: &TestEnv, name: &str, weight: u32) -> anyhow::Result<AgentProcess> {
    let spec = env
        .agent_spec(name)
        .ttl(2)
        .env("CRONY_AGENT_WEIGHT", &weight.to_string())
        .env("CRONY_AGENT_LABELS", &format!("name={name}"));
    AgentProcess::spawn(spec)
}

/// Starts one agent per (name, weight); returns them with their ids once `online_total`
/// agents are online.
async fn start_agents(
    env: &TestEnv,
    base: &str,
    specs: &[(&str, u32)],
    online_total: usize,
) -> anyhow::Result<(Vec<AgentProcess>, Vec<String>)> {
    let mut agents = Vec::new();
    let mut ids = Vec::new();
    for (name, weight) in specs {
        let mut a = agent(env, name, *weight)?;
        ids.push(a.id().await?);
        agents.push(a);
    }
    online(base, online_total).await?;
    Ok((agents, ids))
}

/// Creates `n` jobs named `{prefix}-{i}` placed by `strategy`.
async fn create_jobs(base: &str, prefix: &str, n: usize, strategy: &str) -> anyhow::Result<()> {
    for i in 0..n {
        create(base, &job(&format!("{prefix}-{i}"), strategy)).await?;
    }
    Ok(())
}

fn job(name: &str, strategy: &str) -> Value {
    json!({
        "name": name,
        "schedule": "0 0 3 * * *",
        "target": {"kind": "http", "url": "http://127.0.0.1:9/run"},
        "placement": {"strategy": strategy},
    })
}

async fn create(base: &str, body: &Value) -> anyhow::Result<String> {
    let response = crony_tests::api_client()
        .post(format!("{base}/api/v1/jobs"))
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "create failed: {}",
        response.text().await?
    );
    let job: Value = response.json().await?;
    Ok(job["id"].as_str().unwrap_or_default().to_owned())
}

/// Waits until the API lists exactly `n` agents online.
async fn online(base: &str, n: usize) -> anyhow::Result<()> {
    wait_until(
        &format!("{n} agents online"),
        Duration::from_secs(15),
        || async move { Ok((agent_ids(base, "online").await?.len() == n).then_some(())) },
    )
    .await
}

/// Agent id → its gRPC address, from the API.
async fn agent_addrs(base: &str) -> Result<HashMap<String, String>, String> {
    let (_, body) = common::get_json(&format!("{base}/api/v1/agents?state=online")).await?;
    Ok(body["agents"]
        .as_array()
        .ok_or("no agents")?
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or_default().to_owned(),
                a["grpc_addr"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// Waits until every enabled job is assigned in MySQL to one of `agents` and each agent holds
/// exactly its jobs with the epochs MySQL has; returns the per-agent job counts.
async fn converged(
    base: &str,
    db_url: &str,
    agents: &[String],
    jobs: usize,
    within: Duration,
) -> anyhow::Result<BTreeMap<String, usize>> {
    wait_until(
        "MySQL and agents agree on every assignment",
        within,
        || async {
            let mysql = assignments_in_mysql(db_url).await?;
            if mysql.len() != jobs {
                return Err(format!("{} enabled jobs in MySQL", mysql.len()));
            }
            let addrs = agent_addrs(base).await?;
            let mut counts = BTreeMap::new();
            for agent in agents {
                let addr = addrs.get(agent).ok_or(format!("{agent} not online"))?;
                let held = held_by_agent(addr).await?;
                let expected: BTreeMap<String, u64> = mysql
                    .iter()
                    .filter(|(_, (a, _))| a.as_deref() == Some(agent.as_str()))
                    .map(|(id, (_, epoch))| (id.clone(), *epoch))
                    .collect();
                if held != expected {
                    return Err(format!(
                        "{agent} holds {} jobs, MySQL says {}",
                        held.len(),
                        expected.len()
                    ));
                }
                counts.insert(agent.clone(), expected.len());
            }
            let assigned: usize = counts.values().sum();
            if assigned != jobs {
                return Err(format!("{assigned} of {jobs} jobs held by {agents:?}"));
            }
            Ok(Some(counts))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_places_300_jobs_by_weight_and_agents_hold_them() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let (_agents, ids) =
        start_agents(&env, &s.base_url, &[("w1", 1), ("w2", 2), ("w3", 3)], 3).await?;
    create_jobs(&s.base_url, "job", 300, "weighted_round_robin").await?;
    let counts = converged(&s.base_url, &env.db_url, &ids, 300, Duration::from_secs(30)).await?;
    for (id, want) in ids.iter().zip([50usize, 100, 150]) {
        let got = counts[id];
        assert!(
            got.abs_diff(want) <= 1,
            "agent {id}: {got} jobs, want {want}±1 ({counts:?})"
        );
    }
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewest_jobs_fills_the_least_loaded_agent() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let (_agents, ids) = start_agents(&env, &s.base_url, &[("a", 1), ("b", 1)], 2).await?;
    let (a_id, b_id) = (ids[0].clone(), ids[1].clone());
    create_jobs(&s.base_url, "first", 20, "fewest_jobs").await?;
    let counts = converged(
        &s.base_url,
        &env.db_url,
        &[a_id.clone(), b_id.clone()],
        20,
        Duration::from_secs(20),
    )
    .await?;
    assert_eq!((counts[&a_id], counts[&b_id]), (10, 10), "{counts:?}");

    // A new, empty agent: existing jobs stay put, new ones go to it until it catches up.
    let (_c, c_ids) = start_agents(&env, &s.base_url, &[("c", 1)], 3).await?;
    let c_id = c_ids[0].clone();
    create_jobs(&s.base_url, "second", 10, "fewest_jobs").await?;
    let all = [a_id.clone(), b_id.clone(), c_id.clone()];
    let counts = converged(&s.base_url, &env.db_url, &all, 30, Duration::from_secs(20)).await?;
    assert_eq!(
        (counts[&a_id], counts[&b_id], counts[&c_id]),
        (10, 10, 10),
        "{counts:?}"
    );
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_agents_jobs_are_held_by_survivors_within_ttl_plus_one_second()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let (mut agents, ids) =
        start_agents(&env, &s.base_url, &[("a", 1), ("b", 1), ("c", 1)], 3).await?;
    create_jobs(&s.base_url, "job", 90, "weighted_round_robin").await?;
    converged(&s.base_url, &env.db_url, &ids, 90, Duration::from_secs(20)).await?;
    let before = assignments_in_mysql(&env.db_url)
        .await
        .map_err(anyhow::Error::msg)?;

    agents[0].kill();
    let killed = Instant::now();
    let survivors = [ids[1].clone(), ids[2].clone()];
    let counts = converged(
        &s.base_url,
        &env.db_url,
        &survivors,
        90,
        Duration::from_secs(3),
    )
    .await?;
    eprintln!(
        "failover of 30 jobs held by survivors {:?} after kill: {counts:?}",
        killed.elapsed()
    );
    // Every moved job got a new epoch; the others kept theirs.
    let after = assignments_in_mysql(&env.db_url)
        .await
        .map_err(anyhow::Error::msg)?;
    for (job, (agent, epoch)) in &before {
        let (new_agent, new_epoch) = &after[job];
        if agent.as_deref() == Some(ids[0].as_str()) {
            assert_eq!(*new_epoch, epoch + 1, "{job} moved from the dead agent");
            assert_ne!(new_agent, agent);
        } else {
            assert_eq!(
                (new_agent, new_epoch),
                (agent, epoch),
                "{job} should not move"
            );
        }
    }
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_delete_take_the_job_off_its_agent() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let (_agents, ids) = start_agents(&env, &s.base_url, &[("a", 1)], 1).await?;
    let a_id = ids[0].clone();
    let paused = create(&s.base_url, &job("to-pause", "fewest_jobs")).await?;
    let deleted = create(&s.base_url, &job("to-delete", "fewest_jobs")).await?;
    converged(
        &s.base_url,
        &env.db_url,
        std::slice::from_ref(&a_id),
        2,
        Duration::from_secs(10),
    )
    .await?;
    let addr = agent_addrs(&s.base_url).await.map_err(anyhow::Error::msg)?[&a_id].clone();

    let c = crony_tests::api_client();
    assert!(
        c.post(s.url(&format!("/api/v1/jobs/{paused}/pause")))
            .send()
            .await?
            .status()
            .is_success()
    );
    assert!(
        c.delete(s.url(&format!("/api/v1/jobs/{deleted}")))
            .send()
            .await?
            .status()
            .is_success()
    );
    wait_until(
        "agent holds neither job",
        Duration::from_secs(5),
        || async {
            let held = held_by_agent(&addr).await?;
            if held.is_empty() {
                Ok(Some(()))
            } else {
                Err(format!("holds {held:?}"))
            }
        },
    )
    .await?;
    // Resumed: held again, with a new epoch.
    assert!(
        c.post(s.url(&format!("/api/v1/jobs/{paused}/resume")))
            .send()
            .await?
            .status()
            .is_success()
    );
    wait_until("resumed job held again", Duration::from_secs(5), || async {
        let held = held_by_agent(&addr).await?;
        if held.get(&paused) == Some(&2) {
            Ok(Some(()))
        } else {
            Err(format!("holds {held:?}"))
        }
    })
    .await?;
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_and_placement_continues() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let logs = env.dir.path().join("logs");
    let mut first = SchedulerProcess::spawn(&env.etcd, &env.prefix, &env.db_url, &logs)?;
    let mut second = SchedulerProcess::spawn(&env.etcd, &env.prefix, &env.db_url, &logs)?;
    let mut a = agent(&env, "a", 1)?;
    let a_id = a.id().await?;

    // Exactly one leader.
    let elected = wait_until("one leader elected", Duration::from_secs(20), || async {
        let (one, t1) = common::is_leader(&first.base_url).await?;
        let (two, t2) = common::is_leader(&second.base_url).await?;
        match (one, two) {
            (true, false) => Ok(Some((true, t1))),
            (false, true) => Ok(Some((false, t2))),
            (true, true) => Err("both claim to lead".into()),
            _ => Err("no leader yet".into()),
        }
    })
    .await;
    let (leader_is_first, term) =
        elected.map_err(|e| e.context(format!("logs: {} | {}", first.log(), second.log())))?;
    let (leader, follower) = if leader_is_first {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    let follower_url = follower.base_url.clone();
    // Jobs created through the follower's API are placed by the leader.
    create(&follower_url, &job("before", "fewest_jobs")).await?;
    converged(
        &follower_url,
        &env.db_url,
        std::slice::from_ref(&a_id),
        1,
        Duration::from_secs(10),
    )
    .await?;

    leader.kill();
    let killed = Instant::now();
    let new_term = wait_until(
        "the follower takes over within election TTL + 1 s",
        Duration::from_secs(3),
        || async {
            let (leads, t) = common::is_leader(&follower_url).await?;
            Ok(leads.then_some(t))
        },
    )
    .await?;
    eprintln!(
        "takeover {:?} after the leader was killed",
        killed.elapsed()
    );
    assert!(new_term > term, "terms increase: {term} then {new_term}");
    create(&follower_url, &job("after", "fewest_jobs")).await?;
    converged(
        &follower_url,
        &env.db_url,
        std::slice::from_ref(&a_id),
        2,
        Duration::from_secs(10),
    )
    .await?;
    let _ = follower.log();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_cannot_write_assignments() -> anyhow::Result<()> {
    use crony_scheduler::store::StoreError;
    use crony_scheduler::store::assignments::{Assignment, AssignmentStore};
    use crony_scheduler::store::mysql::MySqlStore;
    let url = shared_mariadb().url(&unique_name("crony"));
    let store = MySqlStore::connect(
        &crony_scheduler::config::parse_database_url(&url).map_err(anyhow::Error::msg)?,
    )
    .await?;
    let old = store.claim_next_term().await?;
    let new = store.claim_next_term().await?;
    assert!(new > old, "each leader's term is above every earlier one");
    let change = [Assignment {
        job_id: "j".into(),
        agent_id: Some("a".into()),
        epoch: 1,
        fired_through: None,
    }];
    match store.apply_assignments(old, &change).await {
        Err(StoreError::Deposed { mine, current }) if mine == old && current == new => {}
        other => panic!("old term wrote assignments: {other:?}"),
    }
    store.apply_assignments(new, &change).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_an_agent_moves_its_jobs_and_weight_overrides_steer_new_ones() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let (_agents, ids) = start_agents(&env, &s.base_url, &[("a", 1), ("b", 1)], 2).await?;
    let (a_id, b_id) = (ids[0].clone(), ids[1].clone());
    create_jobs(&s.base_url, "job", 10, "weighted_round_robin").await?;
    let both = [a_id.clone(), b_id.clone()];
    converged(&s.base_url, &env.db_url, &both, 10, Duration::from_secs(10)).await?;

    let c = crony_tests::api_client();
    let patch = |body: Value, id: &str| {
        c.patch(s.url(&format!("/api/v1/agents/{id}")))
            .json(&body)
            .send()
    };
    let drained: Value = patch(json!({"drained": true}), &a_id).await?.json().await?;
    assert_eq!(drained["drained"], true, "{drained}");
    let counts = converged(&s.base_url, &env.db_url, &both, 10, Duration::from_secs(5)).await?;
    assert_eq!(
        (counts[&a_id], counts[&b_id]),
        (0, 10),
        "a drained agent holds nothing"
    );

    let back: Value = patch(json!({"drained": false, "weight": 3}), &a_id)
        .await?
        .json()
        .await?;
    assert_eq!(
        (back["drained"].clone(), back["weight_override"].clone()),
        (json!(false), json!(3))
    );
    create_jobs(&s.base_url, "new", 8, "weighted_round_robin").await?;
    let counts = converged(&s.base_url, &env.db_url, &both, 18, Duration::from_secs(10)).await?;
    assert!(
        counts[&a_id] >= 5,
        "weight 3 against 1 should take most new jobs: {counts:?}"
    );

    // Bad patches name the problem; unknown agents are a 404.
    let response = patch(json!({"weight": 0}), &a_id).await?;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await?["error"]["field"], "weight");
    let response = patch(json!({"colour": "red"}), &a_id).await?;
    assert_eq!(response.json::<Value>().await?["error"]["field"], "colour");
    assert_eq!(
        patch(json!({"drained": true}), "nobody").await?.status(),
        404
    );
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_is_synced_to_what_it_should_hold_now() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    // Without rebalancing, so that what the returning agent should hold is nothing (with it,
    // it gets its share back: `moves.rs`).
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.rebalance = false;
    })
    .await?;
    let (mut agents, ids) = start_agents(&env, &s.base_url, &[("a", 1), ("b", 1)], 2).await?;
    let (a_id, b_id) = (ids[0].clone(), ids[1].clone());
    create_jobs(&s.base_url, "job", 10, "weighted_round_robin").await?;
    let both = [a_id.clone(), b_id.clone()];
    converged(&s.base_url, &env.db_url, &both, 10, Duration::from_secs(10)).await?;

    // `a` leaves; its jobs move to `b`. Its data dir still lists the five it held.
    agents[0].terminate().await?;
    converged(
        &s.base_url,
        &env.db_url,
        std::slice::from_ref(&b_id),
        10,
        Duration::from_secs(5),
    )
    .await?;
    // Back with the same id: it must be told it now holds nothing, not keep firing stale jobs.
    let mut again = agent(&env, "a", 1)?;
    assert_eq!(again.id().await?, a_id);
    let counts = converged(&s.base_url, &env.db_url, &both, 10, Duration::from_secs(10)).await?;
    assert_eq!((counts[&a_id], counts[&b_id]), (0, 10), "{counts:?}");
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_resyncs_every_agent_without_moving_jobs() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let first = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let (_agents, ids) = start_agents(&env, &first.base_url, &[("a", 1)], 1).await?;
    let a_id = ids[0].clone();
    create_jobs(&first.base_url, "job", 5, "fewest_jobs").await?;
    converged(
        &first.base_url,
        &env.db_url,
        std::slice::from_ref(&a_id),
        5,
        Duration::from_secs(10),
    )
    .await?;
    let before = assignments_in_mysql(&env.db_url)
        .await
        .map_err(anyhow::Error::msg)?;
    let addr = agent_addrs(&first.base_url)
        .await
        .map_err(anyhow::Error::msg)?[&a_id]
        .clone();
    let generation = |addr: String| async move {
        use crony_proto::v1::ListHeldRequest;
        let mut client = crony_tests::grpc::agent_client(&addr)?;
        anyhow::Ok(
            client
                .list_held(ListHeldRequest {})
                .await?
                .into_inner()
                .generation,
        )
    };
    let old_generation = generation(addr.clone()).await?;

    first.stop().await;
    let second = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    wait_until(
        "the new leader synced the agent",
        Duration::from_secs(10),
        || {
            let addr = addr.clone();
            async move {
                let now = generation(addr).await.map_err(|e| e.to_string())?;
                Ok((now != old_generation).then_some(()))
            }
        },
    )
    .await?;
    converged(
        &second.base_url,
        &env.db_url,
        std::slice::from_ref(&a_id),
        5,
        Duration::from_secs(5),
    )
    .await?;
    assert_eq!(
        assignments_in_mysql(&env.db_url)
            .await
            .map_err(anyhow::Error::msg)?,
        before,
        "nothing moved"
    );
    second.stop().await;
    Ok(())
}
