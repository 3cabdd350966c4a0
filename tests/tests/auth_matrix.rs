//! Who may call what, on a real scheduler with MariaDB and etcd: every route × {no
//! credentials, viewer, operator, admin, revoked token, expired token} answers 401/403 exactly
//! where `common::routes` says, the OpenAPI document states the same roles, operators cannot
//! touch shell jobs, an execution's report token opens nothing else, and API tokens are
//! shown once and stored hashed.

mod common;

use std::time::Duration;

use common::routes::{Access, ROUTES};
use common::send;
use crony_tests::{TestEnv, TestScheduler, wait_until};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ROLES: [&str; 3] = ["viewer", "operator", "admin"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).expect("a known role")
}

/// A token made through the API by the configured admin token.
async fn make_token(
    s: &TestScheduler,
    role: &str,
    expires_at: Option<String>,
) -> anyhow::Result<(u64, String)> {
    let c = crony_tests::api_client();
    let (status, body) = send(c.post(s.url("/api/v1/tokens")).json(&json!({
        "name": format!("{role} script"),
        "role": role,
        "expires_at": expires_at,
    })))
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok((
        body["id"].as_u64().expect("id"),
        body["token"].as_str().expect("token shown once").to_owned(),
    ))
}

/// The same request with `credential` as bearer (none when `None`).
fn request(s: &TestScheduler, route: &str, credential: Option<&str>) -> reqwest::RequestBuilder {
    let (method, path) = route.split_once(' ').expect("METHOD path");
    let path = path.replace("{id}", "999999").replace("{name}", "nobody");
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    // A plain client: the harness's default admin token must not leak into these calls.
    let mut request = reqwest::Client::new().request(method.clone(), s.url(&path));
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        request = request.json(&json!({}));
    }
    if let Some(token) = credential {
        request = request.bearer_auth(token);
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_401_and_403_exactly_where_its_role_says() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;

    let mut tokens = Vec::new();
    for role in ROLES {
        tokens.push((role, make_token(&s, role, None).await?.1));
    }
    let (revoked_id, revoked) = make_token(&s, "admin", None).await?;
    let (status, _) =
        send(crony_tests::api_client().delete(s.url(&format!("/api/v1/tokens/{revoked_id}"))))
            .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (_, expired) = make_token(&s, "admin", Some(soon)).await?;
    wait_until(
        "the short-lived token expires",
        Duration::from_secs(10),
        || {
            let r = reqwest::Client::new()
                .get(s.url("/api/v1/auth/me"))
                .bearer_auth(&expired);
            async move {
                let status = r.send().await.map_err(|e| e.to_string())?.status();
                Ok((status == StatusCode::UNAUTHORIZED).then_some(()))
            }
        },
    )
    .await?;

    let mut checked = 0;
    for (route, access) in ROUTES {
        // No credentials, revoked, expired: 401 wherever a credential is needed.
        for (label, credential) in [
            ("no credentials", None),
            ("revoked token", Some(revoked.as_str())),
            ("expired token", Some(expired.as_str())),
        ] {
            let (status, body) = send(request(&s, route, credential)).await?;
            match access {
                Access::Public => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{route} with {label}: {status} {body}"
                ),
                Access::ReportToken | Access::Role(_) => {
                    assert_eq!(
                        status,
                        StatusCode::UNAUTHORIZED,
                        "{route} with {label}: {body}"
                    );
                    assert_eq!(body["error"]["code"], "unauthenticated", "{route}: {body}");
                }
            }
            checked += 1;
        }
        for (role, token) in &tokens {
            let (status, body) = send(request(&s, route, Some(token))).await?;
            match access {
                Access::Public => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{route} as {role}: {status} {body}"
                ),
                // API tokens never report results: only the execution's own token does.
                Access::ReportToken => {
                    assert_eq!(
                        status,
                        StatusCode::UNAUTHORIZED,
                        "{route} as {role}: {body}"
                    )
                }
                Access::Role(needed) if rank(role) < rank(needed) => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{route} as {role}: {body}");
                    assert_eq!(
                        body["error"]["code"], "permission_denied",
                        "{route}: {body}"
                    );
                }
                Access::Role(_) => assert!(
                    status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::FORBIDDEN
                        && !status.is_server_error(),
                    "{route} as {role}: {status} {body}"
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ROUTES.len() * 6);

    // The OpenAPI document states the same role per operation, and 401/403 where it applies.
    let (_, doc) = send(reqwest::Client::new().get(s.url("/api/v1/openapi.json"))).await?;
    for (route, access) in ROUTES {
        let (method, path) = route.split_once(' ').expect("METHOD path");
        let op = &doc["paths"][path][method.to_lowercase()];
        match access {
            Access::Public => assert!(op["security"].is_null(), "{route}: {}", op["security"]),
            Access::ReportToken => assert_eq!(op["security"], json!([{"report_token": []}])),
            Access::Role(role) => {
                assert_eq!(
                    op["security"],
                    json!([{"token": [role]}, {"session": [role]}]),
                    "{route}"
                );
                for status in ["401", "403"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{route} documents {status}"
                    );
                }
            }
        }
    }
    s.stop().await;
    Ok(())
}

