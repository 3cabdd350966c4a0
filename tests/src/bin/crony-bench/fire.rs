//! `crony-bench fire`: fire lateness, completeness and cost under load, end to end: etcd,
//! MariaDB, the scheduler (in this process), one agent process and the user's service in its
//! own process (`sink.rs`), all on this machine.

use std::collections::HashMap;
use std::time::Duration;

use crony_tests::cluster::AgentSpec;
use crony_tests::{AgentProcess, Etcd, MariaDb, TestScheduler, wait_until};
use serde_json::{Value, json};

use super::cpu::{self, Cpu};
use super::sink::SinkProcess;

/// One load: `jobs` jobs on `schedule`, measured over `secs` whole seconds.
#[derive(Debug, Clone)]
pub struct Load {
    pub name: &'static str,
    pub jobs: usize,
    pub schedule: String,
    /// Fires per job per second (1 for every-second jobs, 1/25 for `@every 25s`).
    pub rate: f64,
    pub secs: usize,
}

impl Load {
    pub fn burst(jobs: usize, secs: usize) -> Self {
        Self {
            name: "burst",
            jobs,
            schedule: "* * * * * *".into(),
            rate: 1.0,
            secs,
        }
    }

    /// `@every 1s` jobs, whose phases follow their creation times: spread over the second.
    pub fn spread(jobs: usize, secs: usize) -> Self {
        Self {
            name: "spread",
            schedule: "@every 1s".into(),
            ..Self::burst(jobs, secs)
        }
    }

    /// Many timers, few due: `jobs` jobs `@every {period}s` (their phases follow their creation
    /// times; measure a multiple of `period` seconds so that each job is due a known number
    /// of times).
    pub fn timers(jobs: usize, period: usize, secs: usize) -> Self {
        Self {
            name: "timers",
            jobs,
            schedule: format!("@every {period}s"),
            rate: 1.0 / period as f64,
            secs,
        }
    }
}

/// What one load measured.
#[derive(Debug, Clone)]
pub struct Row {
    pub load: Load,
    pub expected: usize,
    pub delivered: usize,
    pub doubled: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub in_mysql: usize,
    pub settle_ms: u128,
    /// CPU µs per execution: agent, scheduler (this process), MariaDB, service.
    pub cpu_us: [f64; 4],
}

pub async fn run(load: Load) -> anyhow::Result<()> {
    let row = measure(&load).await?;
    print_rows(std::slice::from_ref(&row));
    Ok(())
}

/// The four loads of issue 16, one after another, each on a fresh cluster.
pub async fn all() -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for load in [
        Load::burst(1_000, 20),
        Load::spread(1_000, 20),
        Load::spread(10_000, 60),
        Load::timers(25_000, 25, 50),
    ] {
        rows.push(measure(&load).await?);
    }
    print_rows(&rows);
    Ok(rows)
}

pub fn print_rows(rows: &[Row]) {
    println!(
        "| load | jobs | schedule | fires/s | expected | delivered | doubled | p50 (ms) | p99 (ms) | max (ms) | in MySQL | end → MySQL max (ms) | CPU µs/exec agent | scheduler | MariaDB | service |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let l = &r.load;
        println!(
            "| {} | {} | `{}` | {:.0} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            l.name,
            l.jobs,
            l.schedule,
            l.jobs as f64 * l.rate,
            r.expected,
            r.delivered,
            r.doubled,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.in_mysql,
            r.settle_ms,
            r.cpu_us[0],
            r.cpu_us[1],
            r.cpu_us[2],
            r.cpu_us[3],
        );
    }
    let json: Vec<Value> = rows.iter().map(row_json).collect();
    println!("{}", json!({ "fire": json }));
}

fn row_json(r: &Row) -> Value {
    json!({"load": r.load.name, "jobs": r.load.jobs, "schedule": r.load.schedule,
           "expected": r.expected, "delivered": r.delivered, "doubled": r.doubled,
           "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms,
           "in_mysql": r.in_mysql, "settle_ms": r.settle_ms as u64,
           "cpu_us_per_exec": {"agent": r.cpu_us[0], "scheduler": r.cpu_us[1],
                               "mariadb": r.cpu_us[2], "service": r.cpu_us[3]}})
}

