//! `export`: the cluster's jobs as a job file that `apply` takes back unchanged — no server
//! fields, stable order, and every secret as an `${env:…}` reference (the API never answers
//! a secret, so none can be written).

use serde_json::Value;

use crate::CliError;
use crate::apply::marker;
use crate::args::ExportArgs;
use crate::config::Profile;
use crate::jobfile;
use crate::remote::{SERVER_FIELDS, all_jobs, client};

/// What the API shows in place of a secret value.
const REDACTED: &str = "********";

pub async fn export(profile: &Profile, args: &ExportArgs) -> Result<(), CliError> {
    let c = client(profile, "crony-cli export")?;
    let mut jobs = all_jobs(&c, args.name_contains.as_deref()).await?;
    if let Some(set) = &args.set {
        jobs.retain(|j| j["managed_by"] == marker(set).as_str());
    }
    jobs.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut references = Vec::new();
    let jobs: Vec<Value> = jobs
        .into_iter()
        .map(|job| definition(job, &mut references))
        .collect();
    let toml = args.toml
        || args
            .file
            .as_ref()
            .is_some_and(|f| f.extension().is_some_and(|e| e == "toml"));
    let header = "exported by crony export; secrets are ${env:…} references";
    let text = jobfile::render_with_references(&jobs, toml, header, &references)?;
    match &args.file {
        Some(path) => std::fs::write(path, &text)
            .map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?,
        None => print!("{text}"),
    }
    if !references.is_empty() {
        eprintln!("secrets are references; set these before `crony apply`:");
        for name in references {
            eprintln!("  {name}");
        }
    }
    eprintln!("{} jobs exported", jobs.len());
    Ok(())
}

/// A job answer as a file's job: server fields dropped, secrets replaced by references (whose
/// names are pushed to `references`).
pub fn definition(mut job: Value, references: &mut Vec<String>) -> Value {
    if let Some(map) = job.as_object_mut() {
        // The marker is the cluster's record of who manages the job, not the file's.
        for field in SERVER_FIELDS.iter().chain(&["managed_by"]) {
            map.remove(*field);
        }
    }
    let prefix = env_name(job["name"].as_str().unwrap_or("job"));
    refer(&mut job, &prefix, "", references);
    job
}

/// Replaces every redacted value under `value` by `${env:CRONY_SECRET_<JOB>_<KEY>}`.
fn refer(value: &mut Value, job: &str, key: &str, references: &mut Vec<String>) {
    match value {
        Value::String(text) if text == REDACTED => {
            let name = format!("CRONY_SECRET_{job}_{}", env_name(key));
            *text = format!("${{env:{name}}}");
            references.push(name);
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                refer(v, job, k, references);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                refer(v, job, &format!("{key}_{i}"), references);
            }
        }
        _ => {}
    }
}

/// `nightly-report` → `NIGHTLY_REPORT`.
fn env_name(text: &str) -> String {
    let upper: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    upper.trim_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_fields_go_and_secrets_become_references() {
        let answer = json!({
            "id": "0190", "name": "nightly-report", "schedule": "@daily",
            "updated_at": "2026-12-01T00:00:00Z", "next_fires": [], "managed_by": "crony-apply:x",
            "target": {"kind": "http", "url": "http://svc/run",
                       "headers": {"Authorization": "********", "Accept": "text/plain"},
                       "secret_headers": ["Authorization"]},
            "alerts": {"feishu_webhooks": [{"url": "https://open.feishu.cn/hook/x", "secret": "********"}]},
        });
        let mut refs = Vec::new();
        let job = definition(answer, &mut refs);
        assert!(job.get("id").is_none() && job.get("managed_by").is_none());
        assert_eq!(
            job["target"]["headers"]["Authorization"],
            "${env:CRONY_SECRET_NIGHTLY_REPORT_AUTHORIZATION}"
        );
        assert_eq!(job["target"]["headers"]["Accept"], "text/plain");
        assert_eq!(
            job["alerts"]["feishu_webhooks"][0]["secret"],
            "${env:CRONY_SECRET_NIGHTLY_REPORT_SECRET}"
        );
        assert_eq!(refs.len(), 2);
        assert!(!job.to_string().contains(REDACTED));
    }
}
