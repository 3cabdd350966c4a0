//! A real etcd server (Debian's `etcd-server`) in a temp dir on free loopback ports.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::process::{find_program, free_port, spawn};

pub struct Etcd {
    dir: tempfile::TempDir,
    binary: PathBuf,
    client_port: u16,
    peer_port: u16,
    child: Mutex<Option<Child>>,
}

impl Etcd {
    pub fn start() -> anyhow::Result<Self> {
        let binary = find_program(&["etcd"]).context(
            "no etcd binary: install the Debian package etcd-server (./scripts/dev test does)",
        )?;
        let etcd = Self {
            dir: tempfile::Builder::new().prefix("crony-etcd-").tempdir()?,
            binary,
            client_port: free_port(),
            peer_port: free_port(),
            child: Mutex::new(None),
        };
        etcd.launch()?;
        Ok(etcd)
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
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
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))?;
        let mut command = Command::new(&self.binary);
        command
            .arg("--name=crony-test")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=crony-test={peer}"))
            .arg("--log-level=warn")
            // Quick elections, so a restarted etcd is serving within a second.
            .arg("--heartbeat-interval=50")
            .arg("--election-timeout=500")
            // Its own process group: a ctrl-c in the terminal reaches Crony's processes, which
            // still need etcd and MariaDB to shut down cleanly; the harness stops these last.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = spawn(command).context("spawning etcd")?;
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        self.wait_healthy(Duration::from_secs(30))
    }

    fn wait_healthy(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if self.health_says_true() {
                return Ok(());
            }
            if let Some(child) = self
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("etcd exited with {status}; log: {}", self.log_tail());
            }
            if Instant::now() >= deadline {
                bail!(
                    "etcd not healthy within {within:?}; log: {}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn health_says_true(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.client_port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        let mut body = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut body).is_ok()
            && body.contains("\"health\":\"true\"")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        log.lines().rev().take(10).collect::<Vec<_>>().join(" | ")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}
