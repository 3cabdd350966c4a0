//! A real nginx (Debian's `nginx`) as a reverse proxy in a temp dir on a free loopback port,
//! balancing over upstreams the test names, as a deployment behind a proxy would run.
//!
//! One process (`master_process off`): a SIGKILLed master (which is how the harness stops
//! children when the test process dies) leaves its workers serving; a single process dies
//! whole. Everything nginx writes (pid, logs, temp files) stays inside its dir.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::process::{Supervised, find_program, free_port};

pub struct Nginx {
    dir: tempfile::TempDir,
    port: u16,
    server: Supervised,
}

impl Nginx {
    /// Proxies `http://127.0.0.1:<port>/` to `upstreams` (`host:port`, plain HTTP) in turn,
    /// adding the client's address to `X-Forwarded-For`; an upstream that refuses or does not
    /// answer within 2 s is skipped for the next one.
    pub fn start(upstreams: &[&str]) -> anyhow::Result<Self> {
        anyhow::ensure!(!upstreams.is_empty(), "nginx needs at least one upstream");
        Self::start_site(|port| site(port, upstreams))
    }

    /// nginx serving `site(port)` — the content of an `http {}` block (upstreams and a server
    /// listening on `127.0.0.1:<port>`), such as `deploy/nginx/crony.conf` adapted to the test.
    pub fn start_site(site: impl FnOnce(u16) -> String) -> anyhow::Result<Self> {
        let binary = find_program(&["nginx"]).context(
            "no nginx binary: install the Debian package nginx (./scripts/dev test does)",
        )?;
        let dir = tempfile::Builder::new().prefix("crony-nginx-").tempdir()?;
        let port = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), &site(port)))?;
        let server = Supervised::new("nginx", dir.path().join("error.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("stderr.log"))?;
        let mut command = Command::new(binary);
        command
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            // Before it reads the config, nginx opens its compiled-in error log
            // (/var/log/nginx, root's); `-e` points that here too.
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        server.launch(command, Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        Ok(Self { dir, port, server })
    }

    /// `http://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where its config, logs and temp files live.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its error log, for assertion messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    pub fn stop(&self) {
        self.server.kill();
    }
}

/// The whole configuration: everything nginx writes kept in `dir`, then `site`.
fn config(dir: &Path, site: &str) -> String {
    let d = dir.display();
    // As root, nginx wants to know whom its workers run as (`nobody` by default, who could
    // not enter this dir); as anyone else the directive is ignored with a notice.
    let user = if is_root() { "user root;" } else { "" };
    format!(
        "daemon off;
master_process off;
worker_processes 1;
{user}
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
{site}
}}
"
    )
}

/// The harness's own site: `upstreams` in turn, the next one tried when one fails.
fn site(port: u16, upstreams: &[&str]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|u| format!("    server {u} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    format!(
        "  upstream crony {{
{servers}  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://crony;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_connect_timeout 2s;
      proxy_send_timeout 10s;
      proxy_read_timeout 10s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries {tries};
    }}
  }}
",
        tries = upstreams.len(),
    )
}

#[allow(unsafe_code)] // geteuid has no safe wrapper in std.
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
