//! Helpers shared by the executor tests: a job with a given target, an attempt context and
//! waiting on conditions.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use crony_agent::executor::AttemptContext;
use crony_agent::job::{Job, JobError};
use crony_proto::v1::{Backoff, JobSpec, Misfire, Overlap, RetryPolicy, Target, target};

/// A complete spec as the scheduler pushes it, with `target` as its target.
pub fn spec(name: &str, target: target::Kind) -> JobSpec {
    JobSpec {
        id: format!("{name}-id"),
        name: name.into(),
        schedule: "@every 1h".into(),
        timezone: "UTC".into(),
        enabled: true,
        target: Some(Target { kind: Some(target) }),
        timeout_secs: 60,
        retry: Some(RetryPolicy {
            max_retries: 0,
            backoff: Backoff::Exponential as i32,
            initial_secs: 5,
            max_secs: 300,
        }),
        overlap: Overlap::Skip as i32,
        misfire: Misfire::FireOnce as i32,
        async_timeout_secs: 3600,
        assignment_epoch: 1,
        ..JobSpec::default()
    }
}

/// The job as the agent holds it, or why it refuses it.
pub fn try_job(name: &str, target: target::Kind) -> Result<Job, JobError> {
    Job::try_from(&spec(name, target))
}

pub fn job(name: &str, target: target::Kind) -> Job {
    try_job(name, target).unwrap()
}

pub fn ctx() -> AttemptContext {
    let scheduled_at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    AttemptContext {
        execution_id: "exec-123".into(),
        job_id: "job-456".into(),
        job_name: "nightly".into(),
        payload: r#"{"region":"cn"}"#.into(),
        attempt: 2,
        scheduled_at,
        deadline: Utc::now() + chrono::Duration::seconds(60),
        report_url: "http://127.0.0.1:1/api/v1/report".into(),
        report_token: "tok.abc".into(),
        traceparent: None,
    }
}

/// Polls `check` until it holds or `within` passes; returns whether it held.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
