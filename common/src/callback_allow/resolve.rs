//! The allow-list on the way to a connection: [`resolve`] gives the addresses of a host that
//! may be used, and the reqwest pieces ([`AllowResolver`], [`refuse_url`], [`guard_client`],
//! [`redirect_policy`]) put it under every request of a client.

use std::error::Error;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::list::{CallbackAllow, Verdict};
use super::refusal::{Refusal, ResolveError};

type BoxError = Box<dyn Error + Send + Sync>;

/// The addresses of `host` to connect to, or why none may be used.
pub async fn resolve(
    allow: &CallbackAllow,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match allow.check_host(host) {
        Verdict::Refused => return Err(Refusal::Host(bare.to_owned()).into()),
        Verdict::Allowed | Verdict::ByAddress => {}
    }
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|source| ResolveError::Lookup {
            host: bare.to_owned(),
            source,
        })?
        .collect();
    let ips: Vec<IpAddr> = addresses.iter().map(SocketAddr::ip).collect();
    allow.check_resolved(bare, &ips)?;
    Ok(addresses)
}

/// The refusal of a URL whose host is refused outright, before anything is sent; `None` when
/// the host is allowed or must be decided by its addresses (by the resolver).
pub fn refuse_url(allow: &CallbackAllow, url: &reqwest::Url) -> Option<Refusal> {
    let host = url.host_str().unwrap_or_default();
    (allow.check_host(host) == Verdict::Refused).then(|| {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        Refusal::Host(bare.to_owned())
    })
}

/// [`refuse_url`] for a URL as written (a job's, a setting's); one that does not parse is
/// left to the caller's own validation.
pub fn refuse_url_str(allow: &CallbackAllow, raw: &str) -> Option<Refusal> {
    refuse_url(allow, &reqwest::Url::parse(raw).ok()?)
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

/// A client builder whose every name lookup goes through `allow`. Proxies are turned off:
/// through one (`HTTP_PROXY` and friends) the proxy would resolve the target and the addresses
/// could not be checked. The caller still checks each URL with [`refuse_url`] (address
/// literals never reach a resolver) and chooses a redirect policy.
pub fn guard_client(
    builder: reqwest::ClientBuilder,
    allow: Arc<CallbackAllow>,
) -> reqwest::ClientBuilder {
    builder
        .no_proxy()
        .dns_resolver(Arc::new(AllowResolver(allow)))
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
