//! `crony-local`: a whole Crony on this machine — etcd, MariaDB, one scheduler and two agents —
//! for trying it out. Started by `./scripts/dev up`; ctrl-c (or SIGTERM) stops everything.

use std::process::{Child, Command};
use std::time::Duration;

use anyhow::Context;
use crony_tests::process::{free_port, signal, spawn, workspace_binary};
use crony_tests::{Etcd, MariaDb, wait_until};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!("starting etcd and MariaDB…");
    let etcd = Etcd::start().context("starting etcd")?;
    let db = MariaDb::start().context("starting MariaDB")?;
    let http_port = if std::net::TcpListener::bind("127.0.0.1:8080").is_ok() {
        8080
    } else {
        free_port()
    };
    // The scheduler and agents authenticate each other with it: 192 random bits, fresh each
    // start, never printed (nothing else needs it).
    let token = crony_scheduler::auth::token::random_secret();
    // No default password, even locally: a fresh one each start, printed below (or yours).
    let password = std::env::var("CRONY_ADMIN_PASSWORD")
        .unwrap_or_else(|_| crony_scheduler::auth::token::random_secret());
    let admin_token = crony_scheduler::auth::token::new_api_token();
    let data = tempfile::Builder::new().prefix("crony-local-").tempdir()?;
    let base = |cmd: &mut Command| {
        cmd.env("CRONY_ETCD_ENDPOINTS", etcd.endpoint())
            .env("CRONY_CLUSTER_TOKEN", &token);
    };

    let mut scheduler = Command::new(workspace_binary("crony-scheduler"));
    base(&mut scheduler);
    scheduler
        .env("CRONY_DATABASE_URL", db.url("crony"))
        .env("CRONY_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("CRONY_GRPC_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("CRONY_ADMIN_PASSWORD", &password)
        .env("CRONY_ADMIN_TOKEN", &admin_token);
    let mut children: Vec<Child> = vec![spawn(scheduler).context("starting crony-scheduler")?];
    for (n, weight) in [(1, 1), (2, 2)] {
        let mut agent = Command::new(workspace_binary("crony-agent"));
        base(&mut agent);
        agent
            .env(
                "CRONY_AGENT_GRPC_ADDR",
                format!("127.0.0.1:{}", free_port()),
            )
            .env(
                "CRONY_AGENT_METRICS_ADDR",
                format!("127.0.0.1:{}", free_port()),
            )
            .env(
                "CRONY_AGENT_DATA_DIR",
                data.path().join(format!("agent-{n}")),
            )
            .env("CRONY_AGENT_WEIGHT", weight.to_string())
            .env("CRONY_AGENT_LABELS", format!("name=agent-{n}"));
        children.push(spawn(agent).with_context(|| format!("starting agent {n}"))?);
    }

    let api = format!("http://127.0.0.1:{http_port}");
    wait_until("two agents online", Duration::from_secs(30), || {
        let url = format!("{api}/api/v1/agents?state=online");
        let request = reqwest::Client::new().get(url).bearer_auth(&admin_token);
        async move {
            let body: serde_json::Value = request
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            Ok((body["agents"].as_array().map_or(0, Vec::len) == 2).then_some(()))
        }
    })
    .await?;

    println!();
    println!("Crony is running:");
    println!("  dashboard  {api}/  (user admin, password {password})");
    println!("  API token  {admin_token}");
    println!("  API        {api}/api/v1/agents");
    println!("  readiness  {api}/readyz");
    println!("  metrics    {api}/metrics");
    println!("  OpenAPI    {api}/api/v1/openapi.json");
    println!("  etcd       {}", etcd.endpoint());
    println!("  MariaDB    {}", db.url("crony"));
    println!("  try:       curl -H 'Authorization: Bearer {admin_token}' {api}/api/v1/agents");
    println!("ctrl-c stops everything.");

    let stop = tokio_util::sync::CancellationToken::new();
    crony_common::shutdown::cancel_on_signal(stop.clone());
    stop.cancelled().await;
    println!("stopping…");
    for child in children.iter().rev() {
        signal(child, libc::SIGTERM);
    }
    for mut child in children {
        let _ = child.wait();
    }
    Ok(())
}
