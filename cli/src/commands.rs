//! The API's operations as subcommands: jobs, executions, agents, alerts, preview.

use std::time::Duration;

use crony_sdk::{Client, Method, path_segment};
use serde_json::{Value, json};

use crate::CliError;
use crate::args::{AgentsCommand, AlertsCommand, ExecCommand, JobsCommand, PreviewArgs};
use crate::config::Profile;
use crate::output::{Column, Output};
use crate::remote::{self, client, find_job, get, job_id, text};

const JOB_COLUMNS: &[Column] = &[
    ("NAME", "/name"),
    ("SCHEDULE", "/schedule"),
    ("TIMEZONE", "/timezone"),
    ("ENABLED", "/enabled"),
    ("KIND", "/target/kind"),
    ("AGENT", "/agent_id"),
    ("LAST", "/last_outcome/status"),
    ("NEXT", "/next_fires/0/local"),
];
const JOB_DETAIL: &[Column] = &[
    ("id", "/id"),
    ("name", "/name"),
    ("description", "/description"),
    ("schedule", "/schedule"),
    ("timezone", "/timezone"),
    ("enabled", "/enabled"),
    ("target", "/target/kind"),
    ("agent", "/agent_id"),
    ("managed_by", "/managed_by"),
    ("updated_at", "/updated_at"),
    ("last", "/last_outcome/status"),
    ("next", "/next_fires/0/local"),
];
const EXEC_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("JOB", "/job_id"),
    ("STATUS", "/status"),
    ("TRIGGER", "/trigger"),
    ("SCHEDULED", "/scheduled_at"),
    ("MS", "/duration_ms"),
    ("AGENT", "/agent_id"),
    ("ERROR", "/error"),
];
const EXEC_DETAIL: &[Column] = &[
    ("id", "/id"),
    ("job", "/job_id"),
    ("status", "/status"),
    ("trigger", "/trigger"),
    ("scheduled_at", "/scheduled_at"),
    ("started_at", "/started_at"),
    ("finished_at", "/finished_at"),
    ("attempts", "/attempt_count"),
    ("exit_code", "/exit_code"),
    ("http_status", "/http_status"),
    ("error", "/error"),
    ("agent", "/agent_id"),
];
const AGENT_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("STATE", "/state"),
    ("HOST", "/hostname"),
    ("WEIGHT", "/weight"),
    ("OVERRIDE", "/weight_override"),
    ("DRAINED", "/drained"),
    ("SHELL", "/allow_shell"),
    ("VERSION", "/version"),
];
const ALERT_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("EVENT", "/event"),
    ("JOB", "/job_id"),
    ("CHANNEL", "/channel"),
    ("RECIPIENT", "/recipient"),
    ("STATUS", "/status"),
    ("CREATED", "/created_at"),
];

pub async fn jobs(profile: &Profile, out: Output, command: JobsCommand) -> Result<(), CliError> {
    let c = client(profile, "crony-cli")?;
    match command {
        JobsCommand::List {
            name_contains,
            enabled,
        } => {
            let mut jobs = remote::all_jobs(&c, name_contains.as_deref()).await?;
            if let Some(enabled) = enabled {
                jobs.retain(|j| j["enabled"].as_bool() == Some(enabled));
            }
            out.list(&jobs, JOB_COLUMNS)
        }
        JobsCommand::Get { job } => out.one(&find_job(&c, &job).await?, JOB_DETAIL),
        JobsCommand::Create(files) => crate::apply::create(profile, &files, out).await,
        JobsCommand::Edit { job } => crate::edit::edit(&c, &job, out).await,
        JobsCommand::Delete { job } => {
            let id = job_id(&c, &job).await?;
            c.request_json(
                Method::DELETE,
                &format!("/jobs/{}", path_segment(&id)),
                None,
                &[],
            )
            .await?;
            eprintln!("deleted {job}");
            Ok(())
        }
        JobsCommand::Pause { job } => job_action(&c, out, &job, "pause").await,
        JobsCommand::Resume { job } => job_action(&c, out, &job, "resume").await,
        JobsCommand::Trigger { job, wait, timeout } => trigger(&c, out, &job, wait, timeout).await,
    }
}

async fn job_action(c: &Client, out: Output, job: &str, verb: &str) -> Result<(), CliError> {
    let id = job_id(c, job).await?;
    let path = format!("/jobs/{}/{verb}", path_segment(&id));
    let answer = c.request_json(Method::POST, &path, None, &[]).await?;
    out.one(&answer, JOB_DETAIL)
}

/// Runs a job now; with `wait`, until it settles, failing with exit 4 unless it succeeded.
async fn trigger(
    c: &Client,
    out: Output,
    job: &str,
    wait: bool,
    timeout: Duration,
) -> Result<(), CliError> {
    let id = job_id(c, job).await?;
    let started = start(c, &id).await?;
    let execution_id = text(&started, "execution_id")?;
    if !wait {
        return out.one(&started, &[("execution", "/execution_id")]);
    }
    eprintln!("execution {execution_id} started; waiting…");
    let done = c.wait_for_execution(&execution_id, timeout).await?;
    let value = serde_json::to_value(&done).map_err(|e| CliError::Io(e.to_string()))?;
    out.one(&value, EXEC_DETAIL)?;
    if value["status"] == "succeeded" {
        Ok(())
    } else {
        Err(CliError::Unsuccessful(format!(
            "execution {execution_id} {}: {}",
            value["status"].as_str().unwrap_or("?"),
            value["error"].as_str().unwrap_or_default()
        )))
    }
}

