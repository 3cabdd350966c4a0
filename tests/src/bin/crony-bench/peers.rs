//! `crony-bench peers [JOBS] [SECS]`: the same every-second load through Crony and its peers in
//! one run: raw tokio `sleep_until` timers (the floor), tokio-cron-scheduler and APScheduler
//! (from PyPI, in a virtualenv under `target/`). The peers fire a function in their own process;
//! Crony makes an HTTP call to a service in another process, so its figures include the call.
//! Lateness is the call (or function) time minus the scheduled whole second.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use serde_json::{Value, json};

use super::fire::{self, Load};

/// One scheduler's figures for the burst (every job due at each whole second).
struct Peer {
    name: String,
    expected: usize,
    delivered: usize,
    doubled: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

pub async fn run(jobs: usize, secs: usize) -> anyhow::Result<()> {
    let mut peers = vec![
        floor(jobs, secs).await,
        tokio_cron(jobs, secs).await?,
        apscheduler(jobs, secs)?,
    ];
    let crony = fire::measure(&Load::burst(jobs, secs)).await?;
    peers.push(Peer {
        name: "Crony (HTTP call to another process)".into(),
        expected: crony.expected,
        delivered: crony.delivered,
        doubled: crony.doubled,
        p50_ms: crony.p50_ms,
        p99_ms: crony.p99_ms,
        max_ms: crony.max_ms,
    });
    print(jobs, secs, &peers);
    Ok(())
}

fn print(jobs: usize, secs: usize, peers: &[Peer]) {
    let crony = peers.last().expect("crony ran");
    println!(
        "{jobs} jobs `* * * * * *`, {secs} s, {} on {} cores",
        Utc::now().format("%Y-%m-%d"),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| scheduler | expected | delivered | doubled | p50 (ms) | p99 (ms) | max (ms) | p99 ÷ Crony's |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for p in peers {
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            p.name,
            p.expected,
            p.delivered,
            p.doubled,
            p.p50_ms,
            p.p99_ms,
            p.max_ms,
            p.p99_ms / crony.p99_ms
        );
    }
    let json: Vec<Value> = peers
        .iter()
        .map(|p| {
            json!({"name": p.name, "expected": p.expected, "delivered": p.delivered,
                        "doubled": p.doubled, "p50_ms": p.p50_ms, "p99_ms": p.p99_ms,
                        "max_ms": p.max_ms})
        })
        .collect();
    println!("{}", json!({ "peers": json }));
}

