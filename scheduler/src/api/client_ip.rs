//! The caller's address as handlers see it: the TCP peer that both listeners (plain and TLS,
//! see `https.rs`) hand over as `ConnectInfo`, or, behind a trusted proxy, the client it
//! names in `X-Forwarded-For` (`auth::client_addr` decides which).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::AppState;

/// The caller's address, when the server knows it (for the audit log and login throttling).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, app)))
    }
}

pub(crate) fn client_ip(parts: &Parts, app: &AppState) -> Option<IpAddr> {
    let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
    let forwarded_for = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| value.as_bytes());
    Some(app.auth.proxies.client_address(peer.ip(), forwarded_for))
}