/// Triggers a job. One just created or resumed may not be on its agent yet (409 or 503): that
/// is retried for a while rather than handed to the user.
async fn start(c: &Client, id: &str) -> Result<Value, CliError> {
    let path = format!("/jobs/{}/trigger", path_segment(id));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match c.request_json(Method::POST, &path, None, &[]).await {
            Err(crony_sdk::Error::Api {
                status: 409 | 503, ..
            }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return Ok(other?),
        }
    }
}

pub async fn exec(profile: &Profile, out: Output, command: ExecCommand) -> Result<(), CliError> {
    let c = client(profile, "crony-cli")?;
    match command {
        ExecCommand::List { job, status, limit } => {
            let rows = page(&c, "/executions", "executions", job, status, limit).await?;
            out.list(&rows, EXEC_COLUMNS)
        }
        ExecCommand::Get { id } => out.one(&execution(&c, &id).await?, EXEC_DETAIL),
        ExecCommand::Logs { id } => logs(&execution(&c, &id).await?, out),
        ExecCommand::Kill { id } => {
            let path = format!("/executions/{}/kill", path_segment(&id));
            out.value(&c.request_json(Method::POST, &path, None, &[]).await?)
        }
    }
}

/// One page of a history (`/executions`, `/alerts`), newest first, for a job (name or id)
/// and statuses when given.
async fn page(
    c: &Client,
    path: &str,
    key: &str,
    job: Option<String>,
    status: Option<String>,
    limit: u32,
) -> Result<Vec<Value>, CliError> {
    let job_id = match job {
        Some(job) => Some(job_id(c, &job).await?),
        None => None,
    };
    let limit = limit.to_string();
    let mut query = vec![("limit", limit.as_str())];
    if let Some(id) = &job_id {
        query.push(("job_id", id));
    }
    if let Some(status) = &status {
        query.push(("status", status));
    }
    let answer = get(c, path, &query).await?;
    Ok(answer[key].as_array().cloned().unwrap_or_default())
}

async fn execution(c: &Client, id: &str) -> Result<Value, CliError> {
    get(c, &format!("/executions/{}", path_segment(id)), &[]).await
}

/// The execution's output as its job wrote it (JSON and YAML: the whole execution).
fn logs(execution: &Value, out: Output) -> Result<(), CliError> {
    if out != Output::Table {
        return out.value(execution);
    }
    if let Some(output) = execution["output"].as_str() {
        print!("{output}");
        if !output.ends_with('\n') && !output.is_empty() {
            println!();
        }
    }
    if execution["output_truncated"] == true {
        eprintln!("(output truncated: Crony keeps its head and tail)");
    }
    if let Some(error) = execution["error"].as_str().filter(|e| !e.is_empty()) {
        eprintln!("error: {error}");
    }
    Ok(())
}

pub async fn agents(
    profile: &Profile,
    out: Output,
    command: AgentsCommand,
) -> Result<(), CliError> {
    let c = client(profile, "crony-cli")?;
    let patch = |id: &str, body: Value| {
        let path = format!("/agents/{}", path_segment(id));
        let c = c.clone();
        async move { c.request_json(Method::PATCH, &path, Some(&body), &[]).await }
    };
    let answer = match command {
        AgentsCommand::List => {
            let list = get(&c, "/agents", &[]).await?;
            return out.list(
                list["agents"].as_array().map_or(&[][..], Vec::as_slice),
                AGENT_COLUMNS,
            );
        }
        AgentsCommand::Drain { id } => patch(&id, json!({"drained": true})).await?,
        AgentsCommand::Undrain { id } => patch(&id, json!({"drained": false})).await?,
        AgentsCommand::Weight { id, weight } => {
            let weight = match weight.as_str() {
                "published" => Value::Null,
                n => Value::from(n.parse::<u32>().map_err(|_| {
                    CliError::Usage(format!("weight {n:?}: a number 1 to 1000, or `published`"))
                })?),
            };
            patch(&id, json!({"weight": weight})).await?
        }
    };
    out.one(&answer, AGENT_COLUMNS)
}

pub async fn alerts(
    profile: &Profile,
    out: Output,
    command: AlertsCommand,
) -> Result<(), CliError> {
    let c = client(profile, "crony-cli")?;
    match command {
        AlertsCommand::List { job, status, limit } => {
            let rows = page(&c, "/alerts", "alerts", job, status, limit).await?;
            out.list(&rows, ALERT_COLUMNS)
        }
        AlertsCommand::Test { channel, to } => {
            let body = json!({"channel": channel, "to": to});
            let sent = c
                .request_json(Method::POST, "/alerts/test", Some(&body), &[])
                .await?;
            out.one(
                &sent,
                &[
                    ("id", "/id"),
                    ("channel", "/channel"),
                    ("status", "/status"),
                    ("recipient", "/recipient"),
                ],
            )
        }
    }
}

pub async fn preview(profile: &Profile, out: Output, args: &PreviewArgs) -> Result<(), CliError> {
    let c = client(profile, "crony-cli")?;
    let count = args.count.to_string();
    let mut query = vec![
        ("schedule", args.schedule.as_str()),
        ("timezone", args.tz.as_str()),
        ("count", count.as_str()),
    ];
    if let Some(after) = &args.after {
        query.push(("after", after));
    }
    let preview = get(&c, "/cron/preview", &query).await?;
    match out {
        Output::Table => out.list(
            preview["fires"].as_array().map_or(&[][..], Vec::as_slice),
            &[("LOCAL", "/local"), ("UTC", "/utc")],
        ),
        _ => out.value(&preview),
    }
}
