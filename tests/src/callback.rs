//! A user's gRPC service implementing `crony.v1.JobCallback` on loopback. What it answers
//! depends on the job's payload: `succeed`, `fail`, `accept` (async: report later), anything
//! else fails with a message. Every request is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crony_proto::v1::job_callback_server::{JobCallback, JobCallbackServer};
use crony_proto::v1::{ExecuteRequest, ExecuteResponse, execute_response};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ExecuteRequest>>>);

#[tonic::async_trait]
impl JobCallback for Recorder {
    async fn execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        let request = request.into_inner();
        let (status, output) = match request.payload.as_str() {
            "succeed" => (execute_response::Status::Succeeded, "done".to_owned()),
            "fail" => (execute_response::Status::Failed, "it broke".to_owned()),
            "accept" => (
                execute_response::Status::Accepted,
                "working on it".to_owned(),
            ),
            other => (
                execute_response::Status::Failed,
                format!("unknown payload {other:?}"),
            ),
        };
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request);
        Ok(Response::new(ExecuteResponse {
            status: status as i32,
            output,
        }))
    }
}

pub struct CallbackServer {
    pub addr: SocketAddr,
    recorder: Recorder,
    stop: CancellationToken,
}

impl CallbackServer {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let recorder = Recorder::default();
        let stop = CancellationToken::new();
        let service = JobCallbackServer::new(recorder.clone());
        let shutdown = stop.clone();
        tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                .await;
        });
        Ok(Self {
            addr,
            recorder,
            stop,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<ExecuteRequest> {
        self.recorder
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
