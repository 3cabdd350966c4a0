//! `apply`, `diff` and `jobs create`: job files against the cluster. Every job is planned
//! first (the server's `dry_run` validates it and answers the field diff), so a broken file
//! fails before anything is written; then only what differs is written.

use std::collections::BTreeSet;

use crony_sdk::{Client, Method, path_segment};
use serde_json::Value;

use crate::CliError;
use crate::args::{ApplyArgs, FilesArgs};
use crate::config::Profile;
use crate::jobfile::{self, FileJob};
use crate::output::Output;
use crate::remote::{all_jobs, client};

/// The marker `apply` puts on the jobs it writes, so `--prune` knows its own.
pub fn marker(set: &str) -> String {
    format!("crony-apply:{set}")
}

/// One job's planned change, as the server's `Plan` answers it.
#[derive(Debug)]
pub struct Step {
    pub name: String,
    /// `create`, `update`, `unchanged` or `delete`.
    pub change: String,
    pub changes: Vec<Value>,
    /// What to send (none for a delete).
    pub body: Option<Value>,
    /// The job's id, for a delete.
    pub id: Option<String>,
}

pub async fn apply(profile: &Profile, args: &ApplyArgs, out: Output) -> Result<(), CliError> {
    let c = client(profile, "crony-cli apply")?;
    let steps = plan(&c, &args.files, args.prune).await?;
    if args.dry_run {
        print(&steps, out, true)?;
        return Ok(());
    }
    carry_out(&c, &steps).await?;
    print(&steps, out, false)
}

pub async fn diff(profile: &Profile, files: &FilesArgs, out: Output) -> Result<(), CliError> {
    let c = client(profile, "crony-cli diff")?;
    let steps = plan(&c, files, true).await?;
    print(&steps, out, true)?;
    let changing = steps.iter().filter(|s| s.change != "unchanged").count();
    match changing {
        0 => Ok(()),
        n => Err(CliError::Differs(format!(
            "{n} job(s) differ from the files"
        ))),
    }
}

/// `jobs create -f`: every job is new (a name that exists is an error), checked before any is
/// written.
pub async fn create(profile: &Profile, files: &FilesArgs, out: Output) -> Result<(), CliError> {
    let c = client(profile, "crony-cli create")?;
    let jobs = jobfile::load(&files.files, &|name| std::env::var(name).ok())?;
    let mut errors = Vec::new();
    for job in &jobs {
        let planned = c
            .request_json(
                Method::POST,
                "/jobs",
                Some(&job.body),
                &[("dry_run", "true")],
            )
            .await;
        if let Err(e) = planned {
            errors.push(located(job, e)?);
        }
    }
    refuse(errors)?;
    let mut created = Vec::new();
    for job in &jobs {
        let answer = c
            .request_json(Method::POST, "/jobs", Some(&job.body), &[])
            .await;
        created.push(answer.map_err(|e| written_error(job, e, created.len()))?);
    }
    out.list(
        &created,
        &[("NAME", "/name"), ("ID", "/id"), ("SCHEDULE", "/schedule")],
    )
}

/// The steps that bring the cluster to the files: one per file job, plus deletes of this set's
/// jobs the files no longer have when `prune`.
async fn plan(c: &Client, files: &FilesArgs, prune: bool) -> Result<Vec<Step>, CliError> {
    let marker = marker(&files.set);
    let jobs = jobfile::load(&files.files, &|name| std::env::var(name).ok())?;
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for job in &jobs {
        let mut body = job.body.clone();
        if body.get("managed_by").is_none() {
            body["managed_by"] = Value::from(marker.clone());
        }
        let path = format!("/jobs/by-name/{}", path_segment(&job.name));
        let query = [("dry_run", "true")];
        match c
            .request_json(Method::PUT, &path, Some(&body), &query)
            .await
        {
            Ok(plan) => steps.push(step(&job.name, &plan, Some(body))),
            Err(e) => errors.push(located(job, e)?),
        }
    }
    refuse(errors)?;
    if prune {
        let named: BTreeSet<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        for job in all_jobs(c, None).await? {
            let name = job["name"].as_str().unwrap_or_default();
            if job["managed_by"] == marker.as_str() && !named.contains(name) {
                let id = job["id"].as_str().map(str::to_owned);
                let path = format!("/jobs/{}", path_segment(id.as_deref().unwrap_or_default()));
                let plan = c
                    .request_json(Method::DELETE, &path, None, &[("dry_run", "true")])
                    .await?;
                let mut step = step(name, &plan, None);
                step.id = id;
                steps.push(step);
            }
        }
    }
    Ok(steps)
}

