//! Alert configuration (design §9): cluster-wide recipients, channels, throttling and the
//! failure-rate rule, read with the scheduler's other settings. Secrets never reach `Debug`.

use std::time::Duration;

use crony_common::callback_allow::{CallbackAllow, refuse_url_str};
use crony_common::settings::{ConfigError, Setting, Sources, parse_in_range};

use super::AlertLang;

const fn s(key: &'static str, env: &'static str, help: &'static str) -> Setting {
    Setting::new(key, env, help)
}

pub const SMTP_URL: Setting = Setting::secret(
    "smtp_url",
    "CRONY_SMTP_URL",
    "SMTP server for email alerts: smtp:// (STARTTLS), smtps:// (TLS) or smtp://…?tls=none, optional user:password@ [default: none, email off]",
);
pub const SMTP_FROM: Setting = s(
    "smtp_from",
    "CRONY_SMTP_FROM",
    "From address of email alerts [default: crony@<hostname>]",
);
pub const FEISHU_WEBHOOK: Setting = Setting::secret(
    "feishu_webhook",
    "CRONY_FEISHU_WEBHOOK",
    "Feishu bot webhook for agent and system alerts (and jobs naming no recipients) [default: none]",
);
pub const FEISHU_SECRET: Setting = Setting::secret(
    "feishu_secret",
    "CRONY_FEISHU_SECRET",
    "signing secret of CRONY_FEISHU_WEBHOOK [default: none]",
);
pub const ALERT_EMAILS: Setting = s(
    "alert_emails",
    "CRONY_ALERT_EMAILS",
    "comma-separated email recipients of agent and system alerts (and jobs naming no recipients) [default: none]",
);
pub const ALERT_WEBHOOK: Setting = Setting::secret(
    "alert_webhook",
    "CRONY_ALERT_WEBHOOK",
    "generic JSON webhook URL that receives every alert [default: none]",
);
pub const ALERT_THROTTLE: Setting = s(
    "alert_throttle_secs",
    "CRONY_ALERT_THROTTLE_SECS",
    "the same (job, event) alerts a recipient at most once per this many seconds, 0-86400 [default: 600]",
);
pub const ALERT_FAILURE_RATE: Setting = s(
    "alert_failure_rate",
    "CRONY_ALERT_FAILURE_RATE",
    "failure_rate alerts fire when this share of a job's last executions failed, 0.01-1 [default: 0.5]",
);
pub const ALERT_FAILURE_WINDOW: Setting = s(
    "alert_failure_window",
    "CRONY_ALERT_FAILURE_WINDOW",
    "how many of a job's last executions the failure rate counts, 2-1000 [default: 20]",
);
pub const DASHBOARD_URL: Setting = s(
    "dashboard_url",
    "CRONY_DASHBOARD_URL",
    "base URL of links in alerts [default: this scheduler's announced http_url]",
);

pub const ALERT_LANG: Setting = s(
    "alert_lang",
    "CRONY_ALERT_LANG",
    "language of email and Feishu alerts: en or zh-CN; a job's alert_lang overrides it [default: en]",
);

/// Everything the alert pipeline reads from configuration.
#[derive(Clone, PartialEq)]
pub struct AlertSettings {
    /// May carry a password: never logged.
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub feishu_webhook: Option<String>,
    pub feishu_secret: Option<String>,
    pub emails: Vec<String>,
    pub webhook: Option<String>,
    pub throttle: Duration,
    pub failure_rate: f64,
    pub failure_window: u32,
    /// `None`: the scheduler's own http_url.
    pub dashboard_url: Option<String>,
    /// Jobs without their own `alert_lang`, and agent and system alerts.
    pub lang: AlertLang,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_from: None,
            feishu_webhook: None,
            feishu_secret: None,
            emails: Vec::new(),
            webhook: None,
            throttle: Duration::from_secs(600),
            failure_rate: 0.5,
            failure_window: 20,
            dashboard_url: None,
            lang: AlertLang::En,
        }
    }
}

impl std::fmt::Debug for AlertSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("AlertSettings")
            .field("smtp_url", &redacted(&self.smtp_url))
            .field("smtp_from", &self.smtp_from)
            .field("feishu_webhook", &redacted(&self.feishu_webhook))
            .field("feishu_secret", &redacted(&self.feishu_secret))
            .field("emails", &self.emails)
            .field("webhook", &redacted(&self.webhook))
            .field("throttle", &self.throttle)
            .field("failure_rate", &self.failure_rate)
            .field("failure_window", &self.failure_window)
            .field("dashboard_url", &self.dashboard_url)
            .field("lang", &self.lang)
            .finish()
    }
}

