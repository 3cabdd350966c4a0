//! `crony-bench scale [JOBS] [AGENTS] [EXECUTIONS]`: the whole system at design §10's scale —
//! JOBS jobs (default 100,000) created one by one through the API over AGENTS agents (default
//! 10), with EXECUTIONS executions (default 10,000,000) bulk-loaded into MySQL for the read
//! figures. Prints the create rate, the time from the last create to every job acknowledged by
//! its agent, scheduler and agent RSS, the time for a drain to move one agent's share, and API
//! p50/p99 latencies.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crony_tests::cluster::AgentSpec;
use crony_tests::{AgentProcess, Etcd, MariaDb, SchedulerProcess, wait_until};
use serde_json::{Value, json};

pub async fn run(jobs: usize, agents: usize, executions: u64) -> anyhow::Result<()> {
    eprintln!("starting etcd, MariaDB, a scheduler process and {agents} agents…");
    let etcd = Etcd::start()?;
    let db = MariaDb::start_large()?;
    let dir = tempfile::tempdir()?;
    let db_url = db.url("bench");
    let scheduler = SchedulerProcess::spawn(&etcd.endpoint(), "/bench", &db_url, dir.path())?;
    let base = scheduler.base_url.clone();
    let mut fleet = Vec::new();
    for n in 0..agents {
        let spec = AgentSpec::new(
            &etcd.endpoint(),
            "/bench",
            &dir.path().join(format!("a{n}")),
        );
        let mut agent = AgentProcess::spawn(spec.ttl(5))?;
        agent.id().await?;
        fleet.push(agent);
    }
    super::online(&base, agents).await?;

    eprintln!("creating {jobs} jobs, 32 requests in flight…");
    let (total, last_tenth) = create(&base, jobs).await?;
    let created = Instant::now();
    let addrs = agent_addrs(&base).await?;
    wait_until("every job acknowledged", Duration::from_secs(600), || {
        let addrs = addrs.clone();
        async move { Ok((super::held_total(&addrs).await? == jobs).then_some(())) }
    })
    .await?;
    let acknowledged = created.elapsed();
    let (full_passes, full_pass_ms) = pass_time(&base, "full").await?;
    let (delta_passes, delta_pass_ms) = pass_time(&base, "delta").await?;
    let scheduler_rss = rss_mib(scheduler.pid());
    let agent_rss = fleet.iter().map(|a| rss_mib(a.pid())).fold(0.0, f64::max);

    eprintln!("draining one agent…");
    let drained = drain_one(&base, &addrs, jobs).await?;

    eprintln!("bulk-loading {executions} executions…");
    let loaded = Instant::now();
    load_executions(&db_url, executions).await?;
    let load_secs = loaded.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    for path in [
        "/api/v1/jobs?limit=50",
        "/api/v1/executions?limit=50",
        "/api/v1/executions?status=failed,timed_out&limit=50",
        "/api/v1/stats/summary",
    ] {
        latencies.push((path, percentiles(&base, path).await?));
    }

    println!(
        "| jobs | agents | create/s (all) | create/s (last 10%) | last create → all acknowledged (ms) | scheduler RSS (MiB) | agent RSS max (MiB) | drain of one agent's share (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {jobs} | {agents} | {total:.0} | {last_tenth:.0} | {:.0} | {scheduler_rss:.0} | {agent_rss:.0} | {:.0} |",
        acknowledged.as_secs_f64() * 1000.0,
        drained.as_secs_f64() * 1000.0
    );
    println!();
    println!(
        "Reconcile passes while creating: {full_passes} full ({full_pass_ms:.1} ms mean), \
         {delta_passes} delta ({delta_pass_ms:.1} ms mean)."
    );
    println!();
    println!("{executions} executions bulk-loaded in {load_secs:.0} s.");
    println!();
    println!("| request | p50 (ms) | p99 (ms) |");
    println!("|---|---|---|");
    for (path, (p50, p99)) in &latencies {
        println!("| `GET {path}` | {p50:.1} | {p99:.1} |");
    }
    println!(
        "{}",
        json!({"scale": {"jobs": jobs, "agents": agents, "create_per_s": total,
            "create_per_s_last_tenth": last_tenth, "ack_ms": acknowledged.as_millis() as u64,
            "scheduler_rss_mib": scheduler_rss, "agent_rss_mib": agent_rss,
            "drain_ms": drained.as_millis() as u64, "executions": executions,
            "full_pass_ms": full_pass_ms, "delta_pass_ms": delta_pass_ms}})
    );
    // To look into the loaded cluster by hand (EXPLAIN a query, time a request).
    if let Some(secs) = std::env::var("CRONY_BENCH_HOLD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        eprintln!("holding for {secs} s: API {base}, MySQL {db_url}");
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    Ok(())
}

/// Creates `jobs` jobs, 32 in flight; returns the overall rate and that of the last tenth.
async fn create(base: &str, jobs: usize) -> anyhow::Result<(f64, f64)> {
    let client = crony_tests::api_client();
    let next = Arc::new(AtomicUsize::new(0));
    let tenth_start = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (client, base, next, tenth) = (
            client.clone(),
            base.to_owned(),
            next.clone(),
            tenth_start.clone(),
        );
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= jobs {
                    return Ok::<_, anyhow::Error>(());
                }
                if n == jobs - jobs / 10 {
                    *tenth.lock().expect("not poisoned") = Some(Instant::now());
                }
                let body = json!({"name": format!("scale-{n}"), "schedule": "0 0 3 * * *",
                    "target": {"kind": "http", "url": "http://127.0.0.1:9/run",
                               "headers": {"x-team": "payments"}}});
                super::create_one(&client, &base, &body).await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let total = jobs as f64 / start.elapsed().as_secs_f64();
    let tenth = tenth_start.lock().expect("not poisoned").unwrap_or(start);
    let last = (jobs / 10).max(1) as f64 / tenth.elapsed().as_secs_f64();
    Ok((total, last))
}

async fn agent_addrs(base: &str) -> anyhow::Result<Vec<String>> {
    let body: Value = crony_tests::api_client()
        .get(format!("{base}/api/v1/agents?state=online"))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["grpc_addr"].as_str().map(str::to_owned))
        .collect())
}

