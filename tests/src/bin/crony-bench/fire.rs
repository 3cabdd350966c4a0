//! `crony-bench fire`: fire lateness and completeness under load, end to end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{DateTime, Utc};
use crony_tests::cluster::AgentSpec;
use crony_tests::{AgentProcess, Etcd, MariaDb, TestScheduler, wait_until};
use serde_json::json;

/// (job id, scheduled instant ms, received instant µs)
type Calls = Arc<Mutex<Vec<(String, i64, i64)>>>;

/// `spread`: `@every 1s` jobs, whose phases follow their creation times, so fires are spread
/// over the second; otherwise `* * * * * *`, so all JOBS fire at each whole second at once.
pub async fn run(jobs: usize, secs: usize, spread: bool) -> anyhow::Result<()> {
    let schedule = if spread { "@every 1s" } else { "* * * * * *" };
    eprintln!("starting etcd, MariaDB, a scheduler and an agent…");
    let etcd = Etcd::start()?;
    let db = MariaDb::start()?;
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

    let calls: Calls = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink = format!("http://{}/fire", listener.local_addr()?);
    let app = Router::new()
        .route("/fire", post(record))
        .with_state(calls.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    eprintln!("creating {jobs} every-second jobs…");
    super::create_jobs(&scheduler.base_url, jobs, |n| {
        json!({"name": format!("fire-{n}"), "schedule": schedule,
               "target": {"kind": "http", "method": "POST", "url": sink},
               "overlap": "allow"})
    })
    .await?;
    eprintln!("waiting until every job fires…");
    wait_until("every job fired", Duration::from_secs(120), || {
        let calls = calls.clone();
        async move {
            let seen: std::collections::HashSet<String> =
                calls.lock().unwrap().iter().map(|c| c.0.clone()).collect();
            Ok((seen.len() == jobs).then_some(()))
        }
    })
    .await?;
    // Measure whole seconds after a short warm-up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let from = (Utc::now().timestamp() + 1) * 1000;
    let to = from + secs as i64 * 1000;
    eprintln!("measuring {secs} s…");
    tokio::time::sleep(Duration::from_millis(
        (to - Utc::now().timestamp_millis()).max(0) as u64 + 2_000,
    ))
    .await;

    let window: Vec<(String, i64, i64)> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at, _)| *at >= from && *at < to)
        .cloned()
        .collect();
    let mut per_instant: HashMap<(&str, i64), u32> = HashMap::new();
    for (job, at, _) in &window {
        *per_instant.entry((job.as_str(), *at)).or_default() += 1;
    }
    let expected = jobs * secs;
    let doubled = per_instant.values().filter(|n| **n > 1).count();
    let missing = expected.saturating_sub(per_instant.len());
    let mut lateness: Vec<f64> = window
        .iter()
        .map(|(_, at, received_us)| (*received_us - at * 1000) as f64 / 1000.0)
        .collect();
    lateness.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lateness
            .get(((lateness.len() as f64 * p) as usize).min(lateness.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };

    eprintln!("waiting for every measured execution to reach MySQL…");
    let recorded_at = Instant::now();
    let pool = sqlx::MySqlPool::connect(&db_url).await?;
    let distinct = per_instant.len();
    let in_mysql = wait_until("executions in MySQL", Duration::from_secs(120), || {
        let pool = pool.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM executions WHERE status = 'succeeded' \
                 AND scheduled_at >= FROM_UNIXTIME(?) AND scheduled_at < FROM_UNIXTIME(?)",
            )
            .bind(from / 1000)
            .bind(to / 1000)
            .fetch_one(&pool)
            .await
            .map_err(|e| e.to_string())?;
            Ok((n as usize >= distinct).then_some(n))
        }
    })
    .await?;
    let settle = recorded_at.elapsed();
    println!(
        "| jobs | fires/s | seconds | fires | missing | doubled | lateness p50 (ms) | p99 (ms) | max (ms) | in MySQL | last row after (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| `{schedule}` | {jobs} | {jobs} | {secs} | {} | {missing} | {doubled} | {:.2} | {:.2} | {:.2} | {in_mysql} | {} |",
        window.len(),
        pct(0.50),
        pct(0.99),
        lateness.last().copied().unwrap_or(f64::NAN),
        settle.as_millis()
    );
    println!(
        "{}",
        json!({"fire": {"schedule": schedule, "jobs": jobs, "secs": secs, "fires": window.len(), "missing": missing,
                "doubled": doubled, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                "in_mysql": in_mysql, "settle_ms": settle.as_millis() as u64}})
    );
    drop(agent);
    scheduler.stop().await;
    Ok(())
}

async fn record(State(calls): State<Calls>, headers: HeaderMap) -> &'static str {
    let received = Utc::now().timestamp_micros();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let scheduled = DateTime::parse_from_rfc3339(header("x-crony-scheduled-at"))
        .map(|t| t.timestamp_millis())
        .unwrap_or(0);
    calls
        .lock()
        .unwrap()
        .push((header("x-crony-job-id").to_owned(), scheduled, received));
    "ok"
}
