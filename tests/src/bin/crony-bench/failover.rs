//! `crony-bench failover [JOBS]`: does every job of a SIGKILLed agent fire elsewhere within
//! lease TTL + 1 s (design §10)?
//!
//! One agent holds JOBS one-shot jobs (default 10,000), all due at one whole second, and is
//! SIGKILLed exactly TTL + 1 s before it. Instants inside the dead owner's lease are not a
//! fair measure: the successor cannot know whether the dead owner started them, so it records
//! them `lost` and never runs them (design §3 rule 7). The instant at kill + TTL + 1 s is
//! past any lease the victim held, so every job must fire there, once, at a new owner: its
//! lateness at the HTTP sink (call received − instant) is how late failover was.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use crony_tests::cluster::AgentSpec;
use crony_tests::{AgentProcess, Etcd, MariaDb, TestScheduler, wait_until};
use serde_json::json;

use super::{addr_of, create_jobs, held, online};

const TTL_SECS: i64 = 5;

pub async fn run(jobs: usize) -> anyhow::Result<()> {
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
            AgentSpec::new(&etcd.endpoint(), "/bench", &dir.path().join(name)).ttl(TTL_SECS as u64),
        )
    };
    let mut victim = agent("victim")?;
    let victim_id = victim.id().await?;
    online(&scheduler.base_url, 1).await?;

    // A whole second: `@at` takes seconds, and the kill is timed from this instant.
    let now = Utc::now().timestamp();
    let due = DateTime::from_timestamp(now + 60 + jobs as i64 / 100, 0)
        .context("instant out of range")?;
    let at = due.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    eprintln!("creating {jobs} jobs due at {at} (all placed on one agent)…");
    let url = sink.url("/fire");
    // `fire_once`: a successor armed after the instant still runs it, late, so slow failover
    // shows as lateness rather than as `missed` rows.
    create_jobs(&scheduler.base_url, jobs, |n| {
        json!({"name": format!("bench-{n}"), "schedule": format!("@at {at}"),
               "misfire": "fire_once", "target": {"kind": "http", "url": url}})
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
    let kill_at = due - chrono::Duration::seconds(TTL_SECS + 1);
    let before = (kill_at - Utc::now())
        .to_std()
        .context("placement took longer than the margin before the jobs' instant")?;
    tokio::time::sleep(before).await;

    eprintln!("SIGKILL the agent holding {jobs} jobs, TTL + 1 s before they are due…");
    victim.kill();
    let killed = Instant::now();
    let killed_at = Utc::now();
    online(&scheduler.base_url, 3).await?;
    let expired = killed.elapsed();
    wait_until(
        "every job fired at a new owner",
        Duration::from_secs(120),
        || async { Ok((sink.distinct("/fire", "x-crony-job-id") >= jobs).then_some(())) },
    )
    .await?;
    let calls = sink.calls_to("/fire");
    // Retries of one execution (attempt > 1) are calls too: lateness is per job, first call.
    let mut first: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut executions: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for c in &calls {
        let at = first
            .entry(c.header("x-crony-job-id"))
            .or_insert(c.received_at);
        *at = (*at).min(c.received_at);
        executions
            .entry(c.header("x-crony-job-id"))
            .or_default()
            .insert(c.header("x-crony-execution-id"));
    }
    let doubled = executions.values().filter(|e| e.len() > 1).count();
    let mut late: Vec<i64> = first
        .values()
        .map(|at| (*at - due).num_milliseconds())
        .collect();
    late.sort_unstable();
    let pct = |p: f64| late[((late.len() as f64 * p) as usize).min(late.len() - 1)];
    let last_ms = first
        .values()
        .max()
        .map_or(0, |at| (*at - killed_at).num_milliseconds());
    let lost = lost_rows(&db.url("bench")).await?;
    println!(
        "| jobs on the killed agent | lease TTL (s) | kill → expiry seen (ms) | lateness at TTL + 1 s min / p50 / p99 / max (ms) | kill → last job's call (ms) | doubled | recorded lost |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {jobs} | {TTL_SECS} | {:.0} | {} / {} / {} / {} | {last_ms} | {doubled} | {lost} |",
        expired.as_secs_f64() * 1000.0,
        pct(0.0),
        pct(0.5),
        pct(0.99),
        pct(1.0),
    );
    println!(
        "{}",
        json!({ "failover": { "jobs": jobs, "ttl_secs": TTL_SECS,
                "expiry_seen_ms": expired.as_millis() as u64, "late_min_ms": pct(0.0), "late_p50_ms": pct(0.5),
                "late_p99_ms": pct(0.99), "late_max_ms": pct(1.0),
                "kill_to_last_call_ms": last_ms, "doubled": doubled, "lost": lost } })
    );
    scheduler.stop().await;
    Ok(())
}

/// Executions recorded `lost`: none is expected, the jobs' instant lies past the lease.
async fn lost_rows(db_url: &str) -> anyhow::Result<i64> {
    let pool = sqlx::MySqlPool::connect(db_url).await?;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM executions WHERE status = 'lost'")
        .fetch_one(&pool)
        .await?;
    Ok(n)
}
