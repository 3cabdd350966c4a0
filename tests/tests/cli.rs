//! `crony`, the command line, against real clusters (scheduler, MariaDB, etcd, an agent): job
//! files applied, re-applied, diffed, pruned and exported to a second cluster; broken files
//! named by `file:line` and field; `trigger --wait`'s exit code; a real crontab imported.

mod common;

use std::path::Path;

use serde_json::{Value, json};

use common::send;
use crony_tests::process::crony_command;
use crony_tests::{ADMIN_TOKEN, HttpSink, TestEnv, TestScheduler};

/// What one run of `crony` printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `crony args…` against `base` with the admin token, in `dir`, with `env` set.
async fn crony(base: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Run> {
    let mut command = crony_command("crony");
    command
        .args(args)
        .current_dir(dir)
        .env("CRONY_URL", base)
        .env("CRONY_TOKEN", ADMIN_TOKEN)
        .env("HOME", dir)
        .envs(env.iter().copied());
    let output = tokio::process::Command::from(command).output().await?;
    Ok(Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Every job of a cluster by name, as the API answers them.
async fn jobs(s: &TestScheduler) -> anyhow::Result<Vec<Value>> {
    let (_, list) = send(crony_tests::api_client().get(s.url("/api/v1/jobs?limit=500"))).await?;
    Ok(list["jobs"].as_array().cloned().unwrap_or_default())
}

fn named<'a>(jobs: &'a [Value], name: &str) -> Option<&'a Value> {
    jobs.iter().find(|j| j["name"] == name)
}

/// A job's definition: what a file decides, without what the server owns.
fn definition(job: &Value) -> Value {
    let mut job = job.clone();
    for field in [
        "id",
        "agent_id",
        "assignment_epoch",
        "created_at",
        "updated_at",
        "last_scheduled_at",
        "next_fires",
        "last_outcome",
    ] {
        job.as_object_mut().unwrap().remove(field);
    }
    job
}

const FILE_A: &str = r#"# Reports, owned by the BI team.
jobs:
  - name: nightly-report
    description: Builds yesterday's revenue report
    schedule: "0 30 2 * * *"
    timezone: Asia/Shanghai
    target:
      kind: http
      url: http://127.0.0.1:9/report
      headers:
        Authorization: Bearer ${env:REPORT_TOKEN}
      secret_headers: [Authorization]
    timeout_secs: 600
  - name: hourly-sync
    schedule: "@every 1h"
    target:
      kind: http
      url: http://127.0.0.1:9/sync
"#;

const FILE_B: &str = r#"[[jobs]]
name = "weekly-cleanup"
schedule = "0 0 3 * * sun"

[jobs.target]
kind = "http"
url = "http://127.0.0.1:9/cleanup"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_diff_prune_and_export_keep_a_cluster_equal_to_its_files() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let dir = env.dir.path();
    let secret = [("REPORT_TOKEN", "s3cret-token")];
    // A job made by hand: no apply may touch it.
    let hand_made = json!({"name": "hand-made", "schedule": "@daily",
        "target": {"kind": "http", "url": "http://127.0.0.1:9/x"}});
    let (status, _) = send(
        crony_tests::api_client()
            .post(s.url("/api/v1/jobs"))
            .json(&hand_made),
    )
    .await?;
    assert_eq!(status, 201);
    std::fs::create_dir_all(dir.join("jobs"))?;
    std::fs::write(dir.join("jobs/a.yaml"), FILE_A)?;
    std::fs::write(dir.join("jobs/b.toml"), FILE_B)?;

    let dry = crony(
        &s.base_url,
        dir,
        &["apply", "-f", "jobs", "--dry-run"],
        &secret,
    )
    .await?;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("3 would be created"), "{}", dry.stdout);
    assert!(dry.stdout.contains("+ nightly-report"), "{}", dry.stdout);
    assert_eq!(jobs(&s).await?.len(), 1, "a dry run wrote nothing");

    let applied = crony(&s.base_url, dir, &["apply", "-f", "jobs"], &secret).await?;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(
        applied.stdout.contains("3 created, 0 updated, 0 deleted"),
        "{}",
        applied.stdout
    );
    let first = jobs(&s).await?;
    assert_eq!(first.len(), 4);
    let report = named(&first, "nightly-report").expect("created");
    assert_eq!(report["managed_by"], "crony-apply:default");
    assert_eq!(report["target"]["headers"]["Authorization"], "********");
    assert_eq!(
        named(&first, "weekly-cleanup").expect("from TOML")["schedule"],
        "0 0 3 * * sun"
    );

    // Again: nothing changes, not even updated_at, and no audit row is added.
    let audit_rows = |s: &TestScheduler| {
        let r = crony_tests::api_client().get(s.url("/api/v1/audit?target_type=job&limit=500"));
        async move {
            send(r)
                .await
                .map(|(_, b)| b["entries"].as_array().cloned().unwrap_or_default())
        }
    };
    let audited = audit_rows(&s).await?;
    let again = crony(&s.base_url, dir, &["apply", "-f", "jobs"], &secret).await?;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stdout
            .contains("0 created, 0 updated, 0 deleted, 3 unchanged"),
        "{}",
        again.stdout
    );
    let second = jobs(&s).await?;
    for job in &first {
        let same = named(&second, job["name"].as_str().unwrap()).unwrap();
        assert_eq!(same["updated_at"], job["updated_at"], "{}", job["name"]);
    }
    assert_eq!(audit_rows(&s).await?.len(), audited.len());
    // The changes apply made are recorded with their source.
    assert!(
        audited
            .iter()
            .any(|e| e["action"] == "job.create" && e["source"] == "crony-cli apply"),
        "{audited:?}"
    );
    let clean = crony(&s.base_url, dir, &["diff", "-f", "jobs"], &secret).await?;
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);

    // A changed field and a changed secret: diff says which (exit 3), apply changes only them.
    std::fs::write(
        dir.join("jobs/a.yaml"),
        FILE_A.replace("timeout_secs: 600", "timeout_secs: 900"),
    )?;
    let rotated = [("REPORT_TOKEN", "rotated-token")];
    let changed = crony(&s.base_url, dir, &["diff", "-f", "jobs"], &rotated).await?;
    assert_eq!(changed.code, 3, "{}{}", changed.stdout, changed.stderr);
    assert!(
        changed.stdout.contains("timeout_secs: 600 → 900"),
        "{}",
        changed.stdout
    );
    assert!(
        changed
            .stdout
            .contains("target.headers.Authorization: (secret changed)"),
        "{}",
        changed.stdout
    );
    assert!(!changed.stdout.contains("rotated-token") && !changed.stdout.contains("s3cret"));
    let updated = crony(&s.base_url, dir, &["apply", "-f", "jobs"], &rotated).await?;
    assert!(
        updated
            .stdout
            .contains("0 created, 1 updated, 0 deleted, 2 unchanged"),
        "{}",
        updated.stdout
    );

    // A job gone from the files: --prune deletes it, and never the hand-made job.
    std::fs::remove_file(dir.join("jobs/b.toml"))?;
    let pruned = crony(
        &s.base_url,
        dir,
        &["apply", "-f", "jobs", "--prune"],
        &rotated,
    )
    .await?;
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    assert!(
        pruned.stdout.contains("- weekly-cleanup (delete)"),
        "{}",
        pruned.stdout
    );
    let left = jobs(&s).await?;
    let mut names: Vec<&str> = left.iter().filter_map(|j| j["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["hand-made", "hourly-sync", "nightly-report"]);

    // Export, and apply the export to another cluster: the same jobs.
    let exported = crony(
        &s.base_url,
        dir,
        &["export", "--set", "default", "--file", "export.yaml"],
        &[],
    )
    .await?;
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    let text = std::fs::read_to_string(dir.join("export.yaml"))?;
    assert!(
        !text.contains("rotated-token") && !text.contains("********"),
        "{text}"
    );
    assert!(
        text.contains("${env:CRONY_SECRET_NIGHTLY_REPORT_AUTHORIZATION}"),
        "{text}"
    );
    assert!(
        !text.contains("updated_at") && !text.contains("hand-made"),
        "{text}"
    );
    let other_env = TestEnv::shared();
    let other = TestScheduler::start(&other_env.etcd, &other_env.prefix, &other_env.db_url).await?;
    let secret_ref = [(
        "CRONY_SECRET_NIGHTLY_REPORT_AUTHORIZATION",
        "Bearer rotated-token",
    )];
    let copied = crony(
        &other.base_url,
        dir,
        &["apply", "-f", "export.yaml"],
        &secret_ref,
    )
    .await?;
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    let copies = jobs(&other).await?;
    assert_eq!(copies.len(), 2);
    for job in &copies {
        let original = named(&left, job["name"].as_str().unwrap()).unwrap();
        assert_eq!(definition(job), definition(original));
    }
    // The secret travelled as a reference and arrived whole: the original's file applied to
    // the copy changes nothing.
    let same = crony(&other.base_url, dir, &["diff", "-f", "jobs"], &rotated).await?;
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    other.stop().await;
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_names_its_file_line_and_field_and_writes_nothing() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let dir = env.dir.path();
    let bad = "jobs:\n  - name: fine\n    schedule: \"@daily\"\n    target: {kind: http, url: \"http://127.0.0.1:9/a\"}\n  - name: broken\n    schedule: \"@daily\"\n    target: {kind: http, url: \"http://127.0.0.1:9/b\"}\n    timeout_secs: 0\n";
    std::fs::write(dir.join("bad.yaml"), bad)?;
    let run = crony(&s.base_url, dir, &["apply", "-f", "bad.yaml"], &[]).await?;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("bad.yaml:8"), "{}", run.stderr);
    assert!(run.stderr.contains("timeout_secs"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert!(
        jobs(&s).await?.is_empty(),
        "the good job was not written either"
    );

    std::fs::write(
        dir.join("syntax.yaml"),
        "jobs:\n  - name: a\n    schedule: [unclosed\n",
    )?;
    let run = crony(&s.base_url, dir, &["apply", "-f", "syntax.yaml"], &[]).await?;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("syntax.yaml:"), "{}", run.stderr);

    std::fs::write(
        dir.join("env.yaml"),
        "jobs:\n  - name: a\n    schedule: \"@daily\"\n    target:\n      kind: http\n      url: http://127.0.0.1:9/${env:NOT_SET_ANYWHERE}\n",
    )?;
    let run = crony(&s.base_url, dir, &["apply", "-f", "env.yaml"], &[]).await?;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("env.yaml:6"), "{}", run.stderr);
    assert!(run.stderr.contains("NOT_SET_ANYWHERE"), "{}", run.stderr);
    assert!(jobs(&s).await?.is_empty());
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_wait_exits_with_the_executions_outcome() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (s, _agent) = common::scheduler_and_agent(&env).await?;
    let sink = HttpSink::start().await?;
    let dir = env.dir.path();
    let file = format!(
        "jobs:\n  - name: works\n    schedule: \"@daily\"\n    target: {{kind: http, url: \"{}\"}}\n  - name: fails\n    schedule: \"@daily\"\n    timeout_secs: 5\n    target: {{kind: http, url: \"http://127.0.0.1:9/closed\"}}\n",
        sink.url("/works")
    );
    std::fs::write(dir.join("jobs.yaml"), file)?;
    let applied = crony(&s.base_url, dir, &["apply", "-f", "jobs.yaml"], &[]).await?;
    assert_eq!(applied.code, 0, "{}", applied.stderr);

    let ok = crony(
        &s.base_url,
        dir,
        &["jobs", "trigger", "works", "--wait", "--timeout", "60s"],
        &[],
    )
    .await?;
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("succeeded"), "{}", ok.stdout);
    assert_eq!(sink.calls_to("/works").len(), 1);
    let failed = crony(
        &s.base_url,
        dir,
        &[
            "jobs",
            "trigger",
            "fails",
            "--wait",
            "--timeout",
            "60s",
            "-o",
            "json",
        ],
        &[],
    )
    .await?;
    assert_eq!(failed.code, 4, "{}{}", failed.stdout, failed.stderr);
    let execution: Value = serde_json::from_str(&failed.stdout)?;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert!(failed.stderr.contains("failed"), "{}", failed.stderr);

    // The operations around it: history, output, agents, the editor, a preview.
    let runs = crony(
        &s.base_url,
        dir,
        &["exec", "list", "--job", "works", "-o", "json"],
        &[],
    )
    .await?;
    let runs: Value = serde_json::from_str(&runs.stdout)?;
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    let id = runs[0]["id"].as_str().unwrap();
    let logs = crony(&s.base_url, dir, &["exec", "logs", id], &[]).await?;
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    let agents = crony(&s.base_url, dir, &["agents", "list", "-o", "json"], &[]).await?;
    let agents: Value = serde_json::from_str(&agents.stdout)?;
    let agent = agents[0]["id"].as_str().expect("one agent").to_owned();
    let weighed = crony(
        &s.base_url,
        dir,
        &["agents", "weight", &agent, "7", "-o", "json"],
        &[],
    )
    .await?;
    assert_eq!(
        serde_json::from_str::<Value>(&weighed.stdout)?["weight_override"],
        7,
        "{}",
        weighed.stderr
    );
    let drained = crony(
        &s.base_url,
        dir,
        &["agents", "drain", &agent, "-o", "json"],
        &[],
    )
    .await?;
    assert_eq!(
        serde_json::from_str::<Value>(&drained.stdout)?["drained"],
        true,
        "{}",
        drained.stderr
    );
    let editor = [("EDITOR", "sed -i 's/^timeout_secs: 60$/timeout_secs: 7/'")];
    let edited = crony(&s.base_url, dir, &["jobs", "edit", "works"], &editor).await?;
    assert_eq!(edited.code, 0, "{}", edited.stderr);
    let (_, job) = send(crony_tests::api_client().get(s.url("/api/v1/jobs/by-name/works"))).await?;
    assert_eq!(job["timeout_secs"], 7, "{job}");
    let preview = [
        "preview",
        "0 30 2 * * *",
        "--tz",
        "Asia/Shanghai",
        "--count",
        "2",
        "-o",
        "json",
    ];
    let preview = crony(&s.base_url, dir, &preview, &[]).await?;
    let fires: Value = serde_json::from_str(&preview.stdout)?;
    assert_eq!(fires["fires"].as_array().map(Vec::len), Some(2), "{fires}");
    assert!(
        fires["fires"][0]["local"]
            .as_str()
            .unwrap()
            .ends_with("02:30:00+08:00"),
        "{fires}"
    );
    s.stop().await;
    Ok(())
}

#[path = "cli/crontab.rs"]
mod crontab;
