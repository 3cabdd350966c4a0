//! Dashboard accounts on a real scheduler with MariaDB and etcd: signing in sets a session
//! cookie (HttpOnly, SameSite=Strict) and changes through it need the CSRF token; signing out
//! ends it; repeated failures make further attempts wait; disabling an account or changing its
//! password ends its sessions; the last admin cannot be removed; and with no admin configured
//! the first one is made with the one-time setup token the scheduler logs.

mod common;

use std::time::Duration;

use common::send;
use crony_tests::{SchedulerProcess, TestEnv, TestScheduler, wait_until};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

/// A signed-in browser: its cookies and the CSRF token of the login answer.
struct Session {
    cookie: String,
    csrf: String,
    set_cookies: Vec<String>,
}

async fn login(
    base: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<Result<Session, (StatusCode, Value)>> {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await?;
    let status = response.status();
    let set_cookies: Vec<String> = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .cloned();
    let body: Value = response.json().await?;
    if status != StatusCode::OK {
        let mut body = body;
        if let Some(r) = retry_after {
            body["retry_after"] = json!(r.to_str()?.parse::<u64>()?);
        }
        return Ok(Err((status, body)));
    }
    let value = |name: &str| {
        set_cookies
            .iter()
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_owned()
    };
    let cookie = format!(
        "crony_session={}; crony_csrf={}",
        value("crony_session"),
        value("crony_csrf")
    );
    let csrf = body["csrf_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        value("crony_csrf"),
        csrf,
        "the CSRF cookie is the login's csrf_token"
    );
    let session = Session {
        cookie,
        csrf,
        set_cookies,
    };
    Ok(Ok(session))
}

fn with(session: &Session, request: RequestBuilder) -> RequestBuilder {
    request.header(reqwest::header::COOKIE, &session.cookie)
}

fn http_job(name: &str) -> Value {
    json!({"name": name, "schedule": "0 0 3 * * *",
           "target": {"kind": "http", "url": "http://127.0.0.1:9/x"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_needs_its_csrf_token_for_changes_and_ends_at_logout() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let c = reqwest::Client::new();

    let session = login(&s.base_url, "admin", crony_tests::ADMIN_PASSWORD)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let session_cookie = session
        .set_cookies
        .iter()
        .find(|c| c.starts_with("crony_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(
            session_cookie.contains(attribute),
            "{session_cookie} lacks {attribute}"
        );
    }
    assert!(
        !session_cookie.contains("Secure"),
        "no TLS here: {session_cookie}"
    );
    let csrf_cookie = session
        .set_cookies
        .iter()
        .find(|c| c.starts_with("crony_csrf="))
        .unwrap();
    assert!(
        !csrf_cookie.contains("HttpOnly"),
        "pages read it: {csrf_cookie}"
    );

    let (status, me) = send(with(&session, c.get(s.url("/api/v1/auth/me")))).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            me["kind"].as_str(),
            me["name"].as_str(),
            me["role"].as_str()
        ),
        (Some("user"), Some("admin"), Some("admin"))
    );

    // A change with the cookie alone (what a forged cross-site form sends) is refused.
    let (status, body) = send(with(
        &session,
        c.post(s.url("/api/v1/jobs")).json(&http_job("forged")),
    ))
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "csrf_failed");
    let (status, _) = send(
        with(
            &session,
            c.post(s.url("/api/v1/jobs")).json(&http_job("forged")),
        )
        .header("X-CSRF-Token", "not-the-token"),
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = send(
        with(
            &session,
            c.post(s.url("/api/v1/jobs")).json(&http_job("real")),
        )
        .header("X-CSRF-Token", &session.csrf),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, jobs) = send(crony_tests::api_client().get(s.url("/api/v1/jobs"))).await?;
    let names: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["name"].as_str())
        .collect();
    assert_eq!(names, ["real"], "the refused changes stored nothing");

    // The audit log says who signed in and who made the job.
    let (_, audit) = send(crony_tests::api_client().get(s.url("/api/v1/audit"))).await?;
    let entries = audit["entries"].as_array().unwrap();
    let by = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .map(|e| e["actor"]["name"].clone())
    };
    assert_eq!(by("auth.login"), Some(json!("admin")));
    assert_eq!(by("job.create"), Some(json!("admin")));

    // Logout ends the session on the server, not only in the browser.
    let (status, _) = send(with(&session, c.post(s.url("/api/v1/auth/logout")))).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(with(&session, c.get(s.url("/api/v1/auth/me")))).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_make_further_attempts_wait() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let admin = crony_tests::api_client();
    let (status, _) = send(admin.post(s.url("/api/v1/users")).json(&json!({
        "username": "vera", "password": "vera-password-1", "role": "viewer"})))
    .await?;
    assert_eq!(status, StatusCode::CREATED);

    for attempt in 1..=5 {
        let (status, body) = login(&s.base_url, "vera", "guess-number-x")
            .await?
            .err()
            .expect("refused");
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
    }
    // Now even the right password must wait: guessing is throttled, not only failing.
    let (status, body) = login(&s.base_url, "vera", "vera-password-1")
        .await?
        .err()
        .expect("throttled");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests");
    assert!(
        body["retry_after"].as_u64().is_some_and(|s| s >= 1),
        "{body}"
    );
    // Other accounts are not locked out by it.
    assert!(
        login(&s.base_url, "admin", crony_tests::ADMIN_PASSWORD)
            .await?
            .is_ok()
    );
    // After the wait, the right password works again.
    wait_until(
        "the throttle lets vera in",
        Duration::from_secs(10),
        || async {
            Ok(login(&s.base_url, "vera", "vera-password-1")
                .await
                .map_err(|e| e.to_string())?
                .ok()
                .map(|_| ()))
        },
    )
    .await?;
    let (_, audit) = send(admin.get(s.url("/api/v1/audit?action=auth.login_failed"))).await?;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 5, "{audit}");
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_or_a_new_password_ends_sessions_and_the_last_admin_stays() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let admin = crony_tests::api_client();
    let c = reqwest::Client::new();
    let (_, user) = send(admin.post(s.url("/api/v1/users")).json(&json!({
        "username": "otto", "password": "otto-password-1", "role": "operator"})))
    .await?;
    let id = user["id"].as_u64().unwrap();
    let me = |session: &Session| with(session, c.get(s.url("/api/v1/auth/me")));

    let session = login(&s.base_url, "otto", "otto-password-1")
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (status, _) = send(
        admin
            .patch(s.url(&format!("/api/v1/users/{id}")))
            .json(&json!({"password": "otto-password-2"})),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(send(me(&session)).await?.0, StatusCode::UNAUTHORIZED);
    assert!(
        login(&s.base_url, "otto", "otto-password-1")
            .await?
            .is_err()
    );

    let session = login(&s.base_url, "otto", "otto-password-2")
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (status, _) = send(
        admin
            .patch(s.url(&format!("/api/v1/users/{id}")))
            .json(&json!({"disabled": true})),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(send(me(&session)).await?.0, StatusCode::UNAUTHORIZED);
    let (status, body) = login(&s.base_url, "otto", "otto-password-2")
        .await?
        .err()
        .expect("disabled");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Bad input names the field; the only admin can be neither demoted nor deleted.
    for (body, field) in [
        (
            json!({"username": "x y", "password": "long-enough-1", "role": "viewer"}),
            "username",
        ),
        (
            json!({"username": "shorty", "password": "short", "role": "viewer"}),
            "password",
        ),
        (
            json!({"username": "otto", "password": "long-enough-1", "role": "viewer"}),
            "username",
        ),
    ] {
        let (status, answer) = send(admin.post(s.url("/api/v1/users")).json(&body)).await?;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT,
            "{answer}"
        );
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (_, users) = send(admin.get(s.url("/api/v1/users"))).await?;
    let admin_id = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "admin")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let (status, _) = send(
        admin
            .patch(s.url(&format!("/api/v1/users/{admin_id}")))
            .json(&json!({"role": "viewer"})),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = send(admin.delete(s.url(&format!("/api/v1/users/{admin_id}")))).await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        users.to_string().find("password").is_none(),
        "no hashes in answers: {users}"
    );
    s.stop().await;
    Ok(())
}

