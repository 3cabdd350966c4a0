//! `CRONY_CALLBACK_ALLOW` at call time. The scheduler refused hosts it could judge by name;
//! here the addresses are checked too, and they are the very addresses the connection then
//! uses (a resolver for reqwest, a connector for tonic), so a name that resolves somewhere
//! allowed when checked and to a forbidden network when connecting (DNS rebinding) is refused.

use std::error::Error;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crony_common::callback_allow::{CallbackAllow, Verdict};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::codegen::http::Uri;

type BoxError = Box<dyn Error + Send + Sync>;

/// The addresses of `host` to connect to, or why none may be used.
pub async fn resolve(
    allow: &CallbackAllow,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match allow.check_host(host) {
        Verdict::Refused => return Err(CallbackAllow::refusal(bare)),
        Verdict::Allowed | Verdict::ByAddress => {}
    }
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| format!("cannot resolve callback host {bare:?}: {e}"))?
        .collect();
    let ips: Vec<IpAddr> = addresses.iter().map(SocketAddr::ip).collect();
    allow.check_resolved(bare, &ips)?;
    Ok(addresses)
}

/// The refusal of a URL whose host is refused outright, before anything is sent; `None` when
/// the host is allowed or must be decided by its addresses (by the resolver).
pub fn refuse_url(allow: &CallbackAllow, url: &reqwest::Url) -> Option<String> {
    let host = url.host_str().unwrap_or_default();
    (allow.check_host(host) == Verdict::Refused).then(|| CallbackAllow::refusal(host))
}

/// For reqwest: every name it resolves, including those of redirects, goes through the list.
/// (Address literals never reach a resolver; [`refuse_url`] and the redirect policy cover them.)
pub struct AllowResolver(pub Arc<CallbackAllow>);

impl reqwest::dns::Resolve for AllowResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.0.clone();
        Box::pin(async move {
            // reqwest puts the real port in afterwards.
            let addresses = resolve(&allow, name.as_str(), 0)
                .await
                .map_err(BoxError::from)?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Redirects are followed (at most 10, like reqwest's default) only to allowed hosts.
pub fn redirect_policy(allow: Arc<CallbackAllow>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 10 {
            return attempt.error("too many redirects");
        }
        match refuse_url(&allow, attempt.url()) {
            Some(refusal) => attempt.error(refusal),
            None => attempt.follow(),
        }
    })
}

/// For tonic: connects only to allowed addresses of the endpoint's host.
#[derive(Clone)]
pub struct AllowConnector(pub Arc<CallbackAllow>);

impl tower::Service<Uri> for AllowConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let allow = self.0.clone();
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
                match tokio::time::timeout(super::CONNECT_TIMEOUT, TcpStream::connect(address))
                    .await
                {
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
