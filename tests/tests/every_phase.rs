//! `@every` keeps the phase of the job's creation (issue 15): the instants the API previews
//! are the ones that fire, and neither a failover to another agent nor an edit shifts them.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{create_job, get_json, online};
use crony_tests::{AgentProcess, HttpSink, TestEnv, TestScheduler, api_client, wait_until};
use serde_json::{Value, json};

/// The scheduled instants (Unix ms) the service was called for, in order.
fn instants(sink: &HttpSink) -> Vec<i64> {
    let mut at: Vec<i64> = sink
        .calls_to("/every")
        .iter()
        .filter_map(|c| DateTime::parse_from_rfc3339(&c.header("x-crony-scheduled-at")).ok())
        .map(|t| t.timestamp_millis())
        .collect();
    at.sort_unstable();
    at.dedup();
    at
}

async fn calls_after(sink: &HttpSink, after: i64, n: usize) -> anyhow::Result<Vec<i64>> {
    wait_until("more fires", Duration::from_secs(30), || async {
        let later: Vec<i64> = instants(sink).into_iter().filter(|t| *t > after).collect();
        Ok((later.len() >= n).then_some(later))
    })
    .await
}

#[tokio::test]
async fn a_fixed_rate_keeps_its_phase_across_a_failover_and_an_edit() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.rebalance = false;
    })
    .await?;
    let mut first = AgentProcess::spawn(env.agent_spec("first").ttl(2))?;
    first.id().await?;
    online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    let body = json!({"name": "every-2s", "schedule": "@every 2s", "misfire": "skip",
                      "target": {"kind": "http", "method": "POST", "url": sink.url("/every")}});
    let id = create_job(&s.base_url, &body)
        .await
        .map_err(anyhow::Error::msg)?;
    let (_, job) = get_json(&s.url(&format!("/api/v1/jobs/{id}")))
        .await
        .map_err(anyhow::Error::msg)?;
    let created: DateTime<Utc> = job["created_at"].as_str().unwrap_or_default().parse()?;
    let anchor = created.timestamp_millis();
    let previewed: Vec<i64> = job["next_fires"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["utc"].as_str()?.parse::<DateTime<Utc>>().ok())
        .map(|t| t.timestamp_millis())
        .collect();
    let on_phase = |at: &i64| (at - anchor) % 2000 == 0 && *at > anchor;

    // The previewed instants are the ones that fire.
    let fired = calls_after(&sink, 0, 3).await?;
    assert_eq!(
        fired[..3],
        previewed[..3],
        "previewed {previewed:?}, fired {fired:?}"
    );

    // Failover: the job moves to another agent, which keeps the phase.
    let _second = AgentProcess::spawn(env.agent_spec("second").ttl(2))?;
    online(&s.base_url, 2).await?;
    let before = *instants(&sink).last().unwrap_or(&0);
    first.kill();
    let after_move = calls_after(&sink, before + 4_000, 2).await?;
    assert!(
        after_move.iter().all(on_phase),
        "anchor {anchor}, after the move {after_move:?}"
    );

    // An edit (a new description) re-pushes the job; the phase stays.
    let mut edited: Value = job.clone();
    for field in [
        "id",
        "created_at",
        "updated_at",
        "next_fires",
        "last_outcome",
        "last_scheduled_at",
        "agent_id",
        "assignment_epoch",
    ] {
        edited.as_object_mut().map(|o| o.remove(field));
    }
    edited["description"] = json!("edited");
    let status = api_client()
        .put(s.url(&format!("/api/v1/jobs/{id}")))
        .json(&edited)
        .send()
        .await?
        .status();
    assert_eq!(status, 200);
    let edited_at = Utc::now().timestamp_millis();
    let after_edit = calls_after(&sink, edited_at, 2).await?;
    assert!(
        after_edit.iter().all(on_phase),
        "anchor {anchor}, after the edit {after_edit:?}"
    );
    s.stop().await;
    Ok(())
}