#[tokio::test]
async fn without_a_configured_admin_the_first_one_comes_from_the_logged_setup_token()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let scheduler = SchedulerProcess::spawn_with(
        &env.etcd,
        &env.prefix,
        &env.db_url,
        &env.path("logs"),
        &[("CRONY_ADMIN_PASSWORD", ""), ("CRONY_ADMIN_TOKEN", "")],
    )?;
    let setup_token = wait_until(
        "the setup token in the log",
        Duration::from_secs(30),
        || async {
            Ok(scheduler
                .log()
                .lines()
                .map(strip_colours)
                .find_map(|l| l.split("setup_token=").nth(1).map(str::to_owned))
                .and_then(|rest| rest.split_whitespace().next().map(str::to_owned)))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}; the scheduler's log:\n{}", scheduler.log()))?;
    // The token is logged while the scheduler starts, before it serves HTTP.
    wait_until(
        "the scheduler serves HTTP",
        Duration::from_secs(30),
        || async {
            let up = reqwest::get(scheduler.url("/healthz")).await;
            Ok(up.is_ok_and(|r| r.status().is_success()).then_some(()))
        },
    )
    .await?;
    // No default password: nothing lets anyone in yet.
    assert!(login(&scheduler.base_url, "admin", "admin").await?.is_err());
    let c = reqwest::Client::new();
    let setup = |token: &str, password: &str| {
        c.post(scheduler.url("/api/v1/auth/setup")).json(&json!({
            "setup_token": token, "username": "root-admin", "password": password}))
    };
    assert_eq!(
        send(setup("wrong", "root-admin-password")).await?.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = send(setup(&setup_token, "short")).await?;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("password"))
    );
    // Two people racing to set up with different names: exactly one gets in.
    let rival = c.post(scheduler.url("/api/v1/auth/setup")).json(&json!({
        "setup_token": setup_token, "username": "rival-admin", "password": "rival-admin-password"}));
    let (mine, theirs) = tokio::join!(
        send(setup(&setup_token, "root-admin-password")),
        send(rival)
    );
    let ((status, user), (rival_status, rival_body)) = (mine?, theirs?);
    let mut statuses = [status, rival_status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{user} {rival_body}"
    );
    let (winner, password, created) = if status == StatusCode::CREATED {
        ("root-admin", "root-admin-password", user)
    } else {
        ("rival-admin", "rival-admin-password", rival_body)
    };
    assert_eq!(created["role"], "admin");
    assert_eq!(created["username"], winner);
    // One time only, and only the winner exists.
    assert_eq!(
        send(setup(&setup_token, "root-admin-password")).await?.0,
        StatusCode::CONFLICT
    );
    assert!(login(&scheduler.base_url, winner, password).await?.is_ok());
    let loser = if winner == "root-admin" {
        "rival-admin"
    } else {
        "root-admin"
    };
    let loser_password = format!("{loser}-password");
    assert!(
        login(&scheduler.base_url, loser, &loser_password)
            .await?
            .is_err()
    );
    Ok(())
}

/// The log line without the terminal colour codes tracing adds.
fn strip_colours(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Schedulers starting together on a new database all create "the" first admin and admin
/// token: every one starts, and there is one of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedulers_starting_together_make_one_admin_and_one_token() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let start = || TestScheduler::start(&env.etcd, &env.prefix, &env.db_url);
    // One task, four starts interleaving at every await: their transactions race.
    let (a, b, c, d) = tokio::join!(start(), start(), start(), start());
    let schedulers = [a?, b?, c?, d?];
    let (_, users) =
        send(crony_tests::api_client().get(schedulers[0].url("/api/v1/users"))).await?;
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "{users}");
    let (_, tokens) =
        send(crony_tests::api_client().get(schedulers[0].url("/api/v1/tokens"))).await?;
    let live: Vec<&Value> = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["revoked_at"].is_null())
        .collect();
    assert_eq!(live.len(), 1, "{tokens}");
    for s in schedulers {
        s.stop().await;
    }
    Ok(())
}