impl AlertSettings {
    pub fn load(src: &Sources) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            smtp_url: src.get(&SMTP_URL, parse_smtp_url)?,
            smtp_from: src.get(&SMTP_FROM, |r| parse_email(r).map(|()| r.to_owned()))?,
            feishu_webhook: src.get(&FEISHU_WEBHOOK, parse_http_url)?,
            feishu_secret: src.get(&FEISHU_SECRET, non_empty)?,
            emails: src.get_or(&ALERT_EMAILS, d.emails, parse_emails)?,
            webhook: src.get(&ALERT_WEBHOOK, parse_http_url)?,
            throttle: src.get_or(&ALERT_THROTTLE, d.throttle, |r| {
                parse_in_range(r, 0, 86_400).map(Duration::from_secs)
            })?,
            failure_rate: src.get_or(&ALERT_FAILURE_RATE, d.failure_rate, parse_rate)?,
            failure_window: src.get_or(&ALERT_FAILURE_WINDOW, d.failure_window, |r| {
                parse_in_range(r, 2, 1000).map(|n| n as u32)
            })?,
            dashboard_url: src.get(&DASHBOARD_URL, |r| {
                parse_http_url(r).map(|u| u.trim_end_matches('/').to_owned())
            })?,
            lang: src.get_or(&ALERT_LANG, d.lang, AlertLang::parse)?,
        })
    }

    /// `CRONY_FEISHU_WEBHOOK` and `CRONY_ALERT_WEBHOOK` against `CRONY_CALLBACK_ALLOW`, by
    /// name (every send checks the addresses too): a refused one is a start-up error naming
    /// the setting, not a surprise at the first alert.
    pub fn check_callback_allow(&self, allow: &CallbackAllow) -> Result<(), String> {
        let urls = [
            (&FEISHU_WEBHOOK, &self.feishu_webhook),
            (&ALERT_WEBHOOK, &self.webhook),
        ];
        for (setting, url) in urls {
            if let Some(refusal) = url.as_deref().and_then(|u| refuse_url_str(allow, u)) {
                return Err(format!("{}: {refusal}", setting.env));
            }
        }
        Ok(())
    }
}

fn non_empty(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(raw.to_owned())
    }
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    raw.parse::<f64>()
        .ok()
        .filter(|r| (0.01..=1.0).contains(r))
        .ok_or_else(|| format!("{raw:?} must be a number from 0.01 to 1 (e.g. 0.5)"))
}

/// Checks the scheme only; the channel parses the rest (and says what is wrong at start-up).
fn parse_smtp_url(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none_or(str::is_empty) {
        // The URL may carry a password, so it is not echoed.
        return Err("must be smtp://host[:port] or smtps://host[:port]".into());
    }
    Ok(raw.to_owned())
}

pub(crate) fn parse_http_url(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{raw:?} must be an http:// or https:// URL"));
    }
    if raw.len() > 500 {
        return Err("must be at most 500 characters".into());
    }
    Ok(raw.to_owned())
}

pub(crate) fn parse_email(raw: &str) -> Result<(), String> {
    let ok = raw
        .split_once('@')
        .is_some_and(|(u, d)| !u.is_empty() && d.contains('.'));
    if !ok || raw.len() > 254 || raw.contains(char::is_whitespace) {
        return Err(format!("{raw:?} is not an email address"));
    }
    Ok(())
}

fn parse_emails(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| parse_email(e).map(|()| e.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert_eq!(
            parse_emails("a@x.io, b@y.cn").unwrap(),
            ["a@x.io", "b@y.cn"]
        );
        assert!(parse_emails("a@x.io,nope").is_err());
        assert!(parse_rate("0.5").is_ok());
        assert!(parse_rate("0").is_err() && parse_rate("2").is_err());
        assert!(parse_smtp_url("smtp://u:p@mail.example.com:587").is_ok());
        let bad = parse_smtp_url("http://u:secret@x").unwrap_err();
        assert!(!bad.contains("secret"));
    }

    #[test]
    fn refused_cluster_webhooks_name_their_setting() {
        let allow = CallbackAllow::parse("hooks.example.com,10.0.0.0/8").unwrap();
        let mut settings = AlertSettings {
            webhook: Some("https://hooks.example.com/h".into()),
            feishu_webhook: Some("https://bot.internal/hook/x".into()),
            ..AlertSettings::default()
        };
        // A name not listed is left to its addresses (the list has networks).
        assert_eq!(settings.check_callback_allow(&allow), Ok(()));
        settings.feishu_webhook = Some("http://169.254.169.254/latest".into());
        let e = settings.check_callback_allow(&allow).unwrap_err();
        assert!(
            e.starts_with("CRONY_FEISHU_WEBHOOK: ") && e.contains("CRONY_CALLBACK_ALLOW"),
            "{e}"
        );
        settings.feishu_webhook = None;
        settings.webhook = Some("http://127.0.0.1:9/h".into());
        let e = settings.check_callback_allow(&allow).unwrap_err();
        assert!(e.starts_with("CRONY_ALERT_WEBHOOK: "), "{e}");
    }

    #[test]
    fn debug_hides_secrets() {
        let settings = AlertSettings {
            smtp_url: Some("smtp://u:hunter2@mail".into()),
            feishu_secret: Some("s3cret".into()),
            ..AlertSettings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret"));
    }
}
