//! Issue 7 (secrets): a secret HTTP header, a Feishu signing secret, the SMTP password, the
//! cluster token, the admin password, API tokens and session cookies are used for real (the
//! sink gets the header, the Feishu stand-in checks the signature, the agent reports) but never
//! appear in any API answer or in any log line of the scheduler and agent processes; with
//! `CRONY_SECRET_KEY` set, reading MySQL alone does not show the job secrets either.

mod common;

use std::time::Duration;

use crony_tests::{
    AgentProcess, FeishuBot, HttpSink, SchedulerProcess, SmtpServer, TestEnv, wait_until,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const HEADER_SECRET: &str = "Bearer hdr-5ecret-9d1e";
const FEISHU_SECRET: &str = "feishu-5ecret-41c7";
const SMTP_PASSWORD: &str = "smtp-5ecret-b3aa";
const CLUSTER_TOKEN: &str = "cluster-5ecret-77f0-0d6c2a9b41e8f357";
const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const USER_PASSWORD: &str = "operator-5ecret-pw";

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, String)> {
    let response = request.send().await?;
    Ok((response.status(), response.text().await?))
}

#[tokio::test]
async fn secrets_never_show_in_answers_logs_or_mysql_yet_reach_their_targets() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let smtp = SmtpServer::start().await?;
    let bot = FeishuBot::start(Some(FEISHU_SECRET)).await?;
    let sink = HttpSink::start().await?;
    let smtp_url = smtp
        .url()
        .replace("smtp://", &format!("smtp://crony:{SMTP_PASSWORD}@"));
    let scheduler = SchedulerProcess::spawn_with(
        &env.etcd,
        &env.prefix,
        &env.db_url,
        &env.path("logs"),
        &[
            ("CRONY_CLUSTER_TOKEN", CLUSTER_TOKEN),
            ("CRONY_SECRET_KEY", SECRET_KEY),
            ("CRONY_SMTP_URL", &smtp_url),
            ("CRONY_SMTP_FROM", "crony@example.com"),
            ("RUST_LOG", "debug,sqlx=info,h2=info,hyper=info,tower=info"),
        ],
    )?;
    let mut agent = AgentProcess::spawn(
        env.agent_spec("agent")
            .ttl(2)
            .env("CRONY_CLUSTER_TOKEN", CLUSTER_TOKEN)
            .env("RUST_LOG", "debug,h2=info,hyper=info,tower=info"),
    )?;
    agent.id().await?;
    common::online(&scheduler.base_url, 1).await?;
    let admin = crony_tests::api_client();

    // An operator account and a script token, made through the API.
    let (status, body) = send(admin.post(scheduler.url("/api/v1/users")).json(&json!({
        "username": "olga", "password": USER_PASSWORD, "role": "operator"})))
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = send(
        admin
            .post(scheduler.url("/api/v1/tokens"))
            .json(&json!({"name": "ci", "role": "viewer"})),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let api_token = serde_json::from_str::<Value>(&body)?["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A job whose target needs the secret header, failing so that it alerts through Feishu
    // (signed with the job's secret) and email (through the password-protected SMTP server).
    sink.answer(500);
    let spec = json!({
        "name": "secretive",
        "schedule": "0 0 3 1 1 *",
        "target": {"kind": "http", "url": sink.url("/run"),
                   "headers": {"Authorization": HEADER_SECRET, "X-Plain": "visible"},
                   "secret_headers": ["authorization"]},
        "alerts": {"on": ["failed"], "emails": ["oncall@example.com"],
                   "feishu_webhooks": [{"url": bot.url(), "secret": FEISHU_SECRET}]},
    });
    let (status, body) = send(admin.post(scheduler.url("/api/v1/jobs")).json(&spec)).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let job: Value = serde_json::from_str(&body)?;
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["target"]["headers"]["Authorization"], "********");
    assert_eq!(job["target"]["headers"]["X-Plain"], "visible");

    // Sessions: a login's cookie is a secret as well.
    let login = reqwest::Client::new()
        .post(scheduler.url("/api/v1/auth/login"))
        .json(&json!({"username": "olga", "password": USER_PASSWORD}))
        .send()
        .await?;
    assert_eq!(login.status(), StatusCode::OK);
    let cookies: Vec<String> = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find_map(|c| c.strip_prefix("crony_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();

    // Trigger it until it has failed and alerted; an unchanged PUT of what GET showed keeps
    // the secret, and the next run still sends it.
    let trigger = || admin.post(scheduler.url(&format!("/api/v1/jobs/{id}/trigger")));
    wait_until(
        "the job is pushed and runs",
        Duration::from_secs(20),
        || async {
            Ok(
                (send(trigger()).await.map_err(|e| e.to_string())?.0 == StatusCode::ACCEPTED)
                    .then_some(()),
            )
        },
    )
    .await?;
    wait_until(
        "Feishu and email alerts",
        Duration::from_secs(20),
        || async { Ok((!bot.accepted().is_empty() && !smtp.mails().is_empty()).then_some(())) },
    )
    .await?;
    let mut shown = job.clone();
    for field in [
        "id",
        "agent_id",
        "assignment_epoch",
        "created_at",
        "updated_at",
        "last_scheduled_at",
        "next_fires",
        "last_outcome",
    ] {
        shown.as_object_mut().unwrap().remove(field);
    }
    let (status, body) = send(
        admin
            .put(scheduler.url(&format!("/api/v1/jobs/{id}")))
            .json(&shown),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let calls_before = sink.calls_to("/run").len();
    wait_until("a run after the PUT", Duration::from_secs(20), || async {
        let _ = send(trigger()).await;
        Ok((sink.calls_to("/run").len() > calls_before).then_some(()))
    })
    .await?;
    for call in sink.calls_to("/run") {
        assert_eq!(call.header("authorization"), HEADER_SECRET);
    }
    assert_eq!(smtp.mails()[0].auth_user.as_deref(), Some("crony"));

    let secrets = [
        HEADER_SECRET,
        FEISHU_SECRET,
        SMTP_PASSWORD,
        CLUSTER_TOKEN,
        SECRET_KEY,
        USER_PASSWORD,
        crony_tests::ADMIN_PASSWORD,
        crony_tests::ADMIN_TOKEN,
        api_token.as_str(),
        session.as_str(),
    ];
    let leaks = |what: &str, text: &str| {
        for secret in secrets {
            assert!(!text.contains(secret), "{what} shows the secret {secret:?}");
        }
    };

    // Every answer a user can read.
    for path in [
        "/api/v1/jobs".to_owned(),
        format!("/api/v1/jobs/{id}"),
        format!("/api/v1/executions?job_id={id}"),
        "/api/v1/alerts".to_owned(),
        "/api/v1/agents".to_owned(),
        "/api/v1/users".to_owned(),
        "/api/v1/tokens".to_owned(),
        "/api/v1/audit?limit=500".to_owned(),
        "/api/v1/auth/me".to_owned(),
        "/api/v1/openapi.json".to_owned(),
        "/metrics".to_owned(),
    ] {
        let (status, body) = send(admin.get(scheduler.url(&path))).await?;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        leaks(&path, &body);
    }
    let (_, executions) =
        send(admin.get(scheduler.url(&format!("/api/v1/executions?job_id={id}")))).await?;
    let first = serde_json::from_str::<Value>(&executions)?["executions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, detail) =
        send(admin.get(scheduler.url(&format!("/api/v1/executions/{first}")))).await?;
    leaks("an execution", &detail);

    // MySQL alone: job specs and the audit trail hold no secret in clear.
    let pool = sqlx::MySqlPool::connect(&env.db_url).await?;
    let (stored,): (String,) = sqlx::query_as("SELECT spec FROM jobs WHERE id = ?")
        .bind(&id)
        .fetch_one(&pool)
        .await?;
    assert!(stored.contains("enc:v1:"), "{stored}");
    leaks("jobs.spec", &stored);
    let audit: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT before_state, after_state FROM audit_log")
            .fetch_all(&pool)
            .await?;
    assert!(!audit.is_empty());
    for (before, after) in audit {
        leaks("audit_log", &format!("{before:?} {after:?}"));
    }
    let tokens: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM api_tokens")
        .fetch_all(&pool)
        .await?;
    leaks("api_tokens", &format!("{tokens:?}"));
    pool.close().await;

    // Every log line of both processes.
    let scheduler_log = scheduler.log();
    let agent_log = agent.log();
    assert!(
        scheduler_log.len() > 1_000 && agent_log.len() > 1_000,
        "the logs were written"
    );
    leaks("the scheduler's log", &scheduler_log);
    leaks("the agent's log", &agent_log);
    Ok(())
}