fn step(name: &str, plan: &Value, body: Option<Value>) -> Step {
    Step {
        name: name.to_owned(),
        change: plan["change"].as_str().unwrap_or("update").to_owned(),
        changes: plan["changes"].as_array().cloned().unwrap_or_default(),
        body,
        id: plan["job_id"].as_str().map(str::to_owned),
    }
}

/// An API refusal of a file's job, pointing at the file's line: `jobs/a.yaml:8: timeout_secs: …`.
/// Anything but a 4xx (the cluster unreachable, say) is not the file's fault and stops at once.
fn located(job: &FileJob, error: crony_sdk::Error) -> Result<String, CliError> {
    match &error {
        crony_sdk::Error::Api {
            status: 400..=499,
            message,
            field,
            ..
        } => {
            let field = field.clone().unwrap_or_default();
            let at = job.locate(&field);
            Ok(match field.as_str() {
                "" => format!("{at}: job {:?}: {message}", job.name),
                f => format!("{at}: job {:?}: {f}: {message}", job.name),
            })
        }
        _ => Err(error.into()),
    }
}

/// Every problem of the files at once, and nothing written.
fn refuse(errors: Vec<String>) -> Result<(), CliError> {
    if errors.is_empty() {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{}\nnothing was changed ({} problem(s))",
        errors.join("\n"),
        errors.len()
    )))
}

fn written_error(job: &FileJob, error: crony_sdk::Error, done: usize) -> CliError {
    CliError::Io(format!(
        "{}: job {:?}: {error} ({done} change(s) before it were made; apply again to finish)",
        job.locate(""),
        job.name
    ))
}

/// Writes what the plan changes, in file order, then the deletes.
async fn carry_out(c: &Client, steps: &[Step]) -> Result<(), CliError> {
    let mut done = 0;
    for step in steps {
        let result = match (step.change.as_str(), &step.body) {
            ("unchanged", _) => continue,
            ("delete", _) => {
                let id = step.id.as_deref().unwrap_or_default();
                c.request_json(
                    Method::DELETE,
                    &format!("/jobs/{}", path_segment(id)),
                    None,
                    &[],
                )
                .await
            }
            (_, Some(body)) => {
                let path = format!("/jobs/by-name/{}", path_segment(&step.name));
                c.request_json(Method::PUT, &path, Some(body), &[]).await
            }
            (_, None) => continue,
        };
        result.map_err(|e| {
            CliError::Io(format!(
                "job {:?}: {e} ({done} change(s) before it were made; apply again to finish)",
                step.name
            ))
        })?;
        done += 1;
    }
    Ok(())
}

/// The plan as people read it (a per-field diff) or as JSON/YAML for scripts.
fn print(steps: &[Step], out: Output, planned: bool) -> Result<(), CliError> {
    if out != Output::Table {
        let rows: Vec<Value> = steps
            .iter()
            .map(|s| serde_json::json!({"name": s.name, "change": s.change, "changes": s.changes}))
            .collect();
        return out.value(&Value::Array(rows));
    }
    for step in steps.iter().filter(|s| s.change != "unchanged") {
        let sign = match step.change.as_str() {
            "create" => '+',
            "delete" => '-',
            _ => '~',
        };
        println!("{sign} {} ({})", step.name, step.change);
        if step.change == "update" {
            for change in &step.changes {
                println!("    {}", field_line(change));
            }
        }
    }
    println!("{}", summary(steps, planned));
    Ok(())
}

/// `target.url: "http://a" → "http://b"`; a secret only says it changed.
fn field_line(change: &Value) -> String {
    let field = change["field"].as_str().unwrap_or("?");
    if change["secret"] == true {
        return format!("{field}: (secret changed)");
    }
    let shown = |v: &Value| {
        if v.is_null() {
            "(none)".to_owned()
        } else {
            v.to_string()
        }
    };
    format!(
        "{field}: {} → {}",
        shown(&change["before"]),
        shown(&change["after"])
    )
}

/// `2 would be created, 1 updated, 0 deleted, 5 unchanged`.
pub fn summary(steps: &[Step], planned: bool) -> String {
    let count = |change: &str| steps.iter().filter(|s| s.change == change).count();
    let (created, updated, deleted) = (count("create"), count("update"), count("delete"));
    let unchanged = count("unchanged");
    if planned {
        format!(
            "{created} would be created, {updated} updated, {deleted} deleted, {unchanged} unchanged (dry run: nothing written)"
        )
    } else {
        format!("{created} created, {updated} updated, {deleted} deleted, {unchanged} unchanged")
    }
}
