//! Helpers shared by the scenario files: HTTP calls and MySQL look-ups.

#![allow(dead_code)]

pub mod alerts_once;
pub mod routes;

use serde_json::Value;

pub async fn get_json(url: &str) -> Result<(u16, Value), String> {
    let response = crony_tests::api_client()
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// Ids of the agents the API lists with `state`.
pub async fn agent_ids(base_url: &str, state: &str) -> Result<Vec<String>, String> {
    let (status, body) = get_json(&format!("{base_url}/api/v1/agents?state={state}")).await?;
    if status != 200 {
        return Err(format!("status {status}: {body}"));
    }
    let mut ids: Vec<String> = body["agents"]
        .as_array()
        .ok_or("no agents array")?
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    Ok(ids)
}

/// The `state` column of one agent in MySQL.
pub async fn agent_state_in_mysql(database_url: &str, id: &str) -> Result<Option<String>, String> {
    let pool = sqlx::MySqlPool::connect(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let state: Option<(String,)> = sqlx::query_as("SELECT state FROM agents WHERE id = ?")
        .bind(id)
        .fetch_optional(&pool)
        .await
        .map_err(|e| e.to_string())?;
    pool.close().await;
    Ok(state.map(|(s,)| s))
}

/// Sorted ids of the agents registered in etcd under `prefix`.
pub async fn agent_keys_in_etcd(endpoint: &str, prefix: &str) -> Result<Vec<String>, String> {
    let mut client = etcd_client::Client::connect([endpoint], None)
        .await
        .map_err(|e| e.to_string())?;
    let dir = format!("{prefix}/agents/");
    let response = client
        .get(
            dir.as_str(),
            Some(
                etcd_client::GetOptions::new()
                    .with_prefix()
                    .with_keys_only(),
            ),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut ids: Vec<String> = response
        .kvs()
        .iter()
        .filter_map(|kv| kv.key_str().ok()?.strip_prefix(&dir).map(str::to_owned))
        .collect();
    ids.sort();
    Ok(ids)
}

pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// What an agent says it holds (job id → assignment epoch), asked over `AgentService`.
pub async fn held_by_agent(
    grpc_addr: &str,
) -> Result<std::collections::BTreeMap<String, u64>, String> {
    held_by_agent_with_token(grpc_addr, Some(crony_tests::CLUSTER_TOKEN)).await
}

/// [`held_by_agent`], presenting `token` as the cluster token.
pub async fn held_by_agent_with_token(
    grpc_addr: &str,
    token: Option<&str>,
) -> Result<std::collections::BTreeMap<String, u64>, String> {
    use crony_proto::v1::ListHeldRequest;
    let mut client =
        crony_tests::grpc::agent_client_with(grpc_addr, token).map_err(|e| e.to_string())?;
    let held = client
        .list_held(ListHeldRequest {})
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    Ok(held
        .jobs
        .into_iter()
        .map(|j| (j.job_id, j.assignment_epoch))
        .collect())
}

/// Assignments in MySQL: job id → (agent id, epoch), for enabled jobs.
pub async fn assignments_in_mysql(
    database_url: &str,
) -> Result<std::collections::BTreeMap<String, (Option<String>, u64)>, String> {
    let pool = sqlx::MySqlPool::connect(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let rows: Vec<(String, Option<String>, u64)> =
        sqlx::query_as("SELECT id, agent_id, assignment_epoch FROM jobs WHERE enabled")
            .fetch_all(&pool)
            .await
            .map_err(|e| e.to_string())?;
    pool.close().await;
    Ok(rows
        .into_iter()
        .map(|(id, agent, epoch)| (id, (agent, epoch)))
        .collect())
}

/// Creates a job through the API; returns its id.
pub async fn create_job(base: &str, body: &Value) -> Result<String, String> {
    let response = crony_tests::api_client()
        .post(format!("{base}/api/v1/jobs"))
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let job: Value = response.json().await.map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("create answered {status}: {job}"));
    }
    Ok(job["id"].as_str().unwrap_or_default().to_owned())
}

/// POSTs `body` (or nothing) to `{base}{path}`; returns status and JSON body (Null if none).
pub async fn post(base: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let mut request = crony_tests::api_client().post(format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Every execution of a job the API lists (all pages), newest first.
pub async fn executions_of(base: &str, job_id: &str) -> Result<Vec<Value>, String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/executions?job_id={job_id}&limit=500");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = get_json(&url).await?;
        if status != 200 {
            return Err(format!("executions answered {status}: {body}"));
        }
        let page = body["executions"].as_array().ok_or("no executions array")?;
        all.extend(page.iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) if !page.is_empty() => cursor = Some(c.to_owned()),
            _ => return Ok(all),
        }
    }
}

/// The executions of a job with `status`.
pub async fn executions_with(base: &str, job_id: &str, status: &str) -> Result<Vec<Value>, String> {
    Ok(executions_of(base, job_id)
        .await?
        .into_iter()
        .filter(|e| e["status"] == status)
        .collect())
}

/// `(id, status, scheduled_at ms)` of every execution of a job, straight from MySQL.
pub async fn executions_in_mysql(
    database_url: &str,
    job_id: &str,
) -> Result<Vec<(String, String, i64)>, String> {
    let pool = sqlx::MySqlPool::connect(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT id, status, CAST(UNIX_TIMESTAMP(scheduled_at) * 1000 AS SIGNED) \
         FROM executions WHERE job_id = ? ORDER BY scheduled_at",
    )
    .bind(job_id)
    .fetch_all(&pool)
    .await
    .map_err(|e| e.to_string())?;
    pool.close().await;
    Ok(rows)
}

/// Waits until the API lists exactly `n` agents online; returns their sorted ids.
pub async fn online(base: &str, n: usize) -> anyhow::Result<Vec<String>> {
    crony_tests::wait_until(
        &format!("{n} agents online"),
        std::time::Duration::from_secs(20),
        || async move {
            let ids = agent_ids(base, "online").await?;
            Ok((ids.len() == n).then_some(ids))
        },
    )
    .await
}

/// A scheduler and one agent (lease TTL 2 s), the agent online.
pub async fn scheduler_and_agent(
    env: &crony_tests::TestEnv,
) -> anyhow::Result<(crony_tests::TestScheduler, crony_tests::AgentProcess)> {
    let scheduler = crony_tests::TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let mut agent = crony_tests::AgentProcess::spawn(env.agent_spec("agent").ttl(2))?;
    agent.id().await?;
    online(&scheduler.base_url, 1).await?;
    Ok((scheduler, agent))
}

/// Sends `request`; the status and the body as JSON (or as a JSON string when it is not JSON).
pub async fn send(
    request: reqwest::RequestBuilder,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// The `grpc_addr` the first agent the API lists announced.
pub async fn agent_grpc_addr(base: &str) -> anyhow::Result<String> {
    let (_, agents) = get_json(&format!("{base}/api/v1/agents"))
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(agents["agents"][0]["grpc_addr"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A record under `{prefix}/{dir}/` in etcd (`agents`, `schedulers`), once there is one.
pub async fn etcd_record(env: &crony_tests::TestEnv, dir: &str) -> anyhow::Result<Value> {
    let etcd = etcd_client::Client::connect([env.etcd.as_str()], None).await?;
    let dir = format!("{}/{dir}/", env.prefix);
    crony_tests::wait_until(
        &format!("a record under {dir}"),
        std::time::Duration::from_secs(10),
        || {
            let (mut etcd, dir) = (etcd.clone(), dir.clone());
            async move {
                let found = etcd
                    .get(dir, Some(etcd_client::GetOptions::new().with_prefix()))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(found
                    .kvs()
                    .first()
                    .and_then(|kv| serde_json::from_slice(kv.value()).ok()))
            }
        },
    )
    .await
}

/// Every call the sink received for `job` is exactly one execution row in MySQL, and no
/// scheduled instant was run twice. Waits until the rows have all arrived.
pub async fn every_call_recorded_once(
    db_url: &str,
    sink: &crony_tests::HttpSink,
    job: &str,
    path: &str,
) -> anyhow::Result<usize> {
    let calls = sink.calls_to(path);
    let ids: Vec<String> = calls
        .iter()
        .map(|c| c.header("x-crony-execution-id"))
        .collect();
    let rows = crony_tests::wait_until(
        "every call is in MySQL",
        std::time::Duration::from_secs(30),
        || {
            let ids = ids.clone();
            async move {
                let rows = executions_in_mysql(db_url, job).await?;
                let in_db: std::collections::HashSet<&str> =
                    rows.iter().map(|(id, _, _)| id.as_str()).collect();
                let missing = ids.iter().filter(|id| !in_db.contains(id.as_str())).count();
                if missing == 0 {
                    Ok(Some(rows))
                } else {
                    Err(format!("{missing} of {} calls not in MySQL", ids.len()))
                }
            }
        },
    )
    .await?;
    let mut per_instant: std::collections::HashMap<i64, u32> = Default::default();
    for (_, status, at) in &rows {
        if status != "missed" && status != "skipped" {
            *per_instant.entry(*at).or_default() += 1;
        }
    }
    let doubled: Vec<_> = per_instant.iter().filter(|(_, n)| **n > 1).collect();
    anyhow::ensure!(doubled.is_empty(), "instants run twice: {doubled:?}");
    let mut seen = std::collections::HashMap::new();
    for call in &calls {
        *seen.entry(call.header("x-crony-scheduled-at")).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    anyhow::ensure!(
        twice.is_empty(),
        "the service was called twice for: {twice:?}"
    );
    Ok(calls.len())
}

/// (agent, status) of every row of `job`, by scheduled instant (Unix ms).
pub async fn rows_by_instant(
    db_url: &str,
    job: &str,
) -> Result<std::collections::HashMap<i64, Vec<(String, String)>>, String> {
    let pool = sqlx::MySqlPool::connect(db_url)
        .await
        .map_err(|e| e.to_string())?;
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT agent_id, status, CAST(UNIX_TIMESTAMP(scheduled_at) * 1000 AS SIGNED) \
         FROM executions WHERE job_id = ?",
    )
    .bind(job)
    .fetch_all(&pool)
    .await
    .map_err(|e| e.to_string())?;
    pool.close().await;
    let mut by_instant: std::collections::HashMap<i64, Vec<(String, String)>> =
        std::collections::HashMap::new();
    for (agent, status, at) in rows {
        by_instant.entry(at).or_default().push((agent, status));
    }
    Ok(by_instant)
}

/// The scheduled instants (Unix ms) the service was called for on `path`, with how often.
pub fn calls_by_instant(
    sink: &crony_tests::HttpSink,
    path: &str,
) -> std::collections::HashMap<i64, usize> {
    let mut seen = std::collections::HashMap::new();
    for call in sink.calls_to(path) {
        let at = chrono::DateTime::parse_from_rfc3339(&call.header("x-crony-scheduled-at"))
            .map(|at| at.timestamp_millis())
            .unwrap_or(0);
        *seen.entry(at).or_insert(0) += 1;
    }
    seen
}

/// Triggers `job` through the API once it is placed (409 until then); its execution id.
pub async fn trigger_when_placed(base: &str, job: &str) -> anyhow::Result<String> {
    crony_tests::wait_until(
        "the job triggered on its agent",
        std::time::Duration::from_secs(15),
        || async move {
            let (status, body) = post(base, &format!("/api/v1/jobs/{job}/trigger"), None).await?;
            Ok((status == 202)
                .then(|| body["execution_id"].as_str().unwrap_or_default().to_owned()))
        },
    )
    .await
}

/// Whether the scheduler at `base` leads, and its term (`/healthz`).
pub async fn is_leader(base: &str) -> Result<(bool, u64), String> {
    let (_, health) = get_json(&format!("{base}/healthz")).await?;
    Ok((
        health["leader"] == true,
        health["term"].as_u64().unwrap_or(0),
    ))
}
