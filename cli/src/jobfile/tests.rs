//! Tests for job files: loading, line finding, references and rendering.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

mod render;

fn no_env(_: &str) -> Option<String> {
    None
}

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("s3cret".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn parse_ok(name: &str, text: &str) -> Vec<FileJob> {
    match parse(Path::new(name), text, &env) {
        Ok(jobs) => jobs,
        Err(err) => panic!("{name} did not parse: {err}"),
    }
}

fn parse_err(name: &str, text: &str) -> String {
    match parse(Path::new(name), text, &env) {
        Ok(jobs) => panic!("{name} parsed into {} jobs", jobs.len()),
        Err(err) => err.to_string(),
    }
}

const TWO_JOBS: &str = r#"# nightly jobs
jobs:
  - name: backup
    schedule: "0 0 2 * * *"
    timeout_secs: 300
    target:
      kind: shell
      command: |
        pg_dump app
        url: not-a-key
      env:
        FOO: bar
        BAZ: qux
    alerts:
      on: [failure]
      emails:
        - a@example.com
        - b@example.com
  - name: ping
    schedule: "@every 30s"
    target: {kind: http, url: "https://example.com"}
    retry:
      max_retries: 3
"#;

#[test]
fn yaml_jobs_load_with_their_lines() {
    let jobs = parse_ok("jobs/a.yaml", TWO_JOBS);
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["backup", "ping"]);
    assert_eq!((jobs[0].line, jobs[1].line), (3, 19));
    assert_eq!(jobs[0].body["target"]["env"]["FOO"], "bar");
    assert_eq!(jobs[0].path, PathBuf::from("jobs/a.yaml"));
}

#[test]
fn yaml_fields_point_at_their_lines() {
    let jobs = parse_ok("jobs/a.yaml", TWO_JOBS);
    let (backup, ping) = (&jobs[0], &jobs[1]);
    assert_eq!(backup.line_of("name"), 3);
    assert_eq!(backup.line_of("timeout_secs"), 5);
    assert_eq!(backup.line_of("target.command"), 8);
    assert_eq!(backup.line_of("target.env.FOO"), 12);
    assert_eq!(backup.line_of("target.env.BAZ"), 13);
    assert_eq!(backup.line_of("alerts.emails[1]"), 18);
    assert_eq!(
        backup.line_of("alerts.emails[7]"),
        16,
        "missing index falls back to the list"
    );
    // A key-looking line inside the block scalar is text, not `target.url`.
    assert_eq!(backup.line_of("target.url"), 6);
    assert_eq!(
        backup.line_of("payload"),
        3,
        "missing field falls back to the job"
    );
    assert_eq!(
        ping.line_of("target.url"),
        21,
        "flow mapping: the key's line"
    );
    assert_eq!(ping.line_of("retry.max_retries"), 23);
    assert_eq!(ping.locate("retry.max_retries"), "jobs/a.yaml:23");
    assert_eq!(ping.line_of(""), 19);
}

#[test]
fn yaml_keys_on_the_dash_line_and_lists_at_key_indent() {
    let text = "jobs:\n- timeout_secs: 5\n  name: a\n  alerts:\n    emails:\n    - x@example.com\n    - y@example.com\n    on: [failure]\n";
    let jobs = parse_ok("a.yml", text);
    assert_eq!(jobs[0].line, 2);
    assert_eq!(jobs[0].line_of("timeout_secs"), 2);
    assert_eq!(jobs[0].line_of("alerts.emails[1]"), 7);
    assert_eq!(jobs[0].line_of("alerts.on"), 8);
}

#[test]
fn yaml_syntax_error_names_the_line() {
    let err = parse_err(
        "bad.yaml",
        "jobs:\n  - name: a\n    schedule: [unclosed\n    x: y\n",
    );
    assert!(err.starts_with("bad.yaml:"), "{err}");
    let line: usize = err
        .split(':')
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    assert!((3..=5).contains(&line), "{err}");
}

