//! The first admin: from `CRONY_ADMIN_PASSWORD`, or from a one-time setup token logged at start
//! while no account exists (there is no default password). Also the configured admin token.

use std::sync::Mutex;

use super::client_addr::TrustedProxies;
use super::settings::AuthSettings;
use super::throttle::LoginThrottle;
use super::{Actor, Role, password, token};
use crate::audit::AuditRecord;
use crate::store::tokens::NewToken;
use crate::store::{Store, StoreError};

/// What the API's authentication needs besides the store.
#[derive(Debug)]
pub struct AuthState {
    pub throttle: LoginThrottle,
    /// `CRONY_TRUSTED_PROXIES`: whose `X-Forwarded-For` names the client.
    pub proxies: TrustedProxies,
    /// Set while no account exists and no admin password is configured.
    pub setup_token: Mutex<Option<String>>,
    pub secure_cookies: bool,
    pub session_ttl: std::time::Duration,
}

/// Creates the configured admin and token if missing, or a setup token when there is no way
/// in yet. Schedulers starting together on a new database race here, and InnoDB may answer
/// one of them with a deadlock: that one tries again (everything here is idempotent).
pub async fn bootstrap(
    store: &dyn Store,
    settings: &AuthSettings,
    serves_tls: bool,
) -> Result<AuthState, StoreError> {
    let mut tries = 0;
    loop {
        match bootstrap_once(store, settings, serves_tls).await {
            Err(StoreError::Retry(e)) if tries < 10 => {
                tries += 1;
                tracing::debug!(error = %e, "account bootstrap raced another scheduler; again");
                tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
            }
            other => return other,
        }
    }
}

async fn bootstrap_once(
    store: &dyn Store,
    settings: &AuthSettings,
    serves_tls: bool,
) -> Result<AuthState, StoreError> {
    let configured = Actor::system("configuration");
    if let Some(pw) = &settings.admin_password
        && store.user_for_login(&settings.admin_user).await?.is_none()
    {
        let audit = AuditRecord::new(&configured, "user", "create");
        match store
            .create_user(
                &settings.admin_user,
                &password::hash(pw).await,
                Role::Admin,
                audit,
            )
            .await
        {
            // Another scheduler created it at the same moment: fine.
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        tracing::info!(user = %settings.admin_user, "created the first admin from CRONY_ADMIN_PASSWORD");
    }
    if let Some(t) = &settings.admin_token {
        let new = NewToken {
            name: "CRONY_ADMIN_TOKEN".into(),
            role: Role::Admin,
            hash: token::digest(t),
            prefix: token::display_prefix(t),
            expires_at: None,
        };
        store
            .ensure_token(&new, AuditRecord::new(&configured, "token", "create"))
            .await?;
    }
    let setup_token = if store.count_users().await? == 0 {
        let t = token::random_secret();
        // The one place a secret is logged on purpose: it is how the first admin gets in, and
        // it stops working once an account exists.
        tracing::warn!(
            setup_token = %t,
            "no accounts yet: create the first admin in the dashboard or with POST /api/v1/auth/setup using this one-time setup token (or set CRONY_ADMIN_PASSWORD)"
        );
        Some(t)
    } else {
        None
    };
    log_trusted_proxies(&settings.trusted_proxies);
    Ok(AuthState {
        throttle: LoginThrottle::default(),
        proxies: settings.trusted_proxies.clone(),
        setup_token: Mutex::new(setup_token),
        secure_cookies: settings.secure_cookies.unwrap_or(serves_tls),
        session_ttl: settings.session_ttl,
    })
}

/// Trusting a proxy is a choice with a cost (whoever can connect from its networks can claim
/// any address), so it is said at every start; trusting every address, loudly.
fn log_trusted_proxies(proxies: &TrustedProxies) {
    if proxies.trusts_everyone() {
        tracing::warn!(
            trusted_proxies = %proxies,
            "CRONY_TRUSTED_PROXIES trusts every address: any client can choose the address the login throttle and the audit log see"
        );
    } else if !proxies.is_empty() {
        tracing::info!(
            trusted_proxies = %proxies,
            "X-Forwarded-For is believed from these proxies only"
        );
    }
}