pub async fn measure(load: &Load) -> anyhow::Result<Row> {
    eprintln!(
        "[{}] {} jobs `{}`: starting etcd, MariaDB, a scheduler, an agent and the service…",
        load.name, load.jobs, load.schedule
    );
    let etcd = Etcd::start()?;
    // A production-sized buffer pool: 10,000 executions/s for a minute is 600,000 rows, which
    // the tests' 64 MiB pool would page to disk (the scale bench does the same).
    let db = MariaDb::start_large()?;
    let dir = tempfile::tempdir()?;
    let db_url = db.url("bench");
    let scheduler = TestScheduler::start(&etcd.endpoint(), "/bench", &db_url).await?;
    let mut agent = AgentProcess::spawn(
        AgentSpec::new(&etcd.endpoint(), "/bench", &dir.path().join("agent"))
            .ttl(10)
            .env("RUST_LOG", "warn"),
    )?;
    agent.id().await?;
    super::online(&scheduler.base_url, 1).await?;
    let sink = SinkProcess::spawn().await?;
    let url = format!("{}/fire", sink.base);

    eprintln!("[{}] creating {} jobs…", load.name, load.jobs);
    super::create_jobs(&scheduler.base_url, load.jobs, |n| {
        json!({"name": format!("fire-{n}"), "schedule": load.schedule,
               "target": {"kind": "http", "method": "POST", "url": url},
               "overlap": "allow"})
    })
    .await?;
    eprintln!("[{}] waiting until every job fires…", load.name);
    let period = Duration::from_secs_f64(1.0 / load.rate);
    wait_until(
        "every job fired",
        Duration::from_secs(120) + 2 * period,
        || async {
            let calls = sink.calls().await.map_err(|e| e.to_string())?;
            let seen: std::collections::HashSet<&str> =
                calls.iter().map(|c| c.0.as_str()).collect();
            Ok((seen.len() == load.jobs).then_some(()))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let from = (chrono::Utc::now().timestamp() + 1) * 1000;
    let to = from + load.secs as i64 * 1000;
    let pids = [
        Some(agent.pid()),
        Some(std::process::id()),
        cpu::pid_of("mariadbd", &format!("--port={}", db.port())),
        sink.pid(),
    ];
    tokio::time::sleep(Duration::from_millis(
        (from - chrono::Utc::now().timestamp_millis()).max(0) as u64,
    ))
    .await;
    let before = Cpu::read(&pids);
    eprintln!("[{}] measuring {} s…", load.name, load.secs);
    tokio::time::sleep(Duration::from_millis(load.secs as u64 * 1000)).await;
    let spent = Cpu::read(&pids).since(&before);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let window: Vec<(String, i64, i64)> = sink
        .calls()
        .await?
        .into_iter()
        .filter(|(_, at, _)| *at >= from && *at < to)
        .collect();
    let mut per_instant: HashMap<(&str, i64), u32> = HashMap::new();
    for (job, at, _) in &window {
        *per_instant.entry((job.as_str(), *at)).or_default() += 1;
    }
    let expected = (load.jobs as f64 * load.rate * load.secs as f64).round() as usize;
    let doubled = per_instant.values().filter(|n| **n > 1).count();
    let mut lateness: Vec<f64> = window
        .iter()
        .map(|(_, at, received_us)| (*received_us - at * 1000) as f64 / 1000.0)
        .collect();
    lateness.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&lateness, p);

    eprintln!(
        "[{}] waiting for the measured executions in MySQL…",
        load.name
    );
    let pool = sqlx::MySqlPool::connect(&db_url).await?;
    let distinct = per_instant.len();
    // How long after its end each execution's outcome was in MySQL (the scheduler's write
    // time against the agent's end time: one clock, this machine's).
    let (in_mysql, settle_us) = wait_until("executions in MySQL", Duration::from_secs(120), || {
        let pool = pool.clone();
        async move {
            let (n, slowest): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MAX(TIMESTAMPDIFF(MICROSECOND, finished_at, updated_at)) \
                 FROM executions WHERE status = 'succeeded' \
                 AND scheduled_at >= FROM_UNIXTIME(?) AND scheduled_at < FROM_UNIXTIME(?)",
            )
            .bind(from / 1000)
            .bind(to / 1000)
            .fetch_one(&pool)
            .await
            .map_err(|e| e.to_string())?;
            Ok((n as usize >= distinct).then_some((n as usize, slowest.unwrap_or(0))))
        }
    })
    .await?;
    let settle_ms = (settle_us.max(0) / 1000) as u128;
    let executions = per_instant.len().max(1) as f64;
    let row = Row {
        load: load.clone(),
        expected,
        delivered: per_instant.len(),
        doubled,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: lateness.last().copied().unwrap_or(f64::NAN),
        in_mysql,
        settle_ms,
        cpu_us: spent.map(|us| us / executions),
    };
    pool.close().await;
    drop(agent);
    scheduler.stop().await;
    Ok(row)
}

/// The `p` quantile (0–1) of `sorted` (ascending); NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(f64::NAN)
}
