//! Issue 14 on real etcd, MariaDB, scheduler and agent processes: jobs moved between live
//! agents — drain, undrain, label change, pin, weight change, an agent joining — fire every
//! instant exactly once at a real HTTP sink, under both misfire policies (two-phase moves).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{assignments_in_mysql, create_job};
use crony_tests::{AgentProcess, HttpSink, TestEnv, TestScheduler, wait_until};
use serde_json::{Value, json};

/// An agent with a 2 s lease and its name as the label `name`.
fn agent(env: &TestEnv, name: &str) -> anyhow::Result<AgentProcess> {
    AgentProcess::spawn(
        env.agent_spec(name)
            .ttl(2)
            .env("CRONY_AGENT_LABELS", &format!("name={name}")),
    )
}

fn every_second(name: &str, sink: &HttpSink, misfire: &str, placement: Value) -> Value {
    json!({
        "name": name,
        "schedule": "* * * * * *",
        "target": {"kind": "http", "url": sink.url(&format!("/{name}"))},
        "misfire": misfire,
        "placement": placement,
    })
}

/// The scheduled instants the sink received for `name`, in arrival order.
fn instants(sink: &HttpSink, name: &str) -> Vec<String> {
    sink.calls_to(&format!("/{name}"))
        .iter()
        .map(|c| c.header("x-crony-scheduled-at"))
        .collect()
}

/// Fails if any instant arrived twice or one is missing between the first and the last.
fn exactly_once(sink: &HttpSink, name: &str) -> anyhow::Result<usize> {
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for at in instants(sink, name) {
        let t = chrono::DateTime::parse_from_rfc3339(&at)?.timestamp();
        *seen.entry(t).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    anyhow::ensure!(twice.is_empty(), "{name}: instants fired twice: {twice:?}");
    let (Some(first), Some(last)) = (seen.keys().next(), seen.keys().last()) else {
        anyhow::bail!("{name} never fired");
    };
    let missing: Vec<i64> = (*first..=*last).filter(|t| !seen.contains_key(t)).collect();
    anyhow::ensure!(
        missing.is_empty(),
        "{name}: instants never fired: {missing:?}"
    );
    Ok(seen.len())
}

/// Waits until every job in `names` fired `more` further times at the sink.
async fn fires_on(sink: &HttpSink, names: &[String], more: usize) -> anyhow::Result<()> {
    let start: Vec<usize> = names.iter().map(|n| instants(sink, n).len()).collect();
    wait_until(
        &format!("{more} more fires of each job"),
        Duration::from_secs(15),
        || async {
            let behind: Vec<&String> = names
                .iter()
                .zip(&start)
                .filter(|(n, s)| instants(sink, n).len() < *s + more)
                .map(|(n, _)| n)
                .collect();
            Ok(behind.is_empty().then_some(()))
        },
    )
    .await
}

/// Waits until MySQL has `job` on `agent` and returns its epoch.
async fn owned_by(db: &str, job: &str, agent: &str) -> anyhow::Result<u64> {
    wait_until(
        &format!("{job} on {agent}"),
        Duration::from_secs(15),
        || async {
            let all = assignments_in_mysql(db).await?;
            Ok(match all.get(job) {
                Some((Some(a), epoch)) if a == agent => Some(*epoch),
                _ => None,
            })
        },
    )
    .await
}

async fn patch_agent(s: &TestScheduler, id: &str, body: Value) -> anyhow::Result<()> {
    let response = crony_tests::api_client()
        .patch(s.url(&format!("/api/v1/agents/{id}")))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "{}", response.text().await?);
    Ok(())
}

