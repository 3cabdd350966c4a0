//! Helpers shared by the scenario files: HTTP calls and MySQL look-ups.

#![allow(dead_code)]

use serde_json::Value;

pub async fn get_json(url: &str) -> Result<(u16, Value), String> {
    let response = reqwest::get(url).await.map_err(|e| e.to_string())?;
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
    use crony_proto::v1::ListHeldRequest;
    use crony_proto::v1::agent_service_client::AgentServiceClient;
    let mut client = AgentServiceClient::connect(format!("http://{grpc_addr}"))
        .await
        .map_err(|e| e.to_string())?;
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