#[test]
fn job_shape_errors() {
    let err = parse_err("a.yaml", "jobs:\n  - name: a\n  - schedule: x\n");
    assert_eq!(err, "a.yaml:3: jobs[1]: name is required");
    let err = parse_err("a.yaml", "jobs:\n  - name: 12\n");
    assert_eq!(err, "a.yaml:2: jobs[0]: name must be a string");
    let err = parse_err("a.yaml", "jobs:\n  - just a string\n");
    assert_eq!(err, "a.yaml:2: jobs[0]: a job must be a mapping");
    let err = parse_err("a.yaml", "jobs:\n  - name: a\n    payload: !custom 3\n");
    assert!(
        err.starts_with("a.yaml:3: jobs[0].payload: YAML tags"),
        "{err}"
    );
    let err = parse_err(
        "a.yaml",
        "jobs:\n  - name: a\n    target:\n      env:\n        1: x\n",
    );
    assert!(
        err.starts_with("a.yaml:5: jobs[0].target.env.1: keys must be strings"),
        "{err}"
    );
    let err = parse_err("a.yaml", "jobs: 3\n");
    assert_eq!(err, "a.yaml:1: `jobs` must be a list");
    let err = parse_err("a.yaml", "# nothing\n");
    assert!(err.starts_with("a.yaml: no top-level `jobs` list"), "{err}");
}

#[test]
fn top_level_keys_other_than_jobs_are_rejected() {
    let err = parse_err("a.yaml", "jobs:\n  - name: a\nversion: 2\n");
    assert!(
        err.starts_with("a.yaml:3: unknown top-level key `version`"),
        "{err}"
    );
    let err = parse_err("a.toml", "version = 2\n[[jobs]]\nname = \"a\"\n");
    assert!(
        err.starts_with("a.toml:1: unknown top-level key `version`"),
        "{err}"
    );
    let err = parse_err("a.toml", "[[jobs]]\nname = \"a\"\n[settings]\nx = 1\n");
    assert!(
        err.starts_with("a.toml:3: unknown top-level key `settings`"),
        "{err}"
    );
}

const TOML_JOBS: &str = r#"# toml jobs
[[jobs]]
name = "backup"
schedule = "0 2 * * *"
timeout_secs = 300
retry = { max_retries = 3, backoff = "exponential" }

[jobs.target]
kind = "shell"
command = "pg_dump"

[jobs.target.env]
FOO = "bar"

[jobs.alerts]
emails = [
  "a@example.com",
  "b@example.com",
]

[[jobs.alerts.feishu_webhooks]]
url = "https://one"

[[jobs.alerts.feishu_webhooks]]
url = "https://two"

[[jobs]]
name = "ping"
target.kind = "http"
target.url = "https://example.com"
"#;

#[test]
fn toml_jobs_tables_and_inline_tables() {
    let jobs = parse_ok("jobs/a.toml", TOML_JOBS);
    assert_eq!(jobs.len(), 2);
    let (backup, ping) = (&jobs[0], &jobs[1]);
    assert_eq!((backup.line, ping.line), (2, 27));
    assert_eq!(backup.body["retry"]["max_retries"], 3);
    assert_eq!(backup.line_of("timeout_secs"), 5);
    assert_eq!(
        backup.line_of("retry.max_retries"),
        6,
        "inline table: its key's line"
    );
    assert_eq!(backup.line_of("target"), 8);
    assert_eq!(backup.line_of("target.command"), 10);
    assert_eq!(backup.line_of("target.env.FOO"), 13);
    assert_eq!(backup.line_of("alerts.emails[1]"), 18);
    assert_eq!(backup.line_of("alerts.feishu_webhooks[1].url"), 25);
    assert_eq!(backup.line_of("payload"), 2);
    assert_eq!(ping.line_of("target.url"), 30);
    assert_eq!(ping.body["target"]["kind"], "http");
}

#[test]
fn toml_syntax_error_names_the_line() {
    let err = parse_err("a.toml", "[[jobs]]\nname = \"a\"\nschedule = \n");
    assert!(err.starts_with("a.toml:3: "), "{err}");
}

#[test]
fn references_resolve_anywhere_in_strings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.pem"), "PEM\n\n").unwrap();
    let text = r#"jobs:
  - name: a
    description: "costs $$5, literal $${env:X}"
    target:
      headers:
        Authorization: "Bearer ${env:TOKEN}"
      body: "${file:key.pem}"
      list: ["x${env:EMPTY}y", 3]
"#;
    let jobs = parse(&dir.path().join("a.yaml"), text, &env).unwrap();
    let body = &jobs[0].body;
    assert_eq!(body["target"]["headers"]["Authorization"], "Bearer s3cret");
    assert_eq!(
        body["target"]["body"], "PEM\n",
        "one trailing newline trimmed"
    );
    assert_eq!(body["target"]["list"], json!(["xy", 3]));
    assert_eq!(body["description"], "costs $$5, literal ${env:X}");
}

