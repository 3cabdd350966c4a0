//! Account and secret settings: the first admin, a configured admin token, the key for secrets
//! at rest, and session cookies. Error messages never repeat the values: they are secrets.

use std::time::Duration;

use crony_common::settings::{ConfigError, Setting, Sources, parse_in_range};

use super::client_addr::TrustedProxies;
use super::password;
use super::secrets::SecretBox;

const fn s(key: &'static str, env: &'static str, help: &'static str) -> Setting {
    Setting::new(key, env, help)
}

pub const ADMIN_USER: Setting = s(
    "admin_user",
    "CRONY_ADMIN_USER",
    "name of the first admin, created with CRONY_ADMIN_PASSWORD [default: admin]",
);
pub const ADMIN_PASSWORD: Setting = Setting::secret(
    "admin_password",
    "CRONY_ADMIN_PASSWORD",
    "password of the first admin, used only while that account does not exist; without it a one-time setup token is logged [default: none]",
);
pub const ADMIN_TOKEN: Setting = Setting::secret(
    "admin_token",
    "CRONY_ADMIN_TOKEN",
    "an admin API token accepted as configured (stored hashed), for provisioning scripts; at least 20 characters [default: none]",
);
pub const SECRET_KEY: Setting = Setting::secret(
    "secret_key",
    "CRONY_SECRET_KEY",
    "32-byte key (base64 or hex) encrypting job secrets in MySQL; every scheduler needs the same [default: none, stored in clear]",
);
pub const SECURE_COOKIES: Setting = s(
    "secure_cookies",
    "CRONY_SECURE_COOKIES",
    "mark session cookies Secure (set it behind a TLS proxy) [default: true when serving TLS]",
);
pub const SESSION_TTL: Setting = s(
    "session_ttl_secs",
    "CRONY_SESSION_TTL_SECS",
    "how long a dashboard login lasts, 60-2592000 [default: 43200]",
);

pub const TRUSTED_PROXIES: Setting = s(
    "trusted_proxies",
    "CRONY_TRUSTED_PROXIES",
    "proxies (IPs or CIDR networks, comma-separated) whose X-Forwarded-For names the client for login throttling and the audit log [default: none, the TCP peer is the client]",
);

pub static SETTINGS: &[Setting] = &[
    ADMIN_USER,
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    SECRET_KEY,
    SECURE_COOKIES,
    SESSION_TTL,
    TRUSTED_PROXIES,
];

#[derive(Clone)]
pub struct AuthSettings {
    pub admin_user: String,
    pub admin_password: Option<String>,
    pub admin_token: Option<String>,
    pub secrets: SecretBox,
    /// `None`: Secure exactly when the scheduler serves TLS itself.
    pub secure_cookies: Option<bool>,
    pub session_ttl: Duration,
    /// Peers whose `X-Forwarded-For` is believed; empty: nobody's.
    pub trusted_proxies: TrustedProxies,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password and token are secrets: only whether they are set.
        f.debug_struct("AuthSettings")
            .field("admin_user", &self.admin_user)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<set>"),
            )
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("secrets", &self.secrets)
            .field("secure_cookies", &self.secure_cookies)
            .field("session_ttl", &self.session_ttl)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            admin_user: "admin".into(),
            admin_password: None,
            admin_token: None,
            secrets: SecretBox::none(),
            secure_cookies: None,
            session_ttl: Duration::from_secs(12 * 3600),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

impl AuthSettings {
    pub fn load(src: &Sources) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            admin_user: src.get_or(&ADMIN_USER, d.admin_user, check_username)?,
            admin_password: src.get(&ADMIN_PASSWORD, |r| {
                password::check_new(r).map(|()| r.to_owned())
            })?,
            admin_token: src.get(&ADMIN_TOKEN, check_admin_token)?,
            secrets: src
                .get(&SECRET_KEY, |r| {
                    SecretBox::from_key(r).map_err(|e| e.to_string())
                })?
                .unwrap_or(d.secrets),
            secure_cookies: src.get(&SECURE_COOKIES, |r| match r {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err("must be true or false".into()),
            })?,
            session_ttl: src.get_or(&SESSION_TTL, d.session_ttl, |r| {
                parse_in_range(r, 60, 30 * 24 * 3600).map(Duration::from_secs)
            })?,
            trusted_proxies: src.get_or(&TRUSTED_PROXIES, d.trusted_proxies, |r| {
                TrustedProxies::parse(r).map_err(|e| e.to_string())
            })?,
        })
    }
}

/// The longest account name (the `users.username` column).
pub const MAX_USERNAME_LEN: usize = 64;

/// 1 to 64 characters of letters, digits, `.`, `_`, `-` and `@`.
pub fn check_username(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_USERNAME_LEN
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be 1 to 64 letters, digits, '.', '_', '-' or '@'".into())
    }
}

fn check_admin_token(raw: &str) -> Result<String, String> {
    if raw.len() < 20 || raw.len() > 200 || raw.chars().any(|c| c.is_whitespace()) {
        return Err("must be 20 to 200 characters without spaces".into());
    }
    Ok(raw.to_owned())
}
