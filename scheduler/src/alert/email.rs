//! Email channel over SMTP (lettre): plain, STARTTLS or implicit TLS, optional auth, one
//! multipart/alternative message (text + HTML) per recipient.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Alert, Recipient, SendError, Sender, render};

const CHANNEL: &str = "email";

/// Per SMTP command; a whole delivery is bounded by a few of these.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the connection is secured, as chosen by the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://host:port`: no TLS at all.
    Plain,
    /// `smtp://host:port?tls=required`: STARTTLS, and fail if the server does not offer it.
    StartTls,
    /// `smtp://host:port?tls=opportunistic`: STARTTLS when offered.
    Opportunistic,
    /// `smtps://host:port`: TLS from the first byte.
    ImplicitTls,
}

/// Sends alerts by email. Its `Debug` shows where mail goes but never the credentials.
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port`, for messages and logs (the URL itself may hold a password).
    server: String,
    security: SmtpSecurity,
    authenticated: bool,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSender")
            .field("server", &self.server)
            .field("security", &self.security)
            .field("authenticated", &self.authenticated)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl EmailSender {
    /// Builds the sender from `CRONY_SMTP_URL` and `CRONY_SMTP_FROM`. Errors name the
    /// setting at fault and never repeat the URL, which may contain a password.
    pub fn from_url(url: &str, from: &str) -> Result<Self, String> {
        Self::from_url_with_timeout(url, from, DEFAULT_TIMEOUT)
    }

    pub fn from_url_with_timeout(url: &str, from: &str, timeout: Duration) -> Result<Self, String> {
        let parsed =
            url::Url::parse(url).map_err(|e| format!("CRONY_SMTP_URL is not a valid URL: {e}"))?;
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let security = match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None) => SmtpSecurity::Plain,
            ("smtp", Some("required")) => SmtpSecurity::StartTls,
            ("smtp", Some("opportunistic")) => SmtpSecurity::Opportunistic,
            ("smtps", None) => SmtpSecurity::ImplicitTls,
            ("smtp" | "smtps", Some(other)) => {
                return Err(format!(
                    "CRONY_SMTP_URL: unknown tls={other:?} (use tls=required or \
                     tls=opportunistic with smtp://, or smtps:// for implicit TLS)"
                ));
            }
            (scheme, _) => {
                return Err(format!(
                    "CRONY_SMTP_URL: scheme must be smtp:// or smtps://, not {scheme}://"
                ));
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("CRONY_SMTP_URL has no host")?;
        let port = parsed.port().unwrap_or(match security {
            SmtpSecurity::Plain => 25,
            SmtpSecurity::StartTls | SmtpSecurity::Opportunistic => 587,
            SmtpSecurity::ImplicitTls => 465,
        });
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("CRONY_SMTP_FROM is not a valid address ({from:?}): {e}"))?;
        // lettre reads the same URL again (TLS parameters, credentials): one syntax, theirs.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("CRONY_SMTP_URL is not usable: {e}"))?
            .timeout(Some(timeout))
            .build();
        Ok(Self {
            transport,
            from,
            server: format!("{host}:{port}"),
            security,
            authenticated: !parsed.username().is_empty(),
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn security(&self) -> SmtpSecurity {
        self.security
    }

    /// The message as it will be sent (also what tests and previews look at).
    pub fn build_message(&self, alert: &Alert, to: &str) -> Result<Message, SendError> {
        let to: Mailbox = to.parse().map_err(|e| SendError {
            message: format!("{CHANNEL}: invalid recipient address {to:?}: {e}"),
            retryable: false,
        })?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(render::subject(alert))
            // A generated Message-ID: mail without one is scored as spam by many filters.
            .message_id(None)
            .multipart(MultiPart::alternative_plain_html(
                render::text(alert),
                render::html(alert),
            ))
            .map_err(|e| SendError {
                message: format!("{CHANNEL}: cannot build the message: {e}"),
                retryable: false,
            })
    }

    /// The reply code and a classified reason, not the server's text: SMTP replies can quote
    /// what was sent (addresses, content), and the message ends up where viewers read it.
    /// The whole chain is logged at debug level for the operator.
    fn smtp_error(&self, e: &SmtpError) -> SendError {
        tracing::debug!(server = %self.server, error = %chain(e), "email delivery failed");
        SendError {
            message: format!("{CHANNEL}: SMTP server {}: {}", self.server, smtp_reason(e)),
            retryable: is_retryable(e),
        }
    }
}

/// 4xx replies, refused or dropped connections and timeouts can pass; 5xx replies, TLS
/// failures and missing STARTTLS (a client error in lettre) need someone to change
/// configuration, so retrying only delays the `failed` record.
pub fn is_retryable(e: &SmtpError) -> bool {
    if e.is_permanent() || e.is_tls() || e.is_client() {
        return false;
    }
    true
}

fn smtp_reason(e: &SmtpError) -> String {
    if let Some(code) = e.status() {
        let kind = if e.is_permanent() {
            "permanent"
        } else {
            "transient"
        };
        return format!("SMTP {code} ({kind})");
    }
    if e.is_client() {
        // lettre's own fixed words (e.g. STARTTLS required but not offered), never the
        // server's.
        return chain(e);
    }
    let reason = if e.is_timeout() {
        "timed out"
    } else if e.is_tls() {
        "TLS handshake failed"
    } else if refused(e) {
        "connection refused"
    } else if e.is_response() {
        "unreadable answer"
    } else {
        "cannot connect"
    };
    reason.to_owned()
}

/// Whether the chain holds a refused connection (io::Error's `source` skips what it wraps, so
/// each level is asked for its kind).
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(c) = current {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        current = c.source();
    }
    false
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        // lettre's Display already includes its direct source; avoid saying it twice.
        if !message.contains(&s_text) {
            message.push_str(": ");
            message.push_str(&s_text);
        }
        source = s.source();
    }
    message
}

#[async_trait::async_trait]
impl Sender for EmailSender {
    async fn send(&self, alert: &Alert, to: &Recipient) -> Result<(), SendError> {
        let message = self.build_message(alert, &to.address)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| self.smtp_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms_are_understood() {
        let s = EmailSender::from_url("smtp://127.0.0.1:2525", "crony@example.com").unwrap();
        assert_eq!(
            (s.server(), s.security()),
            ("127.0.0.1:2525", SmtpSecurity::Plain)
        );
        let s = EmailSender::from_url("smtp://mail.example.com?tls=required", "a@b.c").unwrap();
        assert_eq!(s.security(), SmtpSecurity::StartTls);
        assert_eq!(s.server(), "mail.example.com:587");
        let s = EmailSender::from_url("smtps://u:p@mail.example.com", "a@b.c").unwrap();
        assert_eq!(s.security(), SmtpSecurity::ImplicitTls);
        assert_eq!(s.server(), "mail.example.com:465");
    }

    #[test]
    fn bad_settings_are_named_and_the_password_is_never_shown() {
        let e = EmailSender::from_url("http://u:hunter2@x", "a@b.c").unwrap_err();
        assert!(
            e.contains("CRONY_SMTP_URL") && !e.contains("hunter2"),
            "{e}"
        );
        let e = EmailSender::from_url("smtp://u:hunter2@x?tls=maybe", "a@b.c").unwrap_err();
        assert!(
            e.contains("CRONY_SMTP_URL") && !e.contains("hunter2"),
            "{e}"
        );
        let e = EmailSender::from_url("not a url", "a@b.c").unwrap_err();
        assert!(e.contains("CRONY_SMTP_URL"), "{e}");
        let e = EmailSender::from_url("smtp://x", "not an address").unwrap_err();
        assert!(e.contains("CRONY_SMTP_FROM"), "{e}");
    }

    #[test]
    fn debug_hides_credentials() {
        let s = EmailSender::from_url("smtp://alice:hunter2@127.0.0.1:25", "a@b.c").unwrap();
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("127.0.0.1:25"),
            "{debug}"
        );
    }
}