#[test]
fn reference_errors_name_the_field_and_line() {
    let text = "jobs:\n  - name: a\n    target:\n      env:\n        TOKEN: ${env:NOPE}\n";
    let err = parse(Path::new("j/a.yaml"), text, &no_env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "j/a.yaml:5: field target.env.TOKEN: environment variable NOPE is not set"
    );
    let err = parse_err(
        "a.yaml",
        "jobs:\n  - name: a\n    payload: \"${vault:x}\"\n",
    );
    assert!(
        err.starts_with("a.yaml:3: field payload: unknown reference `${vault:x}`"),
        "{err}"
    );
    let err = parse_err(
        "a.yaml",
        "jobs:\n  - name: a\n    alerts:\n      emails: [\"${env:TOKEN\"]\n",
    );
    assert!(
        err.starts_with("a.yaml:4: field alerts.emails[0]: unclosed"),
        "{err}"
    );
    let err = parse_err(
        "a.yaml",
        "jobs:\n  - name: a\n    payload: ${file:missing.txt}\n",
    );
    assert!(
        err.starts_with("a.yaml:3: field payload: cannot read file missing.txt: "),
        "{err}"
    );
}

#[test]
fn keys_are_not_resolved() {
    let jobs = parse_ok(
        "a.yaml",
        "jobs:\n  - name: a\n    payload:\n      \"${env:TOKEN}\": 1\n",
    );
    assert_eq!(jobs[0].body["payload"], json!({"${env:TOKEN}": 1}));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn duplicate_names_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.yaml", "jobs:\n  - name: x\n");
    let b = write(
        dir.path(),
        "b.toml",
        "# b\n[[jobs]]\nname = \"y\"\n\n[[jobs]]\nname = \"x\"\n",
    );
    let err = load(&[a.clone(), b.clone()], &no_env)
        .unwrap_err()
        .to_string();
    let expected = format!(
        "{}:5: job \"x\" is also defined at {}:2",
        b.display(),
        a.display()
    );
    assert_eq!(err, expected);
    let err = parse_err("a.yaml", "jobs:\n  - name: x\n  - name: x\n");
    assert_eq!(err, "a.yaml:3: job \"x\" is also defined at a.yaml:2");
}

#[test]
fn directories_load_in_path_order_and_skip_other_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.yml", "jobs:\n  - name: b\n");
    write(dir.path(), "a/z.toml", "[[jobs]]\nname = \"az\"\n");
    write(dir.path(), "c.yaml", "jobs:\n  - name: c\n");
    write(dir.path(), "README.md", "not jobs");
    write(dir.path(), ".github/ci.yml", "name: ci\n");
    let jobs = load(&[dir.path().to_path_buf()], &no_env).unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["az", "b", "c"]);
    let readme = dir.path().join("README.md");
    let err = load(&[readme], &no_env).unwrap_err();
    assert!(matches!(err, JobFileError::Extension { .. }), "{err}");
    let err = load(&[dir.path().join("nope.yaml")], &no_env).unwrap_err();
    assert!(matches!(err, JobFileError::Io { .. }), "{err}");
}

#[test]
fn truncated_and_odd_input_never_panics() {
    for (name, text) in [("a.yaml", TWO_JOBS), ("a.toml", TOML_JOBS)] {
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let Ok(jobs) = parse(Path::new(name), &text[..end], &env) else {
                continue;
            };
            for job in &jobs {
                for field in [
                    "",
                    ".",
                    "[",
                    "a[",
                    "[x]",
                    "target..url",
                    "alerts.emails[99999999999999999999]",
                ] {
                    assert!(job.line_of(field) >= 1);
                }
            }
        }
    }
}

#[test]
fn yaml_anchors_merge_keys_and_bare_dashes() {
    let text = "jobs:\n  - &base\n    name: a\n    timeout_secs: 5\n  - <<: *base\n    name: b\n  -\n    name: c\n    retry:\n      max_retries: 1\n";
    let jobs = parse_ok("a.yaml", text);
    assert_eq!(jobs[1].body, json!({"name": "b", "timeout_secs": 5}));
    assert_eq!(
        (jobs[0].line_of("timeout_secs"), jobs[1].line_of("name")),
        (4, 6)
    );
    assert_eq!(
        (jobs[2].line, jobs[2].line_of("retry.max_retries")),
        (7, 10)
    );
}
