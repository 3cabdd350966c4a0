//! This scheduler's own record in etcd (`{prefix}/schedulers/{id}`), attached to its own
//! lease: agents list the directory to find where to report executions, and the record
//! disappears within one TTL of the scheduler dying (at once when it stops cleanly).

use std::sync::Arc;
use std::time::Duration;

use crony_common::lease::Fence;
use crony_common::leased_key::LeasedKey;
use crony_common::registry::{SchedulerRecord, scheduler_key};
use etcd_client::Client;

/// The leased key announcing this scheduler (nothing is fenced on its lease).
pub fn announcer(
    client: Client,
    prefix: &str,
    record: &SchedulerRecord,
    ttl: Duration,
) -> LeasedKey {
    LeasedKey::new(
        client,
        scheduler_key(prefix, &record.id),
        serde_json::to_string(record).expect("scheduler record serialises"),
        ttl,
        Arc::new(Fence::default()),
    )
}

/// `http(s)://host:port` for a bound address: the advertised host if configured, else the
/// bound IP unless it is unspecified (0.0.0.0 / ::), else this machine's hostname.
pub fn url_for(addr: std::net::SocketAddr, advertise_host: Option<&str>, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = match advertise_host {
        Some(host) => host.to_owned(),
        None if addr.ip().is_unspecified() => {
            gethostname::gethostname().to_string_lossy().into_owned()
        }
        None => addr.ip().to_string(),
    };
    if host.contains(':') {
        format!("{scheme}://[{host}]:{}", addr.port())
    } else {
        format!("{scheme}://{host}:{}", addr.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_use_the_advertised_host_then_the_bound_ip() {
        let bound: std::net::SocketAddr = "10.0.0.5:9090".parse().unwrap();
        assert_eq!(url_for(bound, None, false), "http://10.0.0.5:9090");
        assert_eq!(
            url_for(bound, Some("s1.internal"), true),
            "https://s1.internal:9090"
        );
        let v6: std::net::SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(url_for(v6, None, false), "http://[::1]:80");
        let any: std::net::SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert!(!url_for(any, None, false).contains("0.0.0.0"));
    }
}
