//! Connecting to etcd the same way in every binary: as the configured user, over TLS for
//! `https://` endpoints, and proving at start that etcd answers and lets this process read and
//! write its prefix, so a wrong endpoint, password, CA or role stops the process with one line
//! naming the setting instead of a process that silently sees nothing.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};

use crate::etcd_access::EtcdAccess;
use crate::etcd_probe::{Blame, probe_endpoints, status_text};

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error(
        "etcd at {endpoints} refused CRONY_ETCD_USERNAME {user:?} with CRONY_ETCD_PASSWORD: {message}"
    )]
    Credentials {
        endpoints: String,
        user: String,
        message: String,
    },
    #[error(
        "etcd at {endpoints} has authentication disabled, yet CRONY_ETCD_USERNAME is set: enable it in etcd (`etcdctl auth enable`) or unset CRONY_ETCD_USERNAME and CRONY_ETCD_PASSWORD"
    )]
    AuthDisabled { endpoints: String },
    #[error(
        "etcd at {endpoints} requires authentication: set CRONY_ETCD_USERNAME and CRONY_ETCD_PASSWORD (or CRONY_ETCD_TLS_CERT and CRONY_ETCD_TLS_KEY for a client certificate)"
    )]
    CredentialsMissing { endpoints: String },
    #[error(
        "etcd user {user} may not read and write {prefix}/ (CRONY_ETCD_PREFIX): grant its role readwrite on the key prefix {prefix}/ ({message})"
    )]
    Permission {
        user: String,
        prefix: String,
        message: String,
    },
    #[error("TLS with etcd at {endpoint} failed ({blame}): {message}")]
    Tls {
        endpoint: String,
        blame: String,
        message: String,
    },
    #[error("cannot reach etcd at {endpoints} (CRONY_ETCD_ENDPOINTS): {message}")]
    Unreachable { endpoints: String, message: String },
}

/// Connects as `access` says and checks that this process may read and write `{prefix}/`,
/// all within `within`.
///
/// The client refreshes its authentication token whenever etcd answers that it is invalid
/// (etcd forgets simple tokens after `--auth-token-ttl` of disuse, and all of them when it
/// restarts), and retries the call once; see `vendor/etcd-client/CRONY-PATCH.md` for the
/// streams (watches, lease keep-alives) this covers.
///
/// No HTTP/2 keep-alive pings: etcd 3.4 answered them with "too many pings" and dropped the
/// connection every few seconds, breaking every watch. Silent connection loss is detected by
/// the callers instead (lease keep-alive answers, watch progress requests).
pub async fn connect(
    endpoints: &[String],
    access: &EtcdAccess,
    prefix: &str,
    within: Duration,
) -> Result<Client, EtcdError> {
    crate::tls::install_crypto_provider();
    warn_if_unsafe(endpoints, access);
    let mut options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(3))
        .with_auto_token_refresh(true);
    if let Some(user) = &access.user {
        options = options.with_user(user.name.as_str(), user.password.as_str());
    }
    if let Some(tls) = &access.tls {
        options = options.with_tls(tls.options());
    }
    let probe = async {
        let mut client = Client::connect(endpoints, Some(options)).await?;
        check_access(&mut client, prefix).await?;
        Ok::<_, etcd_client::Error>(client)
    };
    let joined = endpoints.join(",");
    let message = match tokio::time::timeout(within, probe).await {
        Ok(Ok(client)) => return Ok(client),
        Ok(Err(e)) => match classify(&joined, access, prefix, &e) {
            Ok(refused) => return Err(refused),
            Err(message) => message,
        },
        Err(_) => format!("no answer within {} s", within.as_secs()),
    };
    // The client waits for a usable connection without saying why there is none (refused,
    // TLS handshake failed…), or reports a broken one vaguely ("transport error"); dial each
    // endpoint once more on its own to find out.
    Err(
        match probe_endpoints(endpoints, access.tls.as_ref()).await {
            Some((endpoint, message, Blame::Tls(blame))) => EtcdError::Tls {
                endpoint,
                blame,
                message,
            },
            Some((endpoint, message, Blame::Endpoint)) => EtcdError::Unreachable {
                endpoints: endpoint,
                message,
            },
            None => EtcdError::Unreachable {
                endpoints: joined,
                message,
            },
        },
    )
}

/// Reads one key of the prefix and checks write permission without writing: etcd checks the
/// permissions of both branches of a transaction, and the compare (version < 0) never holds.
async fn check_access(client: &mut Client, prefix: &str) -> Result<(), etcd_client::Error> {
    let dir = format!("{prefix}/");
    let read = GetOptions::new()
        .with_prefix()
        .with_keys_only()
        .with_limit(1);
    client.get(dir.as_str(), Some(read)).await?;
    let key = format!("{prefix}/access-check");
    let never = Compare::version(key.as_str(), CompareOp::Less, 0);
    let txn = Txn::new()
        .when([never])
        .and_then([TxnOp::put(key.as_str(), "", None)]);
    client.txn(txn).await?;
    Ok(())
}

/// etcd's answers (rpctypes) to a wrong or missing credential and a role without the prefix;
/// `Err` with the message for anything else.
fn classify(
    endpoints: &str,
    access: &EtcdAccess,
    prefix: &str,
    e: &etcd_client::Error,
) -> Result<EtcdError, String> {
    let endpoints = endpoints.to_owned();
    let message = match e {
        etcd_client::Error::GRpcStatus(status) => status_text(status),
        other => crate::error_chain::error_chain(other),
    };
    let user = access.user.as_ref().map(|u| u.name.clone());
    Ok(if message.contains("authentication failed") {
        EtcdError::Credentials {
            endpoints,
            user: user.unwrap_or_default(),
            message,
        }
    } else if message.contains("authentication is not enabled") {
        EtcdError::AuthDisabled { endpoints }
    } else if message.contains("user name is empty") {
        EtcdError::CredentialsMissing { endpoints }
    } else if message.contains("permission denied") {
        EtcdError::Permission {
            user: user.map_or_else(
                || "of CRONY_ETCD_TLS_CERT (its common name)".to_owned(),
                |u| format!("{u:?} (CRONY_ETCD_USERNAME)"),
            ),
            prefix: prefix.to_owned(),
            message,
        }
    } else {
        return Err(message);
    })
}

fn warn_if_unsafe(endpoints: &[String], access: &EtcdAccess) {
    if access.is_anonymous() {
        tracing::warn!(
            "etcd access is not authenticated: whoever can reach etcd can announce an agent and \
             receive job specs, or act as the leader; set CRONY_ETCD_USERNAME and \
             CRONY_ETCD_PASSWORD (see docs/security.md)"
        );
    }
    if access.user.is_some() && access.tls.is_none() {
        tracing::warn!(
            endpoints = %endpoints.join(","),
            "CRONY_ETCD_PASSWORD travels unencrypted over http://; use https:// endpoints \
             (CRONY_ETCD_TLS_CA)"
        );
    }
}
