//! Two schedulers behind a real nginx, trusting it (`CRONY_TRUSTED_PROXIES=127.0.0.1/32`):
//! clients connecting to nginx from different loopback addresses are throttled and audited
//! each by its own address, so one client's failed logins neither slow down another nor lock
//! the user out elsewhere; an `X-Forwarded-For` a client makes up is not believed, through
//! nginx or straight to a scheduler; and with one scheduler stopped nginx still answers.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use common::send;
use crony_common::tls::ServerIdentity;
use crony_scheduler::SchedulerConfig;
use crony_scheduler::auth::client_addr::TrustedProxies;
use crony_tests::process::crony_command;
use crony_tests::{Nginx, TestEnv, TestPki, TestScheduler};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

const NGINX: &str = "127.0.0.1/32";

/// A client whose connections come from `ip` (Linux routes all of 127.0.0.0/8 to lo).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a reqwest client builds")
}

struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

async fn login(
    client: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> anyhow::Result<Answer> {
    let mut request = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": password}));
    if let Some(claimed) = forwarded_for {
        request = request.header("X-Forwarded-For", claimed);
    }
    let response = request.send().await?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = response.json().await.unwrap_or(Value::Null);
    Ok(Answer {
        status,
        body,
        retry_after,
    })
}

fn trusting_nginx(config: &mut SchedulerConfig) {
    config.auth.trusted_proxies = TrustedProxies::parse(NGINX).expect("a valid list");
}

/// The addresses the audit log recorded for `action` by `actor`.
async fn audited_ips(base: &str, action: &str, actor: &str) -> anyhow::Result<BTreeSet<String>> {
    let url = format!("{base}/api/v1/audit?action={action}&actor={actor}&limit=500");
    let (status, audit) = send(crony_tests::api_client().get(url)).await?;
    anyhow::ensure!(status == StatusCode::OK, "audit: {status} {audit}");
    Ok(audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["ip"].as_str().unwrap_or("<none>").to_owned())
        .collect())
}

/// Client A fails for `alice` through nginx until both schedulers (nginx alternates between
/// them) make it wait at least `min_wait` seconds more.
async fn fail_until_both_make_a_wait(
    a: &reqwest::Client,
    nginx: &Nginx,
    min_wait: u64,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut waits_in_a_row = 0;
    while waits_in_a_row < 2 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "client A was never made to wait by both schedulers; nginx: {}",
            nginx.error_log()
        );
        let answer = login(a, &nginx.base_url(), "alice", "a-wrong-guess", None).await?;
        match answer.status {
            StatusCode::UNAUTHORIZED => waits_in_a_row = 0,
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = answer.retry_after.expect("a 429 says Retry-After");
                assert_eq!(answer.body["error"]["code"], "too_many_requests");
                if wait >= min_wait {
                    waits_in_a_row += 1;
                } else {
                    waits_in_a_row = 0;
                    // The short waits at first: the next failure after each doubles it.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            other => anyhow::bail!("unexpected answer {other}: {}", answer.body),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_each_client_is_throttled_and_audited_by_its_own_address() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let s1 = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, trusting_nginx).await?;
    let s2 = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, trusting_nginx).await?;
    let upstreams = [
        s1.scheduler.http_addr.to_string(),
        s2.scheduler.http_addr.to_string(),
    ];
    let nginx = Nginx::start(&[&upstreams[0], &upstreams[1]])?;
    let proxy = nginx.base_url();
    let admin = crony_tests::api_client();
    for (name, password) in [("alice", "alice-password-1"), ("bob", "bob-password-1")] {
        let (status, body) = send(admin.post(s1.url("/api/v1/users")).json(&json!({
            "username": name, "password": password, "role": "viewer"})))
        .await?;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let a = client_from([127, 0, 0, 2]);
    let b = client_from([127, 0, 0, 3]);

    // A guesses alice's password until both schedulers make it wait 3 s and more…
    fail_until_both_make_a_wait(&a, &nginx, 3).await?;
    // …and then even the right password from A waits…
    for _ in 0..2 {
        let answer = login(&a, &proxy, "alice", "alice-password-1", None).await?;
        assert_eq!(
            answer.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            answer.body
        );
    }
    // …while B signs in as alice and as bob at once, on both schedulers.
    for user in ["alice", "alice", "bob", "bob"] {
        let answer = login(&b, &proxy, user, &format!("{user}-password-1"), None).await?;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "B as {user} is not slowed down by A: {}",
            answer.body
        );
    }

    // A client that makes up an X-Forwarded-For is not believed: through nginx the address
    // nginx saw counts; straight to a scheduler (not a trusted proxy) the header is ignored.
    let c = client_from([127, 0, 0, 4]);
    let answer = login(&c, &proxy, "bob", "bob-password-1", Some("127.0.0.99")).await?;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let d = client_from([127, 0, 0, 5]);
    let answer = login(
        &d,
        &s2.base_url,
        "bob",
        "bob-password-1",
        Some("127.0.0.99"),
    )
    .await?;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // The audit log names each client's own address, never nginx's or a forged one.
    let set = |ips: &[&str]| ips.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let failed = audited_ips(&s1.base_url, "auth.login_failed", "alice").await?;
    assert_eq!(failed, set(&["127.0.0.2"]), "failed logins are A's");
    let alice = audited_ips(&s1.base_url, "auth.login", "alice").await?;
    assert_eq!(alice, set(&["127.0.0.3"]), "alice signed in from B");
    let bob = audited_ips(&s1.base_url, "auth.login", "bob").await?;
    assert_eq!(
        bob,
        set(&["127.0.0.3", "127.0.0.4", "127.0.0.5"]),
        "bob signed in from B, and from C and D who claimed 127.0.0.99"
    );

    // With one scheduler stopped, nginx sends everything to the other.
    s1.stop().await;
    for _ in 0..4 {
        let (status, body) = send(admin.get(nginx.url("/api/v1/auth/me"))).await?;
        assert_eq!(
            status,
            StatusCode::OK,
            "{body}; nginx: {}",
            nginx.error_log()
        );
    }
    let answer = login(&b, &proxy, "bob", "bob-password-1", None).await?;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    nginx.stop();
    s2.stop().await;
    Ok(())
}

