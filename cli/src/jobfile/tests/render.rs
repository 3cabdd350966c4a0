//! Tests for rendering jobs as job files that parse back to the same JSON.

use std::path::Path;

use serde_json::{Value, json};

use super::super::{parse, render, render_with_references};
use super::{no_env, parse_ok};

fn tricky_job() -> Value {
    json!({
        "name": "tricky",
        "schedule": "0 */5 * * * *",
        "enabled": false,
        "description": "first line\nsecond line\n",
        "target": {"kind": "http", "url": "https://x", "headers": {"X-Id": "0123"},
                   "body": "{\"a\": \"${not a ref}\"}", "success_status": [200, 204]},
        "payload": {"n": 1.5, "neg": -3, "yes": "yes", "null": "null", "literal": "$${x}",
                    "list": [1, "two", {"three": true}], "empty": {}},
        "retry": {"max_retries": 3, "backoff": "exponential"},
        "alerts": {"on": ["failure"], "feishu_webhooks": [{"url": "https://f", "secret": "${env:S}"}]},
        "timeout_secs": 30,
    })
}

#[test]
fn render_round_trips_yaml() {
    let jobs = vec![tricky_job(), json!({"name": "b", "schedule": "@daily"})];
    let text = render(&jobs, false, "exported by crony").unwrap();
    assert!(text.starts_with("# exported by crony\njobs:\n"), "{text}");
    let parsed = parse(Path::new("out.yaml"), &text, &no_env).unwrap();
    let bodies: Vec<Value> = parsed.into_iter().map(|j| j.body).collect();
    assert_eq!(bodies, jobs, "{text}");
    let order: Vec<usize> = [
        "name:",
        "description:",
        "schedule:",
        "enabled:",
        "target:",
        "alerts:",
    ]
    .iter()
    .filter_map(|k| text.find(k))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn render_round_trips_toml() {
    let jobs = vec![tricky_job()];
    let text = render(&jobs, true, "exported").unwrap();
    let parsed = parse(Path::new("out.toml"), &text, &no_env).unwrap();
    assert_eq!(parsed[0].body, jobs[0], "{text}");
    assert!(text.find("name =") < text.find("schedule ="), "{text}");
}

#[test]
fn render_drops_nulls_only_in_toml() {
    let jobs = vec![json!({"name": "a", "description": null})];
    let yaml = render(&jobs, false, "").unwrap();
    assert_eq!(parse_ok("a.yaml", &yaml)[0].body, jobs[0]);
    let toml = render(&jobs, true, "").unwrap();
    assert_eq!(parse_ok("a.toml", &toml)[0].body, json!({"name": "a"}));
    assert!(render(&[json!(3)], false, "").is_err());
}

#[test]
fn render_keeps_named_references_live() {
    let jobs = vec![json!({"name": "a", "target": {"env": {"K": "${env:K}", "L": "${env:L}"}}})];
    let text = render_with_references(&jobs, false, "", &["K".to_string()]).unwrap();
    let lookup = |name: &str| (name == "K").then(|| "value".to_string());
    let parsed = parse(Path::new("a.yaml"), &text, &lookup).unwrap();
    assert_eq!(
        parsed[0].body["target"]["env"],
        json!({"K": "value", "L": "${env:L}"})
    );
}
