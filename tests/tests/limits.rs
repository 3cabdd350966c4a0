//! The limits a user can run into, each answered the documented way: a body over 1 MiB is a
//! 413 with a JSON error naming `body`; names, descriptions, payloads and page sizes over their
//! limits are 400s naming the field; output over 64 KiB keeps its head and tail and says so.

mod common;

use std::time::Duration;

use common::{create_job, scheduler_and_agent};
use crony_tests::{TestEnv, TestScheduler, wait_until};
use serde_json::{Value, json};

async fn post_raw(url: &str, body: Vec<u8>) -> anyhow::Result<(u16, String, Value)> {
    let response = crony_tests::api_client()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    let json = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("answer is not JSON ({e}): {text:?}"))?;
    Ok((status, content_type, json))
}

fn assert_error(answer: &Value, code: &str, field: &str) {
    assert_eq!(answer["error"]["code"], code, "{answer}");
    assert_eq!(answer["error"]["field"], field, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
}

#[tokio::test]
async fn request_limits_answer_with_json_errors_naming_the_field() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let scheduler = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let jobs = scheduler.url("/api/v1/jobs");

    // A body over 1 MiB, on each endpoint that reads one.
    let huge = json!({"name": "huge", "schedule": "* * * * * *", "description": "x".repeat(2 << 20),
                      "target": {"kind": "shell", "command": "true"}});
    let huge = serde_json::to_vec(&huge)?;
    for path in ["/api/v1/jobs", "/api/v1/alerts/test"] {
        let (status, content_type, answer) = post_raw(&scheduler.url(path), huge.clone()).await?;
        assert_eq!(status, 413, "{path}: {answer}");
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {content_type}"
        );
        assert_error(&answer, "payload_too_large", "body");
    }

    // Field lengths.
    let job = |name: &str, extra: Value| {
        let mut body = json!({"name": name, "schedule": "* * * * * *",
                              "target": {"kind": "shell", "command": "true"}});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        serde_json::to_vec(&body).unwrap_or_default()
    };
    let cases = [
        (job(&"n".repeat(129), json!({})), "name"),
        (
            job("d", json!({"description": "d".repeat(2001)})),
            "description",
        ),
        (
            job("p", json!({"payload": "p".repeat(64 * 1024 + 1)})),
            "payload",
        ),
        (
            job(
                "c",
                json!({"target": {"kind": "shell", "command": "c".repeat(64 * 1024 + 1)}}),
            ),
            "target.command",
        ),
    ];
    for (body, field) in cases {
        let (status, _, answer) = post_raw(&jobs, body).await?;
        assert_eq!(status, 400, "{field}: {answer}");
        assert_error(&answer, "invalid_argument", field);
    }
    // Exactly at the limit is fine.
    create_job(
        &scheduler.base_url,
        &json!({"name": "n".repeat(128), "schedule": "* * * * * *",
        "enabled": false, "target": {"kind": "shell", "command": "true"}}),
    )
    .await
    .map_err(anyhow::Error::msg)?;

    // Page sizes.
    for path in ["/api/v1/jobs", "/api/v1/executions", "/api/v1/alerts"] {
        for limit in ["501", "0", "-1", "many"] {
            let (status, answer) =
                common::get_json(&scheduler.url(&format!("{path}?limit={limit}")))
                    .await
                    .map_err(anyhow::Error::msg)?;
            assert_eq!(status, 400, "{path}?limit={limit}: {answer}");
            assert_error(&answer, "invalid_argument", "limit");
        }
        let (status, _) = common::get_json(&scheduler.url(&format!("{path}?limit=500")))
            .await
            .map_err(anyhow::Error::msg)?;
        assert_eq!(status, 200, "{path}?limit=500");
    }
    let (status, answer) = common::get_json(
        &scheduler.url("/api/v1/cron/preview?schedule=*%20*%20*%20*%20*&count=101"),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 400, "{answer}");
    assert_error(&answer, "invalid_argument", "count");
    scheduler.stop().await;
    Ok(())
}

#[tokio::test]
async fn long_output_keeps_head_and_tail_and_says_it_was_cut() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let (scheduler, mut agent) = scheduler_and_agent(&env).await?;
    // 200 KB between a first and a last line.
    let job = create_job(
        &scheduler.base_url,
        &json!({"name": "chatty", "schedule": "@every 1h",
                "target": {"kind": "shell",
                           "command": "echo FIRST-LINE; head -c 200000 /dev/zero | tr '\\0' a; echo; echo LAST-LINE"}}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    // 409 or 503 until placement has given the job its agent and pushed it there.
    let trigger = format!("/api/v1/jobs/{job}/trigger");
    wait_until(
        "the trigger is accepted",
        Duration::from_secs(20),
        || async {
            let (status, answer) = common::post(&scheduler.base_url, &trigger, None).await?;
            match status {
                202 => Ok(Some(())),
                409 | 503 => Ok(None),
                _ => Err(format!("trigger answered {status}: {answer}")),
            }
        },
    )
    .await?;
    let done = wait_until(
        "the execution succeeded",
        Duration::from_secs(30),
        || async {
            Ok(
                common::executions_with(&scheduler.base_url, &job, "succeeded")
                    .await?
                    .into_iter()
                    .next(),
            )
        },
    )
    .await?;
    let id = done["id"].as_str().unwrap_or_default();
    let (_, detail) = common::get_json(&scheduler.url(&format!("/api/v1/executions/{id}")))
        .await
        .map_err(anyhow::Error::msg)?;
    let output = detail["output"].as_str().unwrap_or_default();
    assert_eq!(
        detail["output_truncated"],
        true,
        "{}",
        &output[..output.len().min(200)]
    );
    assert!(
        output.len() <= 64 * 1024 + 64,
        "output kept {} bytes",
        output.len()
    );
    assert!(
        output.len() >= 60 * 1024,
        "output kept only {} bytes",
        output.len()
    );
    assert!(output.starts_with("FIRST-LINE"), "head kept");
    assert!(output.trim_end().ends_with("LAST-LINE"), "tail kept");
    agent.kill();
    scheduler.stop().await;
    Ok(())
}
