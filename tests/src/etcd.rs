//! A real etcd server (Debian's `etcd-server`) in a temp dir on free loopback ports, plain or
//! serving client TLS that requires client certificates ([`Etcd::start_tls`]).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::process::{Supervised, find_program, free_port};

pub struct Etcd {
    dir: tempfile::TempDir,
    binary: PathBuf,
    client_port: u16,
    peer_port: u16,
    server: Supervised,
    tls: Option<ServerTls>,
    /// Another address it also serves clients on (a test's network namespace link).
    also_on: Option<std::net::Ipv4Addr>,
}

/// What a TLS etcd serves with and checks clients against.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate signed by this CA (`--client-cert-auth`).
    pub client_ca: PathBuf,
    /// `--auth-token-ttl`: how long an unused simple auth token stays valid.
    pub auth_token_ttl_secs: u64,
    /// Plain HTTP `/health` (`--listen-metrics-urls`): the client port wants a certificate.
    metrics_port: u16,
}

impl ServerTls {
    pub fn new(cert: &std::path::Path, key: &std::path::Path, client_ca: &std::path::Path) -> Self {
        Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: client_ca.to_owned(),
            auth_token_ttl_secs: 300,
            metrics_port: free_port(),
        }
    }
}

impl Etcd {
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(None)
    }

    /// Serving clients only over TLS with `tls`'s certificate, requiring client certificates.
    pub fn start_tls(tls: ServerTls) -> anyhow::Result<Self> {
        Self::start_with(Some(tls))
    }

    /// Plain, serving clients on `ip` as well as on loopback (see [`Etcd::endpoint_on`]).
    pub fn start_also_on(ip: std::net::Ipv4Addr) -> anyhow::Result<Self> {
        Self::start_inner(None, Some(ip))
    }

    fn start_with(tls: Option<ServerTls>) -> anyhow::Result<Self> {
        Self::start_inner(tls, None)
    }

    fn start_inner(
        tls: Option<ServerTls>,
        also_on: Option<std::net::Ipv4Addr>,
    ) -> anyhow::Result<Self> {
        let binary = find_program(&["etcd"]).context(
            "no etcd binary: install the Debian package etcd-server (./scripts/dev test does)",
        )?;
        // A port found free can be taken before etcd binds it (another test binary starting
        // its own servers): then try fresh ports, a bounded number of times.
        let mut last = None;
        for _ in 0..3 {
            let dir = tempfile::Builder::new().prefix("crony-etcd-").tempdir()?;
            let server = Supervised::new("etcd", dir.path().join("etcd.log"));
            let etcd = Self {
                dir,
                binary: binary.clone(),
                client_port: free_port(),
                peer_port: free_port(),
                server,
                tls: tls.clone(),
                also_on,
            };
            match etcd.launch() {
                Ok(()) => return Ok(etcd),
                Err(e) if format!("{e:#}").contains("address already in use") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last
            .expect("three tries")
            .context("etcd's ports kept being taken"))
    }

    /// `http://127.0.0.1:<port>` (`https://` when serving TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// `http://<ip>:<port>`: the endpoint on the extra address of [`Etcd::start_also_on`].
    pub fn endpoint_on(&self, ip: std::net::Ipv4Addr) -> String {
        format!("http://{ip}:{}", self.client_port)
    }

    /// Where its data and log live.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn port(&self) -> u16 {
        self.client_port
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&self) {
        self.server.kill();
    }

    /// Starts again on the same ports; with `wipe`, as a brand-new cluster with no data.
    pub fn restart(&self, wipe: bool) -> anyhow::Result<()> {
        self.kill();
        if wipe {
            let _ = std::fs::remove_dir_all(self.data_dir());
        }
        self.launch()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn launch(&self) -> anyhow::Result<()> {
        let client = self.endpoint();
        let listen = match self.also_on {
            Some(ip) => format!("{client},{}", self.endpoint_on(ip)),
            None => client.clone(),
        };
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.server.log_path())?;
        let mut command = Command::new(&self.binary);
        command
            .arg("--name=crony-test")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={listen}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=crony-test={peer}"))
            .arg("--log-level=warn")
            // Quick elections, so a restarted etcd is serving within a second.
            .arg("--heartbeat-interval=50")
            .arg("--election-timeout=500")
            .args(self.tls_args())
            // Its own process group: a ctrl-c in the terminal reaches Crony's processes, which
            // still need etcd and MariaDB to shut down cleanly; the harness stops these last.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.server
            .launch(command, Duration::from_secs(30), || self.health_says_true())
    }

    fn tls_args(&self) -> Vec<String> {
        let Some(tls) = &self.tls else {
            return Vec::new();
        };
        vec![
            format!("--cert-file={}", tls.cert.display()),
            format!("--key-file={}", tls.key.display()),
            "--client-cert-auth".to_owned(),
            format!("--trusted-ca-file={}", tls.client_ca.display()),
            format!("--auth-token-ttl={}", tls.auth_token_ttl_secs),
            format!(
                "--listen-metrics-urls=http://127.0.0.1:{}",
                tls.metrics_port
            ),
        ]
    }

    fn health_says_true(&self) -> bool {
        let port = self
            .tls
            .as_ref()
            .map_or(self.client_port, |t| t.metrics_port);
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        let mut body = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut body).is_ok()
            && body.contains("\"health\":\"true\"")
    }
}
