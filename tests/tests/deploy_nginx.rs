//! `deploy/nginx/crony.conf`, as shipped (only its addresses changed for the test), on a real
//! nginx in front of two scheduler processes: the API answers through it, the client's address
//! reaches the audit log, and with one scheduler SIGKILLed every request still succeeds — each
//! one in the surviving scheduler's request log, without its credential.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use common::send;
use crony_tests::{ADMIN_TOKEN, Nginx, SchedulerProcess, TestEnv};

const SHIPPED: &str = include_str!("../../deploy/nginx/crony.conf");

/// The shipped file with the test's schedulers in its upstream and listening on `port`.
fn adapted(port: u16, schedulers: &[&str]) -> String {
    let mut servers = schedulers.iter();
    SHIPPED
        .lines()
        .filter_map(|line| {
            let t = line.trim_start();
            if let Some(example) = t.strip_prefix("server 10.") {
                // Each example server line becomes one of ours, its options kept.
                let options = example.split_once(' ').map_or("", |(_, options)| options);
                return servers.next().map(|s| format!("    server {s} {options}"));
            }
            if t.starts_with("listen 80;") {
                return Some(format!("    listen 127.0.0.1:{port};"));
            }
            Some(line.to_owned())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn client_from(ip: [u8; 4]) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {ADMIN_TOKEN}")
        .parse()
        .expect("a header value");
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .default_headers(headers)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a reqwest client builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_nginx_config_keeps_the_api_up_when_a_scheduler_dies() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let trust = [("CRONY_TRUSTED_PROXIES", "127.0.0.1/32")];
    let mut s1 =
        SchedulerProcess::spawn_with(&env.etcd, &env.prefix, &env.db_url, &env.path("s1"), &trust)?;
    let s2 =
        SchedulerProcess::spawn_with(&env.etcd, &env.prefix, &env.db_url, &env.path("s2"), &trust)?;
    for s in [&s1, &s2] {
        common::online(&s.base_url, 0).await?;
    }
    let upstreams: Vec<String> = [&s1, &s2]
        .iter()
        .map(|s| s.base_url.trim_start_matches("http://").to_owned())
        .collect();
    let refs: Vec<&str> = upstreams.iter().map(String::as_str).collect();
    let nginx = Nginx::start_site(|port| adapted(port, &refs))?;
    let client = client_from([127, 0, 0, 7]);

    let job = json!({"name": "via-nginx", "schedule": "@daily",
        "target": {"kind": "http", "url": "http://127.0.0.1:9/x"}});
    let (status, body) = send(client.post(nginx.url("/api/v1/jobs")).json(&job)).await?;
    assert_eq!(status, 201, "{body}; nginx: {}", nginx.error_log());
    let (_, audit) = send(client.get(nginx.url("/api/v1/audit?action=job.create"))).await?;
    assert_eq!(
        audit["entries"][0]["ip"], "127.0.0.7",
        "the client's address, forwarded: {audit}"
    );

    s1.kill();
    for i in 0..10 {
        let (status, body) = send(client.get(nginx.url("/api/v1/jobs"))).await?;
        assert_eq!(
            status,
            200,
            "request {i} after the kill: {body}; nginx: {}",
            nginx.error_log()
        );
        assert_eq!(body["jobs"][0]["name"], "via-nginx");
    }
    let (status, _) = send(client.get(nginx.url("/readyz"))).await?;
    assert_eq!(status, 200);
    // Each request has its log line (tower-http's trace layer), and no credential in it.
    let log = s2.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("finished processing request"));
    assert!(lines.count() >= 10, "request log lines in:\n{log}");
    assert!(!log.contains(ADMIN_TOKEN), "a credential reached the log");
    nginx.stop();
    drop(s2);
    Ok(())
}
