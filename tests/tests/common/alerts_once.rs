//! Checking that each `lost` and `missed` instant was alerted, and delivered, exactly once.

use std::collections::BTreeMap;

use crony_tests::HttpSink;

/// (id, event, execution, status, grouped into) of one `alerts` row.
type AlertRow = (u64, String, Option<String>, String, Option<u64>);

/// What is wrong so far with the alerts of `jobs`, whose webhook alerts arrive at `sink` on
/// `path`: every `lost` and `missed` row left needs one alert of its event, and every alert
/// row must have reached the webhook once (itself, or in the grouped message of a burst).
pub async fn problems(
    db: &str,
    jobs: &[&str],
    sink: &HttpSink,
    path: &str,
) -> Result<Vec<String>, String> {
    let mut delivered: BTreeMap<u64, usize> = BTreeMap::new();
    for call in sink.calls_to(path) {
        let body: serde_json::Value =
            serde_json::from_str(&call.body).map_err(|e| e.to_string())?;
        *delivered
            .entry(body["id"].as_u64().unwrap_or(0))
            .or_default() += 1;
    }
    let pool = sqlx::MySqlPool::connect(db)
        .await
        .map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    for job in jobs {
        let alerts: Vec<AlertRow> = sqlx::query_as(
            "SELECT id, event, execution_id, status, grouped_into FROM alerts \
             WHERE job_id = ? AND event IN ('lost', 'missed')",
        )
        .bind(job)
        .fetch_all(&pool)
        .await
        .map_err(|e| e.to_string())?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, status FROM executions WHERE job_id = ? AND status IN ('lost', 'missed')",
        )
        .bind(job)
        .fetch_all(&pool)
        .await
        .map_err(|e| e.to_string())?;
        for (execution, status) in &rows {
            let raised = alerts
                .iter()
                .filter(|(_, e, x, _, _)| e == status && x.as_deref() == Some(execution))
                .count();
            if raised != 1 {
                problems.push(format!("{status} {execution}: {raised} alerts"));
            }
        }
        for (id, event, execution, status, grouped_into) in &alerts {
            // A burst for one recipient goes out as one message carried by its first row.
            let (carrier, carried) = match (status.as_str(), grouped_into) {
                ("suppressed", Some(carrier)) => (*carrier, true),
                _ => (*id, status == "sent"),
            };
            let calls = delivered.get(&carrier).copied().unwrap_or(0);
            if !carried || calls != 1 {
                problems.push(format!(
                    "alert {id} ({event} {execution:?}) {status}, {calls} calls"
                ));
            }
        }
    }
    pool.close().await;
    Ok(problems)
}
