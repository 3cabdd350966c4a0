//! gRPC executor against a real `JobCallback` server on loopback.

mod support;

use std::time::{Duration, Instant};

use crony_agent::executor::{AttemptStatus, Executor, Executors, run_attempt};
use crony_agent::job::{Job, JobError};
use crony_proto::v1::job_callback_server::{JobCallback, JobCallbackServer};
use crony_proto::v1::{ExecuteRequest, ExecuteResponse, GrpcTarget, execute_response, target};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Answers according to the payload, and hands every request (plus its `x-team` metadata) to
/// the test.
struct Callback {
    seen: mpsc::UnboundedSender<(ExecuteRequest, Option<String>)>,
}

#[tonic::async_trait]
impl JobCallback for Callback {
    async fn execute(
        &self,
        request: tonic::Request<ExecuteRequest>,
    ) -> Result<tonic::Response<ExecuteResponse>, tonic::Status> {
        let team = request
            .metadata()
            .get("x-team")
            .map(|v| v.to_str().unwrap_or_default().to_string());
        let request = request.into_inner();
        let _ = self.seen.send((request.clone(), team));
        use execute_response::Status;
        let status = match request.payload.as_str() {
            "fail" => Status::Failed,
            "accept" => Status::Accepted,
            "unspecified" => Status::Unspecified,
            "error" => return Err(tonic::Status::permission_denied("not today")),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Status::Succeeded
            }
            _ => Status::Succeeded,
        };
        Ok(tonic::Response::new(ExecuteResponse {
            status: status as i32,
            output: format!("ran {}", request.execution_id),
        }))
    }
}

struct Server {
    endpoint: String,
    seen: mpsc::UnboundedReceiver<(ExecuteRequest, Option<String>)>,
}

async fn start_callback() -> Server {
    let (tx, seen) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(JobCallbackServer::new(Callback { seen: tx }))
            .serve_with_incoming(incoming),
    );
    Server {
        endpoint: format!("http://{addr}"),
        seen,
    }
}

fn job(target: GrpcTarget) -> Result<Job, JobError> {
    support::try_job("grpc-job", target::Kind::Grpc(target))
}

fn executor(executors: &Executors, endpoint: &str, method: &str) -> Box<dyn Executor> {
    let target = GrpcTarget {
        endpoint: endpoint.into(),
        method: method.into(),
        metadata: [("x-team".to_string(), "bi".to_string())].into(),
    };
    executors.for_job(&job(target).unwrap()).unwrap()
}

fn ctx_with_payload(payload: &str) -> crony_agent::executor::AttemptContext {
    let mut ctx = support::ctx();
    ctx.payload = payload.into();
    ctx
}

#[tokio::test]
async fn succeeded_and_request_fields_arrive() {
    let mut server = start_callback().await;
    let executors = Executors::new(false);
    let exec = executor(&executors, &server.endpoint, "");
    let ctx = ctx_with_payload(r#"{"region":"cn"}"#);
    let out = exec.execute(&ctx).await;
    assert_eq!(out.status, AttemptStatus::Succeeded, "{out:?}");
    assert_eq!(out.output, "ran exec-123");
    assert!(out.error.is_empty());

    let (request, team) = server.seen.recv().await.unwrap();
    assert_eq!(team.as_deref(), Some("bi"));
    assert_eq!(request.execution_id, "exec-123");
    assert_eq!(request.job_id, "job-456");
    assert_eq!(request.job_name, "nightly");
    assert_eq!(request.attempt, 2);
    assert_eq!(request.payload, r#"{"region":"cn"}"#);
    assert_eq!(request.report_url, ctx.report_url);
    assert_eq!(request.report_token, "tok.abc");
    assert_eq!(
        request.scheduled_at.unwrap().seconds,
        ctx.scheduled_at.timestamp()
    );
    assert_eq!(request.deadline.unwrap().seconds, ctx.deadline.timestamp());
}

#[tokio::test]
async fn statuses_map_to_outcomes() {
    let server = start_callback().await;
    let executors = Executors::new(false);
    let exec = executor(
        &executors,
        &server.endpoint,
        "/crony.v1.JobCallback/Execute",
    );

    let out = exec.execute(&ctx_with_payload("fail")).await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert_eq!(out.output, "ran exec-123");
    assert!(out.error.contains("FAILED"), "{}", out.error);

    let out = exec.execute(&ctx_with_payload("accept")).await;
    assert_eq!(out.status, AttemptStatus::Accepted, "{out:?}");

    let out = exec.execute(&ctx_with_payload("unspecified")).await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert!(out.error.contains("STATUS_UNSPECIFIED"), "{}", out.error);

    let out = exec.execute(&ctx_with_payload("error")).await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert!(out.error.contains("PermissionDenied"), "{}", out.error);
    assert!(out.error.contains("not today"), "{}", out.error);
}

#[tokio::test]
async fn unknown_method_is_unimplemented() {
    let server = start_callback().await;
    let executors = Executors::new(false);
    let exec = executor(&executors, &server.endpoint, "/acme.Jobs/Nightly");
    let out = exec.execute(&support::ctx()).await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert!(
        out.error.to_lowercase().contains("unimplemented"),
        "{}",
        out.error
    );
}

#[tokio::test]
async fn unreachable_endpoint_fails() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let executors = Executors::new(false);
    let exec = executor(&executors, &format!("http://{addr}"), "");
    let out = exec.execute(&support::ctx()).await;
    assert_eq!(out.status, AttemptStatus::Failed);
    assert!(
        out.error.contains("Unavailable") || out.error.contains("refused"),
        "{}",
        out.error
    );
}

/// Checked when the job arrives: such a job is never held, so it never fails fire by fire.
#[tokio::test]
async fn invalid_targets_are_refused_up_front() {
    let bad_endpoint = GrpcTarget {
        endpoint: "not a uri".into(),
        ..Default::default()
    };
    let err = job(bad_endpoint).unwrap_err();
    assert_eq!(err.field, "target.grpc.endpoint", "{err}");

    let bad_method = GrpcTarget {
        endpoint: "http://127.0.0.1:1".into(),
        method: "Execute".into(),
        ..Default::default()
    };
    let err = job(bad_method).unwrap_err();
    assert_eq!(err.field, "target.grpc.method", "{err}");
}

#[tokio::test]
async fn timeout_cancels_a_slow_call_promptly() {
    let server = start_callback().await;
    let executors = Executors::new(false);
    let exec = executor(&executors, &server.endpoint, "");
    let started = Instant::now();
    let out = run_attempt(
        exec.as_ref(),
        &ctx_with_payload("slow"),
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
