//! Pausing and resuming a job (issue 15): the paused period is no job's misses. A resumed job
//! neither records `missed` rows for the seconds it was paused nor, under `fire_once`, runs one
//! of them late; it simply goes on from the resume.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{create_job, executions_in_mysql, post};
use crony_tests::{HttpSink, TestEnv, wait_until};
use serde_json::json;

/// How long the jobs stay paused.
const PAUSED: Duration = Duration::from_secs(4);

fn scheduled_at(call: &crony_tests::sink::Call) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&call.header("x-crony-scheduled-at"))
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_resumed_job_has_no_missed_rows_and_no_late_run_for_its_pause() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = common::scheduler_and_agent(&env).await?;
    let sink = HttpSink::start().await?;
    let mut jobs = Vec::new();
    for misfire in ["skip", "fire_once"] {
        let path = format!("/{misfire}");
        let body = json!({"name": format!("paused-{misfire}"), "schedule": "* * * * * *",
            "misfire": misfire, "target": {"kind": "http", "method": "POST", "url": sink.url(&path)}});
        let id = create_job(&s.base_url, &body)
            .await
            .map_err(anyhow::Error::msg)?;
        jobs.push((id, path));
    }
    wait_until("both jobs fire", Duration::from_secs(15), || async {
        Ok(jobs
            .iter()
            .all(|(_, path)| sink.calls_to(path).len() >= 2)
            .then_some(()))
    })
    .await?;
    for (id, _) in &jobs {
        let (status, body) = post(&s.base_url, &format!("/api/v1/jobs/{id}/pause"), None)
            .await
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(status == 200, "pause: {status} {body}");
    }
    let paused_at = Utc::now();
    tokio::time::sleep(PAUSED).await;
    for (id, _) in &jobs {
        let (status, body) = post(&s.base_url, &format!("/api/v1/jobs/{id}/resume"), None)
            .await
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(status == 200, "resume: {status} {body}");
    }
    let resumed_at = Utc::now();
    wait_until("both jobs fire again", Duration::from_secs(15), || async {
        Ok(jobs
            .iter()
            .all(|(_, path)| {
                let after = sink
                    .calls_to(path)
                    .iter()
                    .filter(|c| scheduled_at(c) > resumed_at)
                    .count();
                after >= 2
            })
            .then_some(()))
    })
    .await?;
    for (id, path) in &jobs {
        // Allow the second in which pause took effect: an instant due then may have run.
        let paused =
            |at: DateTime<Utc>| at > paused_at + chrono::Duration::seconds(1) && at < resumed_at;
        let late: Vec<_> = sink
            .calls_to(path)
            .iter()
            .map(scheduled_at)
            .filter(|at| paused(*at))
            .collect();
        assert!(
            late.is_empty(),
            "{path}: paused instants were run: {late:?}"
        );
        let rows = executions_in_mysql(&env.db_url, id)
            .await
            .map_err(anyhow::Error::msg)?;
        let missed: Vec<_> = rows
            .iter()
            .filter(|(_, status, _)| status == "missed")
            .collect();
        assert!(
            missed.is_empty(),
            "{path}: missed rows for the pause: {missed:?}"
        );
    }
    Ok(())
}
