//! Issue 15 (the alert outbox): an alert's intent commits with the change that causes it, so a
//! scheduler that dies between a failed execution and recording its alert loses nothing, and
//! the next one delivers it exactly once. Before the outbox the intent lived in the dead
//! scheduler's memory and the alert never came.

mod common;

use std::time::Duration;

use common::{create_job, executions_in_mysql, online};
use crony_tests::{AgentProcess, HttpSink, SchedulerProcess, TestEnv, wait_until};
use serde_json::json;
use sqlx::Connection;

/// The alert tables are held locked by the test (as a stuck MySQL would), so the scheduler's
/// recorder blocks exactly between the committed failure and its alert; the scheduler is then
/// SIGKILLed, the lock released, and a new scheduler started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_whose_scheduler_died_before_recording_its_alert_is_alerted_once()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let logs = env.dir.path().join("logs");
    let target = HttpSink::start().await?;
    target.answer(500);
    let hook = HttpSink::start().await?;
    let hook_url = hook.url("/hook");
    let settings = [("CRONY_ALERT_WEBHOOK", hook_url.as_str())];
    let mut first =
        SchedulerProcess::spawn_with(&env.etcd, &env.prefix, &env.db_url, &logs, &settings)?;
    let mut agent = AgentProcess::spawn(env.agent_spec("outbox").ttl(2))?;
    agent.id().await?;
    online(&first.base_url, 1).await?;
    let job = create_job(
        &first.base_url,
        &json!({
            "name": "outbox-failing",
            "schedule": "0 0 3 1 1 *",
            "target": {"kind": "http", "url": target.url("/run")},
            "alerts": {"on": ["failed"]},
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;

    let mut lock = sqlx::MySqlConnection::connect(&env.db_url).await?;
    sqlx::query("LOCK TABLES alerts WRITE, alert_throttle WRITE")
        .execute(&mut lock)
        .await?;
    let run = common::trigger_when_placed(&first.base_url, &job).await?;
    wait_until(
        "the run is failed in MySQL",
        Duration::from_secs(15),
        || async {
            let rows = executions_in_mysql(&env.db_url, &job).await?;
            Ok(rows
                .iter()
                .any(|(id, status, _)| *id == run && status == "failed")
                .then_some(()))
        },
    )
    .await?;
    first.kill();
    sqlx::query("UNLOCK TABLES").execute(&mut lock).await?;
    lock.close().await?;

    let second =
        SchedulerProcess::spawn_with(&env.etcd, &env.prefix, &env.db_url, &logs, &settings)?;
    let about_run = || {
        hook.calls_to("/hook")
            .into_iter()
            .filter(|c| c.body.contains(&run))
            .count()
    };
    wait_until(
        "the failure's alert reaches the webhook",
        Duration::from_secs(30),
        || async { Ok((about_run() > 0).then_some(())) },
    )
    .await
    .map_err(|e| e.context(format!("second scheduler's log: {}", second.log())))?;
    // Delivered once: the row is `sent` (so no retry is coming) and the hook saw it once.
    let pool = sqlx::MySqlPool::connect(&env.db_url).await?;
    let sent = wait_until(
        "the alert recorded as sent",
        Duration::from_secs(10),
        || async {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT status FROM alerts WHERE execution_id = ? AND event = 'failed'",
            )
            .bind(&run)
            .fetch_all(&pool)
            .await
            .map_err(|e| e.to_string())?;
            let all_sent = !rows.is_empty() && rows.iter().all(|(s,)| s == "sent");
            Ok(all_sent.then_some(rows.len()))
        },
    )
    .await?;
    assert_eq!(sent, 1, "one alert row for the failure");
    assert_eq!(about_run(), 1, "the webhook was called once about the run");
    let (left,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM alert_outbox WHERE execution_id = ?")
            .bind(&run)
            .fetch_one(&pool)
            .await?;
    assert_eq!(left, 0, "the outbox row went with its alert");
    pool.close().await;
    Ok(())
}
