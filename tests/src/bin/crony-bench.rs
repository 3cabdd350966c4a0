//! `crony-bench`: prints figures, never passes or fails.
//!
//! - `crony-bench placement`: placing 100,000 jobs across 10 agents (pure placement).
//! - `crony-bench failover [JOBS]`: the whole system (etcd, MariaDB, scheduler, agents as
//!   processes); one agent holds JOBS one-shot jobs (default 10,000) all due at one instant
//!   and is SIGKILLed just before it; reports the time from the kill to the scheduler seeing
//!   the lease expire, and to the last job's first fire at its new owner (at an HTTP sink).
//! - `crony-bench scale [JOBS] [AGENTS] [EXECUTIONS]`: see `crony-bench/scale.rs`.
//! - `crony-bench fire [JOBS] [SECS] [burst|spread]`: the whole system with one agent holding
//!   JOBS every-second HTTP jobs (default 1,000) for SECS seconds (default 30), all due at the
//!   same whole second (`burst`, the default) or spread over it (`spread`): fire lateness
//!   (call received − scheduled instant) percentiles, fires missing or doubled, and how long
//!   until every execution is in MySQL.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use crony_proto::v1::ListHeldRequest;
use crony_scheduler::placement::{Candidate, Placer, Requirements, Strategy};
use crony_tests::cluster::AgentSpec;
use crony_tests::{AgentProcess, Etcd, MariaDb, TestScheduler, wait_until};
use serde_json::{Value, json};

#[path = "crony-bench/fire.rs"]
mod fire;
#[path = "crony-bench/scale.rs"]
mod scale;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `RUST_LOG=info crony-bench …` shows the in-process scheduler's log, to find where time
    // goes; quiet otherwise, so the figures are not paid for in logging.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("placement") => placement(),
        Some("failover") => {
            let jobs = args
                .get(1)
                .map(|n| n.parse())
                .transpose()?
                .unwrap_or(10_000);
            failover(jobs).await
        }
        Some("fire") => {
            let number = |i: usize, default: usize| -> anyhow::Result<usize> {
                Ok(args
                    .get(i)
                    .map(|n| n.parse())
                    .transpose()?
                    .unwrap_or(default))
            };
            let spread = args.get(3).is_some_and(|mode| mode == "spread");
            fire::run(number(1, 1_000)?, number(2, 30)?, spread).await
        }
        Some("scale") => {
            let number = |i: usize, default: u64| -> anyhow::Result<u64> {
                Ok(args
                    .get(i)
                    .map(|n| n.parse())
                    .transpose()?
                    .unwrap_or(default))
            };
            let (jobs, agents) = (number(1, 100_000)?, number(2, 10)?);
            scale::run(jobs as usize, agents as usize, number(3, 10_000_000)?).await
        }
        _ => {
            eprintln!(
                "usage: crony-bench placement | failover [JOBS] | fire [JOBS] [SECS] [burst|spread] | scale [JOBS] [AGENTS] [EXECUTIONS]"
            );
            std::process::exit(2);
        }
    }
}

