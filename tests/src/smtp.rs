//! A user's mail server, as far as Crony sees it: a real SMTP server on loopback (EHLO/HELO,
//! AUTH PLAIN/LOGIN accepting any credentials, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that
//! records every message and can be told to refuse.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The user name given with AUTH, if any.
    pub auth_user: Option<String>,
    /// The message after dot-unstuffing, as the client meant it.
    pub data: Vec<u8>,
}

/// The parts of a message a test looks at, decoded (quoted-printable, base64, charsets).
#[derive(Debug, Clone, Default)]
pub struct ParsedMail {
    pub subject: String,
    pub from: String,
    pub to: String,
    pub content_type: String,
    /// The `text/plain` part with line ends normalised to `\n`.
    pub text: Option<String>,
    /// The `text/html` part with line ends normalised to `\n`.
    pub html: Option<String>,
}

impl ReceivedMail {
    pub fn parse(&self) -> anyhow::Result<ParsedMail> {
        let message = MessageParser::default()
            .parse(&self.data)
            .ok_or_else(|| anyhow::anyhow!("unparseable message"))?;
        let address = |a: Option<&mail_parser::Address>| {
            a.and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned()
        };
        let mut parsed = ParsedMail {
            subject: message.subject().unwrap_or_default().to_owned(),
            from: address(message.from()),
            to: address(message.to()),
            content_type: message
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
                .unwrap_or_default(),
            ..ParsedMail::default()
        };
        // Walk the real parts: mail-parser's body_text/body_html would convert one into the
        // other when a part is missing, hiding exactly what a test wants to notice.
        for part in &message.parts {
            match &part.body {
                PartType::Text(t) if parsed.text.is_none() => {
                    parsed.text = Some(t.replace("\r\n", "\n"));
                }
                PartType::Html(h) if parsed.html.is_none() => {
                    parsed.html = Some(h.replace("\r\n", "\n"));
                }
                _ => {}
            }
        }
        Ok(parsed)
    }
}

/// How the server treats the next sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpMode {
    #[default]
    Accept,
    /// Answer `451` (try again later) to MAIL FROM.
    TempFail,
    /// Answer `550` (permanent) to RCPT TO.
    Reject,
    /// Close the connection right after accepting it, without a greeting.
    Drop,
}

#[derive(Default)]
struct Inner {
    mails: Vec<ReceivedMail>,
    mode: SmtpMode,
    require_auth: bool,
    sessions: usize,
}

#[derive(Clone)]
pub struct SmtpServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: CancellationToken,
    /// Stops the server when the last clone is dropped.
    _guard: Arc<tokio_util::sync::DropGuard>,
}

impl SmtpServer {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner::default()));
        let stop = CancellationToken::new();
        let (state, token) = (inner.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        tokio::spawn(session(stream, state.clone()));
                    }
                }
            }
        });
        let _guard = Arc::new(stop.clone().drop_guard());
        Ok(Self {
            addr,
            inner,
            stop,
            _guard,
        })
    }

    /// `smtp://127.0.0.1:PORT`, the `CRONY_SMTP_URL` for this server.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn set_mode(&self, mode: SmtpMode) {
        self.lock().mode = mode;
    }

    /// Refuse MAIL FROM with 530 until the client authenticates.
    pub fn require_auth(&self, on: bool) {
        self.lock().require_auth = on;
    }

    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.lock().mails.clone()
    }

    /// Connections accepted so far (refused ones included).
    pub fn sessions(&self) -> usize {
        self.lock().sessions
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Session {
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    auth_user: Option<String>,
}

async fn session(stream: TcpStream, state: Arc<Mutex<Inner>>) {
    let (mode, require_auth) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.sessions += 1;
        (s.mode, s.require_auth)
    };
    if mode == SmtpMode::Drop {
        return;
    }
    let _ = serve(stream, state, mode, require_auth).await;
}

