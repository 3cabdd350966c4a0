//! Driving a scheduler's `ReportService` the way an agent does, for tests that need
//! executions without running jobs: a client carrying the cluster token, and reports to send.

use std::time::Duration;

use crony_proto::auth::AttachClusterToken;
use crony_proto::v1::report_service_client::ReportServiceClient;
use crony_proto::v1::{Attempt, ExecutionReport, ExecutionStatus, ReportBatch, TriggerKind};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub type ReportClient = ReportServiceClient<InterceptedService<Channel, AttachClusterToken>>;

/// A client for the scheduler's gRPC address, sending `token` (if any) as the cluster token.
pub fn report_client(grpc_addr: std::net::SocketAddr, token: Option<&str>) -> ReportClient {
    let endpoint = Endpoint::from_shared(format!("http://{grpc_addr}"))
        .expect("valid endpoint")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(15));
    ReportServiceClient::with_interceptor(
        endpoint.connect_lazy(),
        AttachClusterToken::new(token).expect("printable token"),
    )
}

/// Sends one batch; the acked ids (sorted) or the gRPC status.
pub async fn send(
    client: &mut ReportClient,
    reports: Vec<ExecutionReport>,
) -> Result<Vec<String>, tonic::Status> {
    let ack = client
        .report(ReportBatch {
            agent_id: reports
                .first()
                .map(|r| r.agent_id.clone())
                .unwrap_or_default(),
            reports,
        })
        .await?
        .into_inner();
    let mut ids = ack.acked_execution_ids;
    ids.sort();
    Ok(ids)
}

/// A `running` snapshot (revision 1) of a scheduled execution, started 10 ms after its instant.
pub fn running(id: &str, job_id: &str, scheduled_at_ms: i64) -> ExecutionReport {
    ExecutionReport {
        execution_id: id.to_owned(),
        job_id: job_id.to_owned(),
        agent_id: "agent-a".to_owned(),
        epoch: 1,
        scheduled_at_ms,
        started_at_ms: scheduled_at_ms + 10,
        status: ExecutionStatus::Running as i32,
        trigger: TriggerKind::Schedule as i32,
        revision: 1,
        ..Default::default()
    }
}

/// The final snapshot (revision 2) of [`running`], with one attempt.
pub fn finished(
    id: &str,
    job_id: &str,
    scheduled_at_ms: i64,
    status: ExecutionStatus,
) -> ExecutionReport {
    let started = scheduled_at_ms + 10;
    let finished = started + 250;
    ExecutionReport {
        finished_at_ms: finished,
        status: status as i32,
        attempts: vec![Attempt {
            number: 1,
            started_at_ms: started,
            finished_at_ms: finished,
            status: status as i32,
            exit_code: Some(if status == ExecutionStatus::Succeeded {
                0
            } else {
                3
            }),
            http_status: None,
            error: String::new(),
        }],
        output: format!("output of {id}"),
        exit_code: Some(if status == ExecutionStatus::Succeeded {
            0
        } else {
            3
        }),
        revision: 2,
        ..running(id, job_id, scheduled_at_ms)
    }
}

/// A `missed` record of a scheduled instant (final from the start).
pub fn missed(id: &str, job_id: &str, scheduled_at_ms: i64, agent: &str) -> ExecutionReport {
    ExecutionReport {
        agent_id: agent.to_owned(),
        started_at_ms: 0,
        status: ExecutionStatus::Missed as i32,
        ..running(id, job_id, scheduled_at_ms)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}