async fn replace_job(s: &TestScheduler, id: &str, body: &Value) -> anyhow::Result<()> {
    let response = crony_tests::api_client()
        .put(s.url(&format!("/api/v1/jobs/{id}")))
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "{}", response.text().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_labels_pin_and_undrain_move_jobs_without_a_double_or_a_gap() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.rebalance = false; // only the operator's changes move jobs here
    })
    .await?;
    let sink = HttpSink::start().await?;
    let mut a = agent(&env, "a")?;
    let mut b = agent(&env, "b")?;
    let (a_id, b_id) = (a.id().await?, b.id().await?);
    common::online(&s.base_url, 2).await?;
    // Both policies, all pinned by label to `a` to start with.
    let names: Vec<String> = ["skip-1", "skip-2", "once-1", "once-2"]
        .iter()
        .map(|n| n.to_string())
        .collect();
    let on_a = json!({"labels": {"name": "a"}});
    let mut ids = Vec::new();
    for name in &names {
        let misfire = if name.starts_with("skip") {
            "skip"
        } else {
            "fire_once"
        };
        let body = every_second(name, &sink, misfire, on_a.clone());
        ids.push(
            create_job(&s.base_url, &body)
                .await
                .map_err(anyhow::Error::msg)?,
        );
    }
    for id in &ids {
        owned_by(&env.db_url, id, &a_id).await?;
    }
    fires_on(&sink, &names, 2).await?;

    // Labels: to `b`.
    for (id, name) in ids.iter().zip(&names) {
        let misfire = if name.starts_with("skip") {
            "skip"
        } else {
            "fire_once"
        };
        let body = every_second(name, &sink, misfire, json!({"labels": {}}));
        replace_job(&s, id, &body).await?;
    }
    // Drain `a`: whatever is still there moves to `b`.
    patch_agent(&s, &a_id, json!({"drained": true})).await?;
    for id in &ids {
        owned_by(&env.db_url, id, &b_id).await?;
    }
    fires_on(&sink, &names, 3).await?;
    // Undrain, then pin every job to `a`: each moves back.
    patch_agent(&s, &a_id, json!({"drained": false})).await?;
    for (id, name) in ids.iter().zip(&names) {
        let misfire = if name.starts_with("skip") {
            "skip"
        } else {
            "fire_once"
        };
        let body = every_second(name, &sink, misfire, json!({"agent_id": a_id}));
        replace_job(&s, id, &body).await?;
    }
    for id in &ids {
        owned_by(&env.db_url, id, &a_id).await?;
    }
    fires_on(&sink, &names, 3).await?;
    // Pinned to `b` now.
    for (id, name) in ids.iter().zip(&names) {
        let misfire = if name.starts_with("skip") {
            "skip"
        } else {
            "fire_once"
        };
        let body = every_second(name, &sink, misfire, json!({"agent_id": b_id}));
        replace_job(&s, id, &body).await?;
    }
    for id in &ids {
        owned_by(&env.db_url, id, &b_id).await?;
    }
    fires_on(&sink, &names, 3).await?;
    for name in &names {
        let n = exactly_once(&sink, name)?;
        assert!(n >= 10, "{name} fired {n} instants");
    }
    drop((a, b));
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_agent_receives_its_share_and_weights_move_jobs_without_a_double_or_a_gap()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let sink = HttpSink::start().await?;
    let mut a = agent(&env, "a")?;
    let a_id = a.id().await?;
    common::online(&s.base_url, 1).await?;
    let names: Vec<String> = (0..8)
        .map(|i| format!("{}-{i}", if i % 2 == 0 { "skip" } else { "once" }))
        .collect();
    for name in &names {
        let misfire = if name.starts_with("skip") {
            "skip"
        } else {
            "fire_once"
        };
        let body = every_second(name, &sink, misfire, json!({}));
        create_job(&s.base_url, &body)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    fires_on(&sink, &names, 2).await?;

    // `b` joins: with rebalancing on (the default) it takes half.
    let mut b = agent(&env, "b")?;
    let b_id = b.id().await?;
    let counts = |want_b: usize| {
        let db = env.db_url.clone();
        let b_id = b_id.clone();
        async move {
            wait_until(
                &format!("{want_b} of 8 jobs on the joined agent"),
                Duration::from_secs(20),
                || async {
                    let all = assignments_in_mysql(&db).await?;
                    let on_b = all
                        .values()
                        .filter(|(a, _)| a.as_deref() == Some(b_id.as_str()))
                        .count();
                    Ok((on_b == want_b).then_some(()))
                },
            )
            .await
        }
    };
    counts(4).await?;
    fires_on(&sink, &names, 3).await?;
    // Weight 3 for `b`: it takes three quarters.
    patch_agent(&s, &b_id, json!({"weight": 3})).await?;
    counts(6).await?;
    fires_on(&sink, &names, 3).await?;
    for name in &names {
        exactly_once(&sink, name)?;
    }
    let _ = &a_id;
    drop((a, b));
    s.stop().await;
    Ok(())
}

/// A job moved while its run is still going on the old owner: the new owner counts that run
/// for `overlap: skip` (until the bound the old owner answered: its timeout), so the user's
/// service never has two calls of the job open at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_moved_mid_run_does_not_start_beside_its_run_on_the_old_owner() -> anyhow::Result<()>
{
    const CALL: Duration = Duration::from_secs(4);
    let env = TestEnv::shared();
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.rebalance = false;
    })
    .await?;
    let sink = HttpSink::start().await?;
    sink.delay(CALL);
    let mut a = agent(&env, "a")?;
    let mut b = agent(&env, "b")?;
    let (a_id, b_id) = (a.id().await?, b.id().await?);
    common::online(&s.base_url, 2).await?;
    let mut body = every_second("long", &sink, "skip", json!({"labels": {"name": "a"}}));
    body["timeout_secs"] = json!(6);
    let id = create_job(&s.base_url, &body)
        .await
        .map_err(anyhow::Error::msg)?;
    owned_by(&env.db_url, &id, &a_id).await?;
    fires_on(&sink, &["long".to_owned()], 1).await?;
    // Mid-call on `a`: move the job to `b`.
    body["placement"] = json!({"labels": {}});
    replace_job(&s, &id, &body).await?;
    patch_agent(&s, &a_id, json!({"drained": true})).await?;
    owned_by(&env.db_url, &id, &b_id).await?;
    wait_until(
        "a call from the new owner",
        Duration::from_secs(30),
        || async {
            let calls = sink.calls_to("/long");
            let from_b = calls.len() >= 2;
            Ok(from_b.then_some(()))
        },
    )
    .await?;
    let calls = sink.calls_to("/long");
    for pair in calls.windows(2) {
        let gap = pair[1].received_at - pair[0].received_at;
        anyhow::ensure!(
            gap >= chrono::Duration::from_std(CALL)?,
            "a call started {} ms after the previous one, which was open for {CALL:?}",
            gap.num_milliseconds()
        );
    }
    Ok(())
}