async fn serve(
    stream: TcpStream,
    state: Arc<Mutex<Inner>>,
    mode: SmtpMode,
    require_auth: bool,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut s = Session {
        mail_from: None,
        rcpt_to: Vec::new(),
        auth_user: None,
    };
    write
        .write_all(b"220 crony-test-smtp ESMTP ready\r\n")
        .await?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => "250-crony-test-smtp\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                       250-AUTH PLAIN LOGIN\r\n250 OK"
                .into(),
            "HELO" => "250 crony-test-smtp".into(),
            "AUTH" => match auth(arg, &mut reader, &mut write).await? {
                Some(user) => {
                    s.auth_user = Some(user);
                    "235 2.7.0 Authentication successful".into()
                }
                None => "501 5.5.2 Cannot decode credentials".into(),
            },
            "MAIL" if require_auth && s.auth_user.is_none() => {
                "530 5.7.0 Authentication required".into()
            }
            "MAIL" if mode == SmtpMode::TempFail => "451 4.3.0 Try again later".into(),
            "MAIL" => {
                s.mail_from = Some(angle_address(arg));
                s.rcpt_to.clear();
                "250 OK".into()
            }
            "RCPT" if mode == SmtpMode::Reject => "550 5.1.1 No such user".into(),
            "RCPT" if s.mail_from.is_none() => "503 5.5.1 MAIL first".into(),
            "RCPT" => {
                s.rcpt_to.push(angle_address(arg));
                "250 OK".into()
            }
            "DATA" if s.rcpt_to.is_empty() => "503 5.5.1 RCPT first".into(),
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut reader).await?;
                let mail = ReceivedMail {
                    mail_from: s.mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut s.rcpt_to),
                    auth_user: s.auth_user.clone(),
                    data,
                };
                state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .mails
                    .push(mail);
                "250 2.0.0 Queued".into()
            }
            "RSET" => {
                s.mail_from = None;
                s.rcpt_to.clear();
                "250 OK".into()
            }
            "NOOP" => "250 OK".into(),
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized".into(),
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}

/// `FROM:<a@b.c> SIZE=10` → `a@b.c`.
fn angle_address(arg: &str) -> String {
    match (arg.find('<'), arg.find('>')) {
        (Some(start), Some(end)) if start < end => arg[start + 1..end].to_owned(),
        _ => arg
            .split_once(':')
            .map_or(arg, |(_, a)| a)
            .trim()
            .to_owned(),
    }
}

/// AUTH PLAIN (inline or on the next line) and AUTH LOGIN; any credentials are accepted,
/// the user name is returned.
async fn auth<R, W>(arg: &str, reader: &mut R, write: &mut W) -> std::io::Result<Option<String>>
where
    R: tokio::io::AsyncBufRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut next_line = async |prompt: &[u8]| -> std::io::Result<String> {
        write.write_all(prompt).await?;
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        Ok(line.trim_end().to_owned())
    };
    match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => {
            let encoded = if initial.is_empty() {
                next_line(b"334 \r\n").await?
            } else {
                initial.to_owned()
            };
            // authzid \0 authcid \0 password
            let decoded = b64.decode(encoded.trim()).ok();
            Ok(decoded.and_then(|d| {
                d.split(|b| *b == 0)
                    .nth(1)
                    .map(|u| String::from_utf8_lossy(u).into_owned())
            }))
        }
        "LOGIN" => {
            let user = next_line(b"334 VXNlcm5hbWU6\r\n").await?;
            let _password = next_line(b"334 UGFzc3dvcmQ6\r\n").await?;
            Ok(b64
                .decode(user.trim())
                .ok()
                .map(|u| String::from_utf8_lossy(&u).into_owned()))
        }
        _ => Ok(None),
    }
}

/// Reads DATA up to the lone `.` line, undoing dot-stuffing (RFC 5321 §4.5.2).
async fn read_data<R>(reader: &mut R) -> std::io::Result<Vec<u8>>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let unstuffed = if line.starts_with(b".") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}
