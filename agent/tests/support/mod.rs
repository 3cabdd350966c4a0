//! Helpers shared by the executor tests: an attempt context and waiting on conditions.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use crony_agent::executor::AttemptContext;

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