fn placement() -> anyhow::Result<()> {
    println!("| strategy | jobs | agents | time (ms) | jobs/s |");
    println!("|---|---|---|---|---|");
    let mut results = Vec::new();
    for strategy in [Strategy::WeightedRoundRobin, Strategy::FewestJobs] {
        let mut candidates: Vec<Candidate> = (1..=10)
            .map(|w| Candidate {
                id: format!("agent-{w}").into(),
                weight: w,
                labels: Default::default(),
                allow_shell: true,
                drained: false,
                assigned: 0,
            })
            .collect();
        let mut placer = Placer::new();
        let any = Requirements::default();
        let start = Instant::now();
        for _ in 0..100_000 {
            placer
                .place(strategy, &mut candidates, &any)
                .context("no candidate")?;
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        println!(
            "| {strategy:?} | 100000 | 10 | {ms:.1} | {:.0} |",
            100_000.0 / (ms / 1000.0)
        );
        results.push(
            json!({ "strategy": format!("{strategy:?}"), "jobs": 100_000, "agents": 10, "ms": ms }),
        );
    }
    println!("{}", json!({ "placement": results }));
    Ok(())
}

async fn failover(jobs: usize) -> anyhow::Result<()> {
    let ttl = 5;
    eprintln!("starting etcd, MariaDB, a scheduler and an HTTP sink…");
    let etcd = Etcd::start()?;
    let db = MariaDb::start()?;
    let mut dir = tempfile::tempdir()?;
    if std::env::var_os("RUST_LOG").is_some() {
        dir.disable_cleanup(true);
        eprintln!("agents' data and logs: {} (kept)", dir.path().display());
    }
    // No rebalancing: the joining survivors must not take jobs before the kill.
    let scheduler = TestScheduler::start_with(&etcd.endpoint(), "/bench", &db.url("bench"), |c| {
        c.rebalance = false;
    })
    .await?;
    let sink = crony_tests::HttpSink::start().await?;
    let agent = |name: &str| {
        AgentProcess::spawn(
            AgentSpec::new(&etcd.endpoint(), "/bench", &dir.path().join(name)).ttl(ttl),
        )
    };
    let mut victim = agent("victim")?;
    let victim_id = victim.id().await?;
    online(&scheduler.base_url, 1).await?;

    // Every job fires once, at one instant well after placement: the victim dies just before
    // it, so each job's only fire is its new owner's.
    // A whole second: `@at` takes seconds, and the kill below is timed from this instant (a
    // fraction left in would put the kill up to 0.5 s *after* the jobs' instant, and the
    // victim would fire some of them before it died).
    let now = chrono::Utc::now().timestamp();
    let due = chrono::DateTime::from_timestamp(now + 60 + jobs as i64 / 100, 0)
        .context("instant out of range")?;
    let at = due.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    eprintln!("creating {jobs} jobs due at {at} (all placed on one agent)…");
    let url = sink.url("/fire");
    create_jobs(&scheduler.base_url, jobs, |n| {
        json!({"name": format!("bench-{n}"), "schedule": format!("@at {at}"),
               "target": {"kind": "http", "url": url}})
    })
    .await?;
    let victim_addr = addr_of(&scheduler.base_url, &victim_id).await?;
    wait_until("victim holds every job", Duration::from_secs(300), || {
        let addr = victim_addr.clone();
        async move { Ok((held(&addr).await?.len() == jobs).then_some(())) }
    })
    .await?;
    let mut survivors = Vec::new();
    for n in 0..3 {
        survivors.push(agent(&format!("survivor-{n}"))?);
    }
    online(&scheduler.base_url, 4).await?;
    let before = (due - chrono::Utc::now() - chrono::Duration::milliseconds(500))
        .to_std()
        .context("placement took longer than the margin before the jobs' instant")?;
    tokio::time::sleep(before).await;

    eprintln!("SIGKILL the agent holding {jobs} jobs, 0.5 s before they are due…");
    victim.kill();
    let killed = Instant::now();
    let killed_at = chrono::Utc::now();
    online(&scheduler.base_url, 3).await?;
    let expired = killed.elapsed();
    // Retries of one execution (attempt > 1) are calls too: count jobs, not calls.
    wait_until(
        "every job fired at a new owner",
        Duration::from_secs(120),
        || async { Ok((sink.distinct("/fire", "x-crony-job-id") >= jobs).then_some(())) },
    )
    .await?;
    let calls = sink.calls_to("/fire");
    // Measured at the sink, as the user's service saw it: when the last job's first call
    // arrived (not when this loop noticed).
    let mut first_calls: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>> =
        Default::default();
    for c in &calls {
        let at = first_calls
            .entry(c.header("x-crony-job-id"))
            .or_insert(c.received_at);
        *at = (*at).min(c.received_at);
    }
    let since_kill = |at: &chrono::DateTime<chrono::Utc>| (*at - killed_at).num_milliseconds();
    let first_call = first_calls.values().min().map(since_kill);
    let fired = first_calls.values().max().map(since_kill).unwrap_or(0);
    let executions: HashSet<String> = calls
        .iter()
        .map(|c| c.header("x-crony-execution-id"))
        .collect();
    let retries = calls
        .iter()
        .filter(|c| c.header("x-crony-attempt") != "1")
        .count();
    let mut per_job: std::collections::HashMap<String, usize> = Default::default();
    for c in &calls {
        *per_job.entry(c.header("x-crony-job-id")).or_default() += 1;
    }
    let doubled: Vec<&String> = per_job
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(j, _)| j)
        .collect();
    for job in doubled.iter().take(3) {
        for c in calls.iter().filter(|c| c.header("x-crony-job-id") == **job) {
            eprintln!(
                "doubled {job}: call for execution {} scheduled {} attempt {}",
                c.header("x-crony-execution-id"),
                c.header("x-crony-scheduled-at"),
                c.header("x-crony-attempt")
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let body: Value = crony_tests::api_client()
            .get(format!(
                "{}/api/v1/executions?job_id={job}",
                scheduler.base_url
            ))
            .send()
            .await?
            .json()
            .await?;
        for e in body["executions"].as_array().into_iter().flatten() {
            eprintln!(
                "doubled {job}: {} agent {} trigger {} scheduled {} started {} status {}",
                e["id"],
                e["agent_id"],
                e["trigger"],
                e["scheduled_at"],
                e["started_at"],
                e["status"]
            );
        }
    }
    println!(
        "| jobs on the killed agent | lease TTL (s) | kill → expiry seen (ms) | kill → first call (ms) | kill → last first fire at a new owner (ms) | calls | executions | retried attempts |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {jobs} | {ttl} | {:.0} | {} | {fired} | {} | {} | {retries} |",
        expired.as_secs_f64() * 1000.0,
        first_call.map_or("—".to_owned(), |ms| ms.to_string()),
        calls.len(),
        executions.len(),
    );
    println!(
        "{}",
        json!({ "failover": { "jobs": jobs, "ttl_secs": ttl, "expiry_seen_ms": expired.as_millis() as u64,
                "kill_to_last_first_fire_ms": fired, "fires": calls.len() } })
    );
    scheduler.stop().await;
    Ok(())
}

/// Creates `jobs` jobs through the API, 16 requests at a time; `body(n)` is job number n.
async fn create_jobs(base: &str, jobs: usize, body: impl Fn(usize) -> Value) -> anyhow::Result<()> {
    let client = crony_tests::api_client();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in (0..jobs)
        .collect::<Vec<_>>()
        .chunks(jobs.div_ceil(16).max(1))
    {
        let bodies: Vec<Value> = chunk.iter().map(|n| body(*n)).collect();
        let (client, base) = (client.clone(), base.to_owned());
        tasks.spawn(async move {
            for body in bodies {
                create_one(&client, &base, &body).await?;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Creates one job through the API.
async fn create_one(client: &reqwest::Client, base: &str, body: &Value) -> anyhow::Result<()> {
    let response = client
        .post(format!("{base}/api/v1/jobs"))
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "create failed: {}",
        response.status()
    );
    Ok(())
}

/// Jobs the agents at `addrs` acknowledge holding, together.
async fn held_total(addrs: &[String]) -> Result<usize, String> {
    let mut total = 0;
    for addr in addrs {
        total += held(addr).await?.len();
    }
    Ok(total)
}

async fn online(base: &str, n: usize) -> anyhow::Result<()> {
    wait_until(
        &format!("{n} agents online"),
        Duration::from_secs(60),
        || async move {
            let body: Value = crony_tests::api_client()
                .get(format!("{base}/api/v1/agents?state=online"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            Ok((body["agents"].as_array().map_or(0, Vec::len) == n).then_some(()))
        },
    )
    .await
}

async fn addr_of(base: &str, id: &str) -> anyhow::Result<String> {
    let body: Value = crony_tests::api_client()
        .get(format!("{base}/api/v1/agents/{id}"))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["grpc_addr"].as_str().context("grpc_addr")?.to_owned())
}

async fn held(addr: &str) -> Result<Vec<String>, String> {
    let mut client = crony_tests::grpc::agent_client(addr).map_err(|e| e.to_string())?;
    let held = client
        .list_held(ListHeldRequest {})
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    Ok(held.jobs.into_iter().map(|j| j.job_id).collect())
}
