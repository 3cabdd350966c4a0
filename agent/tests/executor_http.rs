//! HTTP executor against a real axum server on loopback.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, get};
use crony_agent::executor::{AttemptStatus, Executor, Executors, OUTPUT_CAP, run_attempt};
use crony_proto::v1::{HttpTarget, target};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Sink {
    base: String,
    seen: mpsc::UnboundedReceiver<(String, HashMap<String, String>, String)>,
}

async fn start_sink() -> Sink {
    let (tx, seen) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/ok", get(|| async { "hello from sink" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/accepted",
            get(|| async { (StatusCode::ACCEPTED, "will report") }),
        )
        .route("/created", get(|| async { (StatusCode::CREATED, "made") }))
        .route("/big", get(|| async { "x".repeat(OUTPUT_CAP * 4) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "too late"
            }),
        )
        .route(
            "/record",
            any(
                move |method: axum::http::Method, headers: HeaderMap, body: String| {
                    let tx = tx.clone();
                    async move {
                        let headers = headers
                            .iter()
                            .map(|(k, v)| {
                                (k.to_string(), v.to_str().unwrap_or_default().to_string())
                            })
                            .collect();
                        let _ = tx.send((method.to_string(), headers, body));
                        "recorded"
                    }
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Sink {
        base: format!("http://{addr}"),
        seen,
    }
}

fn executor(target: HttpTarget) -> Box<dyn Executor> {
    let job = support::job("http-job", target::Kind::Http(target));
    Executors::new(false).for_job(&job).unwrap()
}

fn get_target(url: String) -> HttpTarget {
    HttpTarget {
        method: "GET".into(),
        url,
        ..Default::default()
    }
}

#[tokio::test]
async fn ok_response_succeeds_with_body_as_output() {
    let sink = start_sink().await;
    let out = executor(get_target(format!("{}/ok", sink.base)))
        .execute(&support::ctx())
        .await;
    assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");
    assert_eq!(out.output, "hello from sink");
    assert_eq!(out.http_status, Some(200));
    assert!(out.error.is_empty());
}

#[tokio::test]
async fn server_error_fails_with_status() {
    let sink = start_sink().await;
    let out = executor(get_target(format!("{}/fail", sink.base)))
        .execute(&support::ctx())
        .await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert_eq!(out.http_status, Some(500));
    assert_eq!(out.error, "HTTP 500 Internal Server Error");
    assert_eq!(out.output, "boom");
}

#[tokio::test]
async fn accepted_means_async() {
    let sink = start_sink().await;
    let out = executor(get_target(format!("{}/accepted", sink.base)))
        .execute(&support::ctx())
        .await;
    assert_eq!(out.status, AttemptStatus::Accepted, "{out:?}");
    assert_eq!(out.http_status, Some(202));
}

#[tokio::test]
async fn success_status_is_honoured() {
    let sink = start_sink().await;
    let mut target = get_target(format!("{}/created", sink.base));
    target.success_status = 201;
    let out = executor(target.clone()).execute(&support::ctx()).await;
    assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");

    // 200 is 2xx but not the status the job asked for.
    target.url = format!("{}/ok", sink.base);
    let out = executor(target.clone()).execute(&support::ctx()).await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert_eq!(out.error, "HTTP 200 OK (expected 201)");

    // Naming 202 as success turns "accepted" into plain success.
    target.url = format!("{}/accepted", sink.base);
    target.success_status = 202;
    let out = executor(target).execute(&support::ctx()).await;
    assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");
}

#[tokio::test]
async fn method_headers_body_and_context_arrive() {
    let mut sink = start_sink().await;
    let target = HttpTarget {
        method: "post".into(),
        url: format!("{}/record", sink.base),
        headers: [
            ("X-Team".to_string(), "bi".to_string()),
            // Configuration cannot spoof the context.
            ("X-Crony-Attempt".to_string(), "99".to_string()),
        ]
        .into(),
        body: r#"{"day":"yesterday"}"#.into(),
        success_status: 0,
    };
    let ctx = support::ctx();
    let out = executor(target).execute(&ctx).await;
    assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");
    let (method, headers, body) = sink.seen.recv().await.unwrap();
    assert_eq!(method, "POST");
    assert_eq!(body, r#"{"day":"yesterday"}"#);
    assert_eq!(headers["x-team"], "bi");
    assert_eq!(headers["x-crony-execution-id"], "exec-123");
    assert_eq!(headers["x-crony-job-id"], "job-456");
    assert_eq!(headers["x-crony-attempt"], "2");
    assert_eq!(headers["x-crony-scheduled-at"], "2026-01-02T03:04:05+00:00");
    assert_eq!(headers["x-crony-report-url"], ctx.report_url);
    assert_eq!(headers["x-crony-report-token"], "tok.abc");
    assert_eq!(headers["x-crony-payload"], r#"{"region":"cn"}"#);
}

#[tokio::test]
async fn non_ascii_payload_is_not_sent_as_header() {
    let mut sink = start_sink().await;
    let mut ctx = support::ctx();
    ctx.payload = "région\nnord".into();
    let out = executor(get_target(format!("{}/record", sink.base)))
        .execute(&ctx)
        .await;
    assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");
    let (_, headers, _) = sink.seen.recv().await.unwrap();
    assert!(!headers.contains_key("x-crony-payload"));
    assert_eq!(headers["x-crony-execution-id"], "exec-123");
}

#[tokio::test]
async fn big_body_is_capped() {
    let sink = start_sink().await;
    let out = executor(get_target(format!("{}/big", sink.base)))
        .execute(&support::ctx())
        .await;
    assert_eq!(out.status, AttemptStatus::Succeeded);
    assert!(out.output_truncated);
    assert!(out.output.len() < OUTPUT_CAP + 100, "{}", out.output.len());
    assert!(
        out.output
            .contains(&format!("[truncated {} bytes]", OUTPUT_CAP * 3))
    );
}

#[tokio::test]
async fn connection_refused_fails_with_cause() {
    // A port that was free a moment ago and has nobody listening now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let out = executor(get_target(format!("http://{addr}/ok")))
        .execute(&support::ctx())
        .await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert_eq!(out.http_status, None);
    assert!(
        out.error.to_lowercase().contains("refused"),
        "{}",
        out.error
    );
}

/// Refused when the job arrives, naming the field, rather than failing at every fire.
#[tokio::test]
async fn bad_configuration_is_refused_up_front() {
    let refused = |target: &HttpTarget| {
        support::try_job("http-job", target::Kind::Http(target.clone()))
            .unwrap_err()
            .field
    };
    let mut target = get_target("not a url".into());
    assert_eq!(refused(&target), "target.http.url");

    target.url = "http://127.0.0.1:1/".into();
    target.headers = [("bad header".to_string(), "v".to_string())].into();
    assert_eq!(refused(&target), "target.http.headers");

    target.headers.clear();
    target.method = "GE T".into();
    assert_eq!(refused(&target), "target.http.method");
}

#[tokio::test]
async fn timeout_cancels_a_slow_call_promptly() {
    let sink = start_sink().await;
    let exec = executor(get_target(format!("{}/slow", sink.base)));
    let started = Instant::now();
    let out = run_attempt(
        exec.as_ref(),
        &support::ctx(),
        Duration::from_millis(200),
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, AttemptStatus::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn kill_token_stops_a_call() {
    let sink = start_sink().await;
    let exec = executor(get_target(format!("{}/slow", sink.base)));
    let kill = CancellationToken::new();
    let attempt = {
        let kill = kill.clone();
        tokio::spawn(async move {
            run_attempt(
                exec.as_ref(),
                &support::ctx(),
                Duration::from_secs(60),
                &kill,
            )
            .await
        })
    };
    kill.cancel();
    let out = tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .expect("killed attempt returns promptly")
        .unwrap();
    assert_eq!(out.status, AttemptStatus::Killed);
}

/// A burst to one host runs at most `CRONY_AGENT_HTTP_PER_HOST` calls at a time, and every
/// call still gets through.
#[tokio::test]
async fn a_burst_to_one_host_keeps_to_the_per_host_bound() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let gauge = (now.clone(), most.clone());
    let app = Router::new().route(
        "/busy",
        get(move || {
            let (now, most) = gauge.clone();
            async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                "done"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/busy", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let executors = Executors::new(false).with_http_per_host(3);
    let job = support::job("burst", target::Kind::Http(get_target(url)));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let executor = executors.for_job(&job).unwrap();
        calls.spawn(async move { executor.execute(&support::ctx()).await });
    }
    while let Some(out) = calls.join_next().await {
        let out = out.unwrap();
        assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");
    }
    assert_eq!(most.load(Ordering::SeqCst), 3, "calls in flight at once");
}