/// The TLS listener hands the peer address over like the plain one: an untrusted peer is
/// recorded as itself whatever it claims, and a trusted one (a proxy) is believed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_peer_address_decides_too() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let pki = TestPki::create(&env.path("pki"), "cluster")?;
    let identity = ServerIdentity::load(&pki.cert, &pki.key)?;
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |config| {
        config.tls = Some(identity);
        trusting_nginx(config);
    })
    .await?;
    assert!(s.base_url.starts_with("https://"));
    let tls_client_from = |ip: [u8; 4]| -> anyhow::Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&pki.ca)?)?;
        Ok(reqwest::Client::builder()
            .add_root_certificate(ca)
            .local_address(IpAddr::from(ip))
            .build()?)
    };
    let stranger = tls_client_from([127, 0, 0, 6])?;
    let answer = login(
        &stranger,
        &s.base_url,
        "admin",
        crony_tests::ADMIN_PASSWORD,
        Some("127.0.0.99"),
    )
    .await?;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let proxy = tls_client_from([127, 0, 0, 1])?;
    let answer = login(
        &proxy,
        &s.base_url,
        "admin",
        crony_tests::ADMIN_PASSWORD,
        Some("127.0.0.7"),
    )
    .await?;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let url = s.url("/api/v1/audit?action=auth.login&actor=admin");
    let (status, audit) = send(pki.client()?.get(url)).await?;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let ips: Vec<&str> = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["ip"].as_str())
        .collect();
    assert_eq!(ips, ["127.0.0.7", "127.0.0.6"], "newest first: {audit}");
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_name_longer_than_any_account_name_is_a_400() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let client = reqwest::Client::new();
    let answer = login(&client, &s.base_url, &"x".repeat(65), "whatever-1", None).await?;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], "username");
    let answer = login(&client, &s.base_url, &"x".repeat(64), "whatever-1", None).await?;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    s.stop().await;
    Ok(())
}

#[test]
fn a_bad_trusted_proxy_list_is_a_one_line_start_up_error() {
    let output = crony_command("crony-test-scheduler")
        .env("CRONY_TRUSTED_PROXIES", "127.0.0.1,proxy.internal")
        .env("CRONY_CLUSTER_TOKEN", crony_tests::CLUSTER_TOKEN)
        .env("CRONY_HTTP_ADDR", "127.0.0.1:0")
        .env("CRONY_GRPC_ADDR", "127.0.0.1:0")
        .output()
        .expect("the scheduler runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("crony-scheduler: "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("CRONY_TRUSTED_PROXIES") && lines[0].contains("proxy.internal"),
        "{}",
        lines[0]
    );
}
