//! The reporter against a scripted result endpoint on loopback: what it retries, what it does
//! not, and when it gives up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use crony_sdk::{Error, ReportRetryPolicy, ReportTarget, Reporter};
use serde_json::{Value, json};

/// Answers each POST with the next scripted (status, error code), then 200 with an execution.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<Vec<(u16, &'static str)>>>,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn endpoint(
    script: Script,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    script.seen.lock().unwrap().push((auth, body));
    let next = {
        let mut answers = script.answers.lock().unwrap();
        (!answers.is_empty()).then(|| answers.remove(0))
    };
    match next {
        Some((status, code)) => {
            let status = StatusCode::from_u16(status).unwrap();
            let message = format!("execution \"e1\" is already timed_out; kept ({code})");
            let body = json!({"error": {"code": code, "message": message}});
            let mut response = (status, axum::Json(body)).into_response();
            if code == "not_recorded_yet" {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, "0".parse().unwrap());
            }
            response
        }
        None => axum::Json(json!({
            "id": "e1", "job_id": "j1", "scheduled_at": "2026-01-01T00:00:00Z",
            "status": "succeeded", "output": "done", "late_result": null,
        }))
        .into_response(),
    }
}

async fn start(answers: &[(u16, &'static str)]) -> (Script, Reporter) {
    let script = Script::default();
    script.answers.lock().unwrap().extend_from_slice(answers);
    let state = script.clone();
    let app = axum::Router::new().route(
        "/api/v1/executions/e1/result",
        post(move |h: HeaderMap, b: axum::Json<Value>| endpoint(state.clone(), h, b)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/v1/executions/e1/result",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let reporter = Reporter::new(ReportTarget::new(url, "tok")).with_policy(ReportRetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        max_attempts: 5,
        ..ReportRetryPolicy::default()
    });
    (script, reporter)
}

#[tokio::test]
async fn not_recorded_yet_and_server_errors_are_retried_until_the_result_is_taken() {
    let (script, reporter) = start(&[
        (409, "not_recorded_yet"),
        (503, "unavailable"),
        (409, "not_recorded_yet"),
    ])
    .await;
    let execution = reporter.succeeded("done").await.unwrap();
    assert_eq!(execution.id, "e1");
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|(auth, _)| auth == "Bearer tok"));
    assert_eq!(seen[0].1, json!({"status": "succeeded", "output": "done"}));
}

#[tokio::test]
async fn a_wrong_token_and_a_settled_execution_are_final() {
    let (script, reporter) = start(&[(401, "unauthenticated")]).await;
    assert!(matches!(reporter.failed("x").await, Err(Error::WrongToken)));
    assert_eq!(script.seen.lock().unwrap().len(), 1, "not retried");

    let (script, reporter) = start(&[(409, "already_settled")]).await;
    match reporter.succeeded("late").await {
        Err(Error::AlreadySettled { current_status }) => assert_eq!(current_status, "timed_out"),
        other => panic!("{other:?}"),
    }
    assert_eq!(script.seen.lock().unwrap().len(), 1, "not retried");

    let (_, reporter) = start(&[(400, "invalid_argument")]).await;
    assert!(matches!(
        reporter.succeeded("x").await,
        Err(Error::Api { status: 400, .. })
    ));
}

#[tokio::test]
async fn the_reporter_gives_up_after_its_attempts() {
    let (script, reporter) = start(&[(503, "unavailable"); 10]).await;
    match reporter.succeeded("x").await {
        Err(Error::GaveUp { attempts, last }) => {
            assert_eq!(attempts, 5);
            assert_eq!(last.code(), Some("unavailable"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(script.seen.lock().unwrap().len(), 5);

    // Nobody listening: a transport error, retried, then given up.
    let reporter = Reporter::new(ReportTarget::new("http://127.0.0.1:9/result", "t")).with_policy(
        ReportRetryPolicy {
            initial_backoff: Duration::from_millis(5),
            max_attempts: 2,
            ..ReportRetryPolicy::default()
        },
    );
    match reporter.succeeded("x").await {
        Err(Error::GaveUp { attempts: 2, last }) => {
            assert!(matches!(*last, Error::Transport(_)), "{last}")
        }
        other => panic!("{other:?}"),
    }
}
