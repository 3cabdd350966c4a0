//! For tonic (and any hyper client taking a `tower::Service<Uri>` connector): connects only to
//! allowed addresses of the endpoint's host.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::codegen::http::Uri;

use super::list::CallbackAllow;
use super::resolve::resolve;

type BoxError = Box<dyn Error + Send + Sync>;

/// Tries the allowed addresses of the host in turn, each for at most `connect_timeout`.
#[derive(Clone)]
pub struct AllowConnector {
    allow: Arc<CallbackAllow>,
    connect_timeout: Duration,
}

impl AllowConnector {
    pub fn new(allow: Arc<CallbackAllow>, connect_timeout: Duration) -> Self {
        Self {
            allow,
            connect_timeout,
        }
    }
}

impl tower::Service<Uri> for AllowConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let allow = self.allow.clone();
        let connect_timeout = self.connect_timeout;
        Box::pin(async move {
            let host = uri.host().ok_or("the endpoint has no host")?;
            let default_port = if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            };
            let port = uri.port_u16().unwrap_or(default_port);
            let addresses = resolve(&allow, host, port).await?;
            let mut last_error = None;
            for address in addresses {
                match tokio::time::timeout(connect_timeout, TcpStream::connect(address)).await {
                    Ok(Ok(stream)) => {
                        // gRPC sends many small frames; Nagle would delay them.
                        stream.set_nodelay(true)?;
                        return Ok(TokioIo::new(stream));
                    }
                    Ok(Err(e)) => last_error = Some(format!("{address}: {e}")),
                    Err(_) => last_error = Some(format!("{address}: connect timed out")),
                }
            }
            Err(last_error
                .unwrap_or_else(|| format!("{host} has no address"))
                .into())
        })
    }
}
