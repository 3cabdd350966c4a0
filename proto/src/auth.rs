//! The shared cluster token on gRPC calls between agents and schedulers (design §6).

use std::sync::Arc;

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

use crate::CLUSTER_TOKEN_HEADER;

/// Rejects calls that do not carry the cluster token. Accepting every caller takes the
/// explicit [`ClusterTokenCheck::accept_anyone`], for a service that listens on loopback only.
#[derive(Clone)]
pub struct ClusterTokenCheck(Option<Arc<str>>);

impl ClusterTokenCheck {
    /// Every call must carry `token`.
    pub fn require(token: &str) -> Self {
        Self(Some(token.into()))
    }

    /// No check at all (`--insecure-no-cluster-token`).
    pub fn accept_anyone() -> Self {
        Self(None)
    }
}

impl tonic::service::Interceptor for ClusterTokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.0 else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get(CLUSTER_TOKEN_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(given, expected.as_bytes()) {
            Ok(request)
        } else {
            // Never the token itself: only that it was missing or wrong, and who sent it.
            tracing::warn!(
                peer = ?request.remote_addr(),
                token_sent = !given.is_empty(),
                "rejected a gRPC call with a missing or wrong cluster token"
            );
            Err(Status::unauthenticated("missing or wrong cluster token"))
        }
    }
}

/// Compares without an early exit, so response timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Adds the cluster token (when one is configured) to every outgoing call.
#[derive(Clone)]
pub struct AttachClusterToken(pub Option<MetadataValue<tonic::metadata::Ascii>>);

impl AttachClusterToken {
    /// Fails when the token cannot travel in gRPC metadata (non-visible-ASCII characters).
    pub fn new(token: Option<&str>) -> Result<Self, String> {
        token
            .map(|t| {
                t.parse()
                    .map_err(|_| "the cluster token must be printable ASCII".to_owned())
            })
            .transpose()
            .map(Self)
    }
}

impl tonic::service::Interceptor for AttachClusterToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert(CLUSTER_TOKEN_HEADER, token.clone());
        }
        Ok(request)
    }
}
