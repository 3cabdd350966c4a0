//! Why a callback host is not called, as types: callers tell "the list refused it" from "it
//! could not be reached" by looking for a [`Refusal`] in an error's source chain, whatever
//! HTTP or gRPC layers wrapped it.

use std::error::Error;
use std::net::IpAddr;

/// The list refused the host: nothing was sent to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Refused by what it is called (or by its address, for an address literal).
    #[error("callback host {0:?} is not allowed by CRONY_CALLBACK_ALLOW")]
    Host(String),
    /// The name resolved to an address outside the list's networks.
    #[error("callback host {host:?} resolves to {ip}, which CRONY_CALLBACK_ALLOW does not allow")]
    Address { host: String, ip: IpAddr },
}

impl Refusal {
    /// The refusal somewhere in `error`'s source chain (reqwest and hyper wrap it in
    /// connection errors), if the list is why it failed.
    pub fn find<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a Refusal> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(refusal) = e.downcast_ref::<Refusal>() {
                return Some(refusal);
            }
            if let Some(ResolveError::Refused(refusal)) = e.downcast_ref::<ResolveError>() {
                return Some(refusal);
            }
            current = e.source();
        }
        None
    }
}

/// Why a callback host yielded no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("callback host {0:?} has no address")]
    NoAddress(String),
    #[error("cannot resolve callback host {host:?}: {source}")]
    Lookup {
        host: String,
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Wrapper(#[source] Box<dyn Error + Send + Sync>);

    #[test]
    fn a_refusal_is_found_under_wrappers() {
        let refusal = Refusal::Host("metadata".into());
        let wrapped = Wrapper(Box::new(ResolveError::from(refusal.clone())));
        assert_eq!(Refusal::find(&wrapped), Some(&refusal));
        let other = Wrapper(Box::new(ResolveError::NoAddress("x".into())));
        assert_eq!(Refusal::find(&other), None);
    }
}
