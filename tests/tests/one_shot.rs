//! `@at` jobs (issue 15): one fire, then the job is done — disabled in MySQL, audited, off its
//! agent; an instant in the past is refused by name, and so is resuming a job whose instant
//! has passed.

mod common;

use std::time::Duration;

use common::{agent_grpc_addr, create_job, get_json, held_by_agent, online, post};
use crony_tests::{AgentProcess, HttpSink, TestEnv, TestScheduler, wait_until};
use serde_json::json;

/// POSTs and expects a 400 naming `schedule`; returns the error body.
async fn refused_on_schedule(
    base: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let (status, err) = post(base, path, body).await.map_err(anyhow::Error::msg)?;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("schedule")),
        "{path}: {err}"
    );
    Ok(err)
}

#[tokio::test]
async fn an_at_job_fires_once_then_is_disabled_and_a_past_at_is_refused() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut agent = AgentProcess::spawn(env.agent_spec("a"))?;
    agent.id().await?;
    online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;

    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let at = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let body = json!({"name": "once", "schedule": format!("@at {at}"),
                      "target": {"kind": "http", "url": sink.url("/once")}});
    let id = create_job(&s.base_url, &body)
        .await
        .map_err(anyhow::Error::msg)?;
    let job_url = s.url(&format!("/api/v1/jobs/{id}"));
    let job = wait_until(
        "the job is done after its fire",
        Duration::from_secs(20),
        || async {
            let (_, job) = get_json(&job_url).await?;
            Ok((job["enabled"] == false).then_some(job))
        },
    )
    .await?;
    assert_eq!(sink.calls_to("/once").len(), 1, "fired once");
    assert_eq!(
        job["schedule"],
        format!("@at {at}"),
        "the definition is kept"
    );
    let grpc = agent_grpc_addr(&s.base_url).await?;
    wait_until(
        "the agent lets the job go",
        Duration::from_secs(10),
        || async { Ok((!held_by_agent(&grpc).await?.contains_key(&id)).then_some(())) },
    )
    .await?;
    let (_, audit) = get_json(&s.url(&format!(
        "/api/v1/audit?target_type=job&target_id={id}&action=job.pause"
    )))
    .await
    .map_err(anyhow::Error::msg)?;
    let entry = &audit["entries"][0];
    assert_eq!(entry["actor"]["kind"], "system", "{audit}");

    // Resuming it would never fire: refused, naming the schedule.
    refused_on_schedule(&s.base_url, &format!("/api/v1/jobs/{id}/resume"), None).await?;

    // A new one-shot job in the past: 400 naming the schedule, nothing written.
    let past = json!({"name": "too-late", "schedule": "@at 2026-01-01T00:00:00Z",
                      "target": {"kind": "http", "url": sink.url("/late")}});
    let err = refused_on_schedule(&s.base_url, "/api/v1/jobs", Some(&past)).await?;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("in the past"),
        "{err}"
    );
    let (_, jobs) = get_json(&s.url("/api/v1/jobs?q=too-late"))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(jobs["jobs"].as_array().map_or(0, Vec::len), 0);
    drop(agent);
    s.stop().await;
    Ok(())
}
