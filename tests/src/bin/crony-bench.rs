//! `crony-bench`: prints figures, never passes or fails.
//!
//! - `crony-bench placement`: placing 100,000 jobs across 10 agents (pure placement).
//! - `crony-bench failover [JOBS]`: see `crony-bench/failover.rs`.
//! - `crony-bench scale [JOBS] [AGENTS] [EXECUTIONS]`: see `crony-bench/scale.rs`.
//! - `crony-bench fire [JOBS] [SECS] [burst|spread|timers [PERIOD]]`: the whole system with one
//!   agent holding JOBS HTTP jobs (default 1,000) for SECS seconds (default 30): every second,
//!   all due at the same whole second (`burst`, the default) or spread over it (`spread`), or
//!   `@every PERIOD s` (`timers`, default 25); lateness at the service (its own process,
//!   `crony-bench sink`), fires delivered and doubled, how long after its end each execution
//!   was in MySQL, and CPU µs per execution of each process. `crony-bench fire all`: the four
//!   loads of issue 16 in one table.

use std::time::{Duration, Instant};

use anyhow::Context;
use crony_proto::v1::ListHeldRequest;
use crony_scheduler::placement::{Candidate, Placer, Requirements, Strategy};
use crony_tests::wait_until;
use serde_json::{Value, json};

#[path = "crony-bench/cpu.rs"]
mod cpu;
#[path = "crony-bench/failover.rs"]
mod failover;
#[path = "crony-bench/fire.rs"]
mod fire;
#[path = "crony-bench/peers.rs"]
mod peers;
#[path = "crony-bench/scale.rs"]
mod scale;
#[path = "crony-bench/sink.rs"]
mod sink;

/// The scheduler runs in this process: the same allocator as its binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Some("failover") => failover::run(arg(&args, 1, 10_000)?).await,
        Some("fire") if args.get(1).is_some_and(|a| a == "all") => fire::all().await.map(drop),
        Some("fire") => {
            let (jobs, secs) = (arg(&args, 1, 1_000)?, arg(&args, 2, 30)?);
            let load = match args.get(3).map(String::as_str) {
                Some("spread") => fire::Load::spread(jobs, secs),
                Some("timers") => fire::Load::timers(jobs, arg(&args, 4, 25)?, secs),
                _ => fire::Load::burst(jobs, secs),
            };
            fire::run(load).await
        }
        Some("sink") => sink::serve().await,
        Some("peers") => peers::run(arg(&args, 1, 1_000)?, arg(&args, 2, 20)?).await,
        Some("scale") => {
            let (jobs, agents) = (arg(&args, 1, 100_000)?, arg(&args, 2, 10)?);
            scale::run(jobs, agents, arg(&args, 3, 10_000_000)?).await
        }
        _ => {
            eprintln!(
                "usage: crony-bench placement | failover [JOBS] | fire [JOBS] [SECS] [burst|spread|timers [PERIOD]] | fire all | peers [JOBS] [SECS] | scale [JOBS] [AGENTS] [EXECUTIONS]"
            );
            std::process::exit(2);
        }
    }
}

/// Argument `i` as a number, `default` when it is absent.
fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(args
        .get(i)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(default))
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