/// Figures from (job, scheduled whole second ms, lateness ms) of the measured window.
fn figures(name: &str, expected: usize, fires: &[(usize, i64, f64)]) -> Peer {
    let mut per_instant: HashMap<(usize, i64), u32> = HashMap::new();
    for (job, at, _) in fires {
        *per_instant.entry((*job, *at)).or_default() += 1;
    }
    let mut lateness: Vec<f64> = fires.iter().map(|f| f.2).collect();
    lateness.sort_by(f64::total_cmp);
    let pct = |p: f64| fire::percentile(&lateness, p);
    Peer {
        name: name.into(),
        expected,
        delivered: per_instant.len(),
        doubled: per_instant.values().filter(|n| **n > 1).count(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: lateness.last().copied().unwrap_or(f64::NAN),
    }
}

/// The measured window: whole seconds from `warmup` s from now, `secs` long (Unix ms).
fn window(warmup: i64, secs: usize) -> (i64, i64) {
    let from = (Utc::now().timestamp() + warmup) * 1000;
    (from, from + secs as i64 * 1000)
}

/// A fire at `now_us` of an every-second job: (its whole second, lateness ms).
fn of_second(now_us: i64) -> (i64, f64) {
    let second_ms = now_us.div_euclid(1_000_000) * 1000;
    (second_ms, (now_us - second_ms * 1000) as f64 / 1000.0)
}

type Fires = Arc<Mutex<Vec<(usize, i64, f64)>>>;

/// One tokio task per job sleeping until each whole second: what any tokio scheduler can
/// reach at best.
async fn floor(jobs: usize, secs: usize) -> Peer {
    eprintln!("[peers] tokio timers…");
    let (from, to) = window(2, secs);
    let fires: Fires = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for job in 0..jobs {
        let fires = fires.clone();
        tasks.spawn(async move {
            let mut at = from;
            while at < to {
                let wait = (at - Utc::now().timestamp_millis()).max(0) as u64;
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let (second, late) = of_second(Utc::now().timestamp_micros());
                fires.lock().unwrap().push((job, second, late));
                at += 1000;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let fires = fires.lock().unwrap().clone();
    figures("tokio sleep_until (floor)", jobs * secs, &fires)
}

async fn tokio_cron(jobs: usize, secs: usize) -> anyhow::Result<Peer> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    eprintln!("[peers] tokio-cron-scheduler…");
    let sched = JobScheduler::new().await?;
    let fires: Fires = Arc::default();
    for job in 0..jobs {
        let fires = fires.clone();
        sched
            .add(Job::new_async("* * * * * *", move |_, _| {
                let fires = fires.clone();
                Box::pin(async move {
                    let (second, late) = of_second(Utc::now().timestamp_micros());
                    fires.lock().unwrap().push((job, second, late));
                })
            })?)
            .await?;
    }
    sched.start().await?;
    let (from, to) = window(3, secs);
    tokio::time::sleep(Duration::from_millis(
        (to - Utc::now().timestamp_millis()).max(0) as u64 + 1_500,
    ))
    .await;
    let mut sched = sched;
    sched.shutdown().await?;
    let fires: Vec<_> = fires
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at, _)| (from..to).contains(at))
        .cloned()
        .collect();
    Ok(figures("tokio-cron-scheduler 0.15", jobs * secs, &fires))
}

/// APScheduler 3 with a thread pool as large as the job count, functions recording their time.
fn apscheduler(jobs: usize, secs: usize) -> anyhow::Result<Peer> {
    eprintln!("[peers] APScheduler (a virtualenv under target/)…");
    let python = virtualenv()?;
    let script = target_dir().join("peers").join("apscheduler_bench.py");
    std::fs::create_dir_all(script.parent().expect("a parent"))?;
    std::fs::write(&script, APSCHEDULER)?;
    let output = Command::new(&python)
        .arg(&script)
        .arg(jobs.to_string())
        .arg(secs.to_string())
        .output()
        .context("running APScheduler")?;
    anyhow::ensure!(
        output.status.success(),
        "APScheduler bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (from, to) = stdout
        .lines()
        .find_map(|l| {
            let mut w = l.strip_prefix("window ")?.split(' ');
            Some((
                w.next()?.parse::<i64>().ok()?,
                w.next()?.parse::<i64>().ok()?,
            ))
        })
        .context("APScheduler printed no window")?;
    let fires: Vec<(usize, i64, f64)> = stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let job = parts.next()?.parse().ok()?;
            let now_us: i64 = parts.next()?.parse().ok()?;
            let (second, late) = of_second(now_us);
            Some((job, second, late))
        })
        .filter(|(_, second, _)| (from..to).contains(second))
        .collect();
    let version = String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("apscheduler "))
        .unwrap_or("3")
        .to_owned();
    Ok(figures(
        &format!("APScheduler {version} (in process)"),
        jobs * secs,
        &fires,
    ))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// `target/peers/venv` with APScheduler 3 from PyPI (made once).
fn virtualenv() -> anyhow::Result<PathBuf> {
    let venv = target_dir().join("peers").join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("python3 -m venv (Debian: python3-venv)")?;
        anyhow::ensure!(made.success(), "python3 -m venv failed");
    }
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "apscheduler>=3.11,<4"])
        .status()
        .context("pip install apscheduler")?;
    anyhow::ensure!(installed.success(), "pip install apscheduler failed");
    Ok(python)
}

/// Prints `job unix_µs` per fire in the measured window; the version on stderr.
const APSCHEDULER: &str = r#"
import sys, time, threading
import apscheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.executors.pool import ThreadPoolExecutor

jobs, secs = int(sys.argv[1]), int(sys.argv[2])
fires, lock = [], threading.Lock()
start = (int(time.time()) + 3) * 1_000_000
end = start + secs * 1_000_000

def fire(job):
    now = time.time_ns() // 1000
    if start <= now < end + 1_000_000:
        with lock:
            fires.append((job, now))

sched = BackgroundScheduler(executors={"default": ThreadPoolExecutor(max(jobs, 10))},
                            job_defaults={"misfire_grace_time": 5, "coalesce": False,
                                          "max_instances": 3})
for job in range(jobs):
    sched.add_job(fire, "cron", second="*", args=[job])
sched.start()
time.sleep(max(0, (end - time.time_ns() // 1000) / 1e6) + 1.5)
sched.shutdown(wait=False)
print("apscheduler", apscheduler.__version__, file=sys.stderr)
out = sys.stdout
out.write(f"window {start // 1000} {end // 1000}\n")
for job, now in fires:
    out.write(f"{job} {now}\n")
"#;
