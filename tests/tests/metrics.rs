//! Both binaries' `/metrics` scraped on a real cluster: per-job series labelled `job_id` and
//! `job_name` (never `job`) and the same on scheduler and agent, the new series present, and a
//! renamed or deleted job's series gone.

mod common;

use std::time::Duration;

use serde_json::json;

use common::send;
use crony_tests::wait::wait_until;
use crony_tests::{AgentProcess, HttpSink, TestEnv, TestScheduler, api_client};

async fn scrape(url: &str) -> Result<String, String> {
    let response = reqwest::get(url).await.map_err(|e| e.to_string())?;
    response.text().await.map_err(|e| e.to_string())
}

/// Waits until `url`'s scrape says `check`; returns the scrape.
async fn scraped(what: &str, url: &str, check: impl Fn(&str) -> bool) -> anyhow::Result<String> {
    wait_until(what, Duration::from_secs(30), || async {
        let text = scrape(url).await?;
        Ok(check(&text).then_some(text))
    })
    .await
}

/// A sample with these labels in this order, and its value.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
}

fn no_job_label(text: &str) {
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains("{job=\"") && !line.contains(",job=\""),
            "`job` label: {line}"
        );
    }
}

/// Runs the job now (retried while its agent does not hold it yet).
async fn trigger(s: &TestScheduler, id: &str) -> anyhow::Result<()> {
    wait_until("the trigger is taken", Duration::from_secs(20), || {
        let url = s.url(&format!("/api/v1/jobs/{id}/trigger"));
        async move {
            let r = api_client()
                .post(url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            Ok((r.status() == 202).then_some(()))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_are_labelled_by_job_and_go_with_their_job() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let port = crony_tests::process::free_port();
    let spec = env.agent_spec("agent").ttl(2);
    let mut agent =
        AgentProcess::spawn(spec.env("CRONY_AGENT_METRICS_ADDR", &format!("127.0.0.1:{port}")))?;
    agent.id().await?;
    common::online(&s.base_url, 1).await?;
    let agent_url = format!("http://127.0.0.1:{port}/metrics");
    let scheduler_url = s.url("/metrics");
    let sink = HttpSink::start().await?;

    let job = json!({"name": "metered", "schedule": "@every 1h",
        "target": {"kind": "http", "url": sink.url("/metered")}});
    let (status, created) = send(api_client().post(s.url("/api/v1/jobs")).json(&job)).await?;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    let named = format!("job_id=\"{id}\",job_name=\"metered\"");
    let next = "crony_job_next_fire_timestamp_seconds";
    scraped("the agent holds the job", &agent_url, |t| {
        sample(t, next, &named).is_some()
    })
    .await?;
    trigger(&s, &id).await?;
    let succeeded = format!("{named},status=\"succeeded\"");
    let on_scheduler = scraped("the success is counted", &scheduler_url, |t| {
        sample(t, "crony_executions_total", &succeeded) == Some(1.0)
    })
    .await?;
    let on_agent = scraped("the agent counts it", &agent_url, |t| {
        sample(t, "crony_agent_executions_total", &succeeded) == Some(1.0)
    })
    .await?;
    let last = sample(
        &on_scheduler,
        "crony_job_last_success_timestamp_seconds",
        &named,
    );
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        last.is_some_and(|t| (now - 60.0..=now + 1.0).contains(&t)),
        "{last:?}"
    );
    let next_at = sample(&on_agent, next, &named).unwrap();
    assert!(next_at > now && next_at <= now + 3601.0, "{next_at}");
    let took = "crony_agent_execution_duration_seconds_count{kind=\"http\"} ";
    assert!(
        on_agent.lines().any(|l| l == format!("{took}1")),
        "{on_agent}"
    );
    assert!(
        on_agent.contains("\ncrony_agent_spool_bytes "),
        "{on_agent}"
    );
    no_job_label(&on_scheduler);
    no_job_label(&on_agent);
    let leader = on_scheduler.lines().find_map(|l| {
        l.strip_prefix("crony_scheduler_is_leader ")?
            .parse::<f64>()
            .ok()
    });
    assert_eq!(leader, Some(1.0));
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        sample(
            &on_scheduler,
            "crony_build_info",
            &format!("binary=\"crony-scheduler\",version=\"{version}\"")
        )
        .is_some()
    );
    assert!(
        sample(
            &on_agent,
            "crony_build_info",
            &format!("binary=\"crony-agent\",version=\"{version}\"")
        )
        .is_some()
    );
    let posted = "method=\"POST\",route=\"/api/v1/jobs\",status=\"201\"";
    assert_eq!(
        sample(&on_scheduler, "crony_http_requests_total", posted),
        Some(1.0),
        "{on_scheduler}"
    );

    // Renamed: the old name's series go at once on the scheduler, and from the agent with the push.
    let renamed = json!({"name": "metered-2", "schedule": "@every 1h",
        "target": {"kind": "http", "url": sink.url("/metered")}});
    let (status, _) = send(
        api_client()
            .put(s.url(&format!("/api/v1/jobs/{id}")))
            .json(&renamed),
    )
    .await?;
    assert_eq!(status, 200);
    let text = scrape(&scheduler_url).await.map_err(anyhow::Error::msg)?;
    assert!(!text.contains("job_name=\"metered\""), "{text}");
    let renamed_labels = format!("job_id=\"{id}\",job_name=\"metered-2\"");
    scraped("the agent follows the rename", &agent_url, |t| {
        !t.contains("job_name=\"metered\"") && sample(t, next, &renamed_labels).is_some()
    })
    .await?;

    trigger(&s, &id).await?;
    let succeeded = format!("{renamed_labels},status=\"succeeded\"");
    scraped("the renamed job's run is counted", &scheduler_url, |t| {
        sample(t, "crony_executions_total", &succeeded) == Some(1.0)
    })
    .await?;

    // Deleted: no series of the job is left on either.
    let (status, _) = send(api_client().delete(s.url(&format!("/api/v1/jobs/{id}")))).await?;
    assert_eq!(status, 204);
    let text = scrape(&scheduler_url).await.map_err(anyhow::Error::msg)?;
    assert!(
        !text.contains(&id),
        "the scheduler still has the deleted job's series"
    );
    scraped(
        "the agent drops the deleted job's series",
        &agent_url,
        |t| !t.contains(&id),
    )
    .await?;
    s.stop().await;
    Ok(())
}