/// Drains the first agent; the time until the others hold every job.
async fn drain_one(base: &str, addrs: &[String], jobs: usize) -> anyhow::Result<Duration> {
    let body: Value = crony_tests::api_client()
        .get(format!("{base}/api/v1/agents?state=online"))
        .send()
        .await?
        .json()
        .await?;
    let first = body["agents"][0].clone();
    let id = first["id"].as_str().unwrap_or_default().to_owned();
    let addr = first["grpc_addr"].as_str().unwrap_or_default().to_owned();
    let started = Instant::now();
    crony_tests::api_client()
        .patch(format!("{base}/api/v1/agents/{id}"))
        .json(&json!({"drained": true}))
        .send()
        .await?;
    let others: Vec<String> = addrs.iter().filter(|a| **a != addr).cloned().collect();
    wait_until(
        "the others hold every job",
        Duration::from_secs(600),
        || {
            let others = others.clone();
            async move { Ok((super::held_total(&others).await? == jobs).then_some(())) }
        },
    )
    .await?;
    Ok(started.elapsed())
}

/// Inserts `n` executions in MariaDB itself (its sequence engine), spread over the jobs.
async fn load_executions(db_url: &str, n: u64) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(db_url).await?;
    let per_job = n.div_ceil(1000);
    let sql = format!(
        "INSERT INTO executions (id, job_id, agent_id, epoch, scheduled_at, started_at, finished_at, \
           status, trigger_kind, attempts, attempt_count, output, error, recorded_at, updated_at) \
         SELECT CONCAT('b', s.seq, '-', LEFT(j.id, 30)), j.id, 'agent-bench', 1, \
           NOW(3) - INTERVAL s.seq SECOND, NOW(3) - INTERVAL s.seq SECOND, NOW(3) - INTERVAL s.seq SECOND, \
           ELT(1 + s.seq % 10, 'failed', 'timed_out', 'succeeded', 'succeeded', 'succeeded', \
               'succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded'), \
           'schedule', '[]', 1, '', '', NOW(3), NOW(3) \
         FROM seq_1_to_{per_job} s JOIN (SELECT id FROM jobs ORDER BY id LIMIT 1000) j"
    );
    sqlx::query(&sql).execute(&mut conn).await?;
    // Rows written behind the scheduler's back: count them as the `execution_counts`
    // migration does for history that exists before it.
    sqlx::query(
        "INSERT INTO execution_counts (day, status, n) \
         SELECT DATE(scheduled_at), status, COUNT(*) FROM executions \
         GROUP BY DATE(scheduled_at), status ON DUPLICATE KEY UPDATE n = VALUES(n)",
    )
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// p50 and p99 of 200 sequential requests, in milliseconds.
async fn percentiles(base: &str, path: &str) -> anyhow::Result<(f64, f64)> {
    let client = crony_tests::api_client();
    let mut ms = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let response = client.get(format!("{base}{path}")).send().await?;
        anyhow::ensure!(response.status() == 200, "{path}: {}", response.status());
        response.bytes().await?;
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[ms.len() / 2], ms[ms.len() * 99 / 100]))
}

/// How many reconcile passes of `kind` the leader made and their mean time in milliseconds,
/// from its `crony_reconcile_pass_seconds` histogram.
async fn pass_time(base: &str, kind: &str) -> anyhow::Result<(u64, f64)> {
    let text = crony_tests::api_client()
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let sample = |name: &str| {
        let prefix = format!("crony_reconcile_pass_seconds_{name}{{kind=\"{kind}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (sum, count) = (sample("sum"), sample("count"));
    Ok((
        count as u64,
        if count > 0.0 {
            sum / count * 1000.0
        } else {
            0.0
        },
    ))
}

/// Resident memory of a process, from /proc.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
