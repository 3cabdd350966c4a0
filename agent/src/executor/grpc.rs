//! gRPC targets: one unary call of `ExecuteRequest` → `ExecuteResponse` to any method path, so
//! one user service can expose many jobs under different methods.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crony_common::callback_allow::{AllowConnector, CallbackAllow};
use crony_proto::v1::{ExecuteRequest, ExecuteResponse, execute_response};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::output::capture_bytes;
use super::{AttemptContext, AttemptOutcome, AttemptStatus, Executor, OUTPUT_CAP, error_chain};
use crate::job::GrpcTarget;

/// One lazily connected channel per endpoint, shared by every job that targets it: a channel
/// multiplexes calls over HTTP/2, so connecting per attempt would only add latency.
#[derive(Clone, Default)]
pub struct ChannelCache {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    /// `CRONY_CALLBACK_ALLOW`: channels then connect through [`AllowConnector`].
    allow: Option<Arc<CallbackAllow>>,
}

impl std::fmt::Debug for ChannelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelCache")
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl ChannelCache {
    pub fn new(allow: Option<Arc<CallbackAllow>>) -> Self {
        Self {
            channels: Arc::default(),
            allow,
        }
    }

    /// Must run inside the runtime: a lazy channel spawns its connection worker.
    fn get(&self, endpoint: &Endpoint) -> Channel {
        let key = endpoint.uri().to_string();
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        channels
            .entry(key)
            .or_insert_with(|| match &self.allow {
                Some(allow) => endpoint.connect_with_connector_lazy(AllowConnector::new(
                    allow.clone(),
                    super::CONNECT_TIMEOUT,
                )),
                None => endpoint.connect_lazy(),
            })
            .clone()
    }
}

pub struct GrpcExecutor {
    endpoint: Endpoint,
    path: PathAndQuery,
    metadata: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
    channels: ChannelCache,
}

impl GrpcExecutor {
    /// The endpoint, method and metadata were checked when the job arrived; only TLS set-up
    /// can still fail here.
    pub fn new(target: &GrpcTarget, channels: ChannelCache) -> Result<Self, String> {
        let mut endpoint =
            Endpoint::from(target.endpoint.clone()).connect_timeout(super::CONNECT_TIMEOUT);
        // Users' services are verified like any HTTPS site: against the public roots.
        if endpoint.uri().scheme_str() == Some("https") {
            endpoint = endpoint
                .tls_config(tonic::transport::ClientTlsConfig::new().with_webpki_roots())
                .map_err(|e| format!("invalid gRPC endpoint {}: {e}", target.endpoint))?;
        }
        Ok(Self {
            endpoint,
            path: target.path.clone(),
            metadata: target.metadata.clone(),
            channels,
        })
    }

    fn request(&self, ctx: &AttemptContext) -> tonic::Request<ExecuteRequest> {
        let message = ExecuteRequest {
            execution_id: ctx.execution_id.clone(),
            job_id: ctx.job_id.clone(),
            job_name: ctx.job_name.clone(),
            payload: ctx.payload.clone(),
            attempt: ctx.attempt,
            scheduled_at: Some(timestamp(ctx.scheduled_at)),
            deadline: Some(timestamp(ctx.deadline)),
            report_url: ctx.report_url.clone(),
            report_token: ctx.report_token.clone(),
        };
        let mut request = tonic::Request::new(message);
        for (key, value) in &self.metadata {
            request.metadata_mut().append(key.clone(), value.clone());
        }
        // After the job's own metadata, so configuration cannot spoof the trace.
        if let Some(value) = ctx.traceparent.as_deref().and_then(|v| v.parse().ok()) {
            request
                .metadata_mut()
                .insert(crony_common::traces::TRACEPARENT, value);
        }
        // grpc-timeout lets the server give up when the agent does.
        if let Ok(remaining) = (ctx.deadline - chrono::Utc::now()).to_std() {
            request.set_timeout(remaining);
        }
        request
    }
}

#[async_trait::async_trait]
impl Executor for GrpcExecutor {
    async fn execute(&self, ctx: &AttemptContext) -> AttemptOutcome {
        let mut client = tonic::client::Grpc::new(self.channels.get(&self.endpoint));
        if let Err(e) = client.ready().await {
            return failed(format!(
                "gRPC endpoint {} not ready: {}",
                self.endpoint.uri(),
                error_chain(&e)
            ));
        }
        let codec = tonic_prost::ProstCodec::<ExecuteRequest, ExecuteResponse>::default();
        let response = match client
            .unary(self.request(ctx), self.path.clone(), codec)
            .await
        {
            Ok(response) => response.into_inner(),
            Err(status) => return failed(status_error(&status)),
        };
        let (output, output_truncated) = capture_bytes(response.output.as_bytes(), OUTPUT_CAP);
        use execute_response::Status;
        let mut outcome = match Status::try_from(response.status) {
            Ok(Status::Succeeded) => AttemptOutcome::with_status(AttemptStatus::Succeeded, ""),
            Ok(Status::Accepted) => AttemptOutcome::with_status(AttemptStatus::Accepted, ""),
            Ok(Status::Failed) => failed("target answered FAILED"),
            Ok(Status::Unspecified) => failed(
                "target answered STATUS_UNSPECIFIED (expected SUCCEEDED, FAILED or ACCEPTED)",
            ),
            Err(_) => failed(format!(
                "target answered unknown status {} (expected SUCCEEDED, FAILED or ACCEPTED)",
                response.status
            )),
        };
        outcome.output = output;
        outcome.output_truncated = output_truncated;
        outcome
    }
}

fn failed(error: impl Into<String>) -> AttemptOutcome {
    AttemptOutcome::with_status(AttemptStatus::Failed, error)
}

/// "gRPC Unimplemented: …", with the transport cause when there is one: connection errors
/// arrive as Unavailable with the real reason ("connection refused") only in the source chain.
fn status_error(status: &tonic::Status) -> String {
    let code = status.code();
    match std::error::Error::source(status).map(error_chain) {
        Some(cause) if cause.contains(status.message()) => format!("gRPC {code:?}: {cause}"),
        Some(cause) => format!("gRPC {code:?}: {} ({cause})", status.message()),
        None => format!("gRPC {code:?}: {}", status.message()),
    }
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}