fn shell_job(name: &str) -> Value {
    json!({
        "name": name,
        "schedule": "0 0 3 * * *",
        "target": {"kind": "shell", "command": "echo hi"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_create_change_or_delete_shell_jobs() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let (_, operator) = make_token(&s, "operator", None).await?;
    let op = |r: reqwest::RequestBuilder| r.bearer_auth(&operator);
    let c = reqwest::Client::new();

    let (status, body) = send(op(c
        .post(s.url("/api/v1/jobs"))
        .json(&shell_job("op-shell"))))
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("shell")
    );

    let admin = crony_tests::api_client();
    let (status, job) = send(
        admin
            .post(s.url("/api/v1/jobs"))
            .json(&shell_job("admin-shell")),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();

    // Neither edit nor delete it, nor turn it into an HTTP job.
    let mut edited = shell_job("admin-shell");
    edited["target"]["command"] = json!("rm -rf /tmp/x");
    let (status, _) = send(op(c
        .put(s.url(&format!("/api/v1/jobs/{id}")))
        .json(&edited)))
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let http = json!({"name": "admin-shell", "schedule": "0 0 3 * * *",
        "target": {"kind": "http", "url": "http://127.0.0.1:9/x"}});
    let (status, _) = send(op(c.put(s.url(&format!("/api/v1/jobs/{id}"))).json(&http))).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(op(c.delete(s.url(&format!("/api/v1/jobs/{id}"))))).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Pausing and resuming are operations, which operators may do.
    let (status, paused) = send(op(c.post(s.url(&format!("/api/v1/jobs/{id}/pause"))))).await?;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["enabled"], false);
    // What was refused changed nothing.
    let (_, stored) = send(admin.get(s.url(&format!("/api/v1/jobs/{id}")))).await?;
    assert_eq!(stored["target"]["command"], "echo hi");
    // Operators do create HTTP jobs.
    let (status, body) = send(op(c.post(s.url("/api/v1/jobs")).json(&json!({
        "name": "op-http", "schedule": "0 0 3 * * *",
        "target": {"kind": "http", "url": "http://127.0.0.1:9/x"}}))))
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_shown_once_stored_hashed_and_revocable_at_once() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let (id, token) = make_token(&s, "viewer", None).await?;
    assert!(token.starts_with("crony_"));

    let admin = crony_tests::api_client();
    let (_, list) = send(admin.get(s.url("/api/v1/tokens"))).await?;
    let listed = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .expect("listed");
    assert!(listed.get("token").is_none(), "never shown again: {listed}");
    assert_eq!(listed["prefix"], &token[..10]);
    assert!(!list.to_string().contains(&token));

    let pool = sqlx::MySqlPool::connect(&env.db_url).await?;
    let (hash,): (String,) = sqlx::query_as("SELECT token_hash FROM api_tokens WHERE id = ?")
        .bind(id)
        .fetch_one(&pool)
        .await?;
    assert_ne!(hash, token);
    assert!(!hash.contains(&token[6..]));

    let me = || {
        reqwest::Client::new()
            .get(s.url("/api/v1/auth/me"))
            .bearer_auth(&token)
    };
    let (status, who) = send(me()).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (who["kind"].as_str(), who["role"].as_str()),
        (Some("token"), Some("viewer"))
    );
    let (status, _) = send(admin.delete(s.url(&format!("/api/v1/tokens/{id}")))).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(me()).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );

    // Bad requests name the field.
    for (body, field) in [
        (json!({"name": "", "role": "viewer"}), "name"),
        (json!({"name": "x", "role": "root"}), "role"),
        (
            json!({"name": "x", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let (status, answer) = send(admin.post(s.url("/api/v1/tokens")).json(&body)).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    pool.close().await;
    s.stop().await;
    Ok(())
}
