//! A real MariaDB server (Debian's `mariadb-server`) in a temp dir on a free loopback port.

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::process::{Supervised, find_program, free_port};

pub struct MariaDb {
    dir: tempfile::TempDir,
    binary: PathBuf,
    port: u16,
    server: Supervised,
    /// `--innodb-buffer-pool-size`: small for tests, larger for benchmarks.
    buffer_pool: &'static str,
}

impl MariaDb {
    /// A server sized for tests (a 64 MiB buffer pool).
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with("64M")
    }

    /// A server with a 1 GiB buffer pool, as a production database would have: for benchmarks
    /// that hold millions of rows.
    pub fn start_large() -> anyhow::Result<Self> {
        Self::start_with("1G")
    }

    fn start_with(buffer_pool: &'static str) -> anyhow::Result<Self> {
        let hint = "install the Debian package mariadb-server (./scripts/dev test does)";
        let binary =
            find_program(&["mariadbd", "mysqld"]).context(format!("no mariadbd: {hint}"))?;
        let install = find_program(&["mariadb-install-db", "mysql_install_db"])
            .context(format!("no mariadb-install-db: {hint}"))?;
        let dir = tempfile::Builder::new()
            .prefix("crony-mariadb-")
            .tempdir()?;
        let server = Supervised::new("mariadbd", dir.path().join("error.log"));
        let db = Self {
            dir,
            binary,
            port: free_port(),
            server,
            buffer_pool,
        };
        // Its own temp dir: servers bootstrapping at once in the shared /tmp clash on their
        // temporary table files ("Unknown table 'mysql.tmp_user_sys'", then "Aborting").
        std::fs::create_dir_all(db.tmp_dir())?;
        let output = Command::new(&install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", db.data_dir().display()))
            .arg(format!("--tmpdir={}", db.tmp_dir().display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--user=root")
            .output()
            .context("running mariadb-install-db")?;
        if !output.status.success() {
            bail!(
                "mariadb-install-db failed: {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
        }
        db.launch()?;
        Ok(db)
    }

    /// Where its data and log live.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://root@127.0.0.1:<port>/<database>`; the scheduler creates the database.
    pub fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&self) {
        self.server.kill();
    }

    /// SIGSTOP: connections stay open and every query hangs, as on a stalled database host.
    pub fn freeze(&self) {
        self.server.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`MariaDb::freeze`].
    pub fn thaw(&self) {
        self.server.signal(libc::SIGCONT);
    }

    pub fn restart(&self) -> anyhow::Result<()> {
        self.kill();
        self.launch()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tmp_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("tmp")
    }

    fn launch(&self) -> anyhow::Result<()> {
        let log = self.server.log_path().to_owned();
        let mut command = Command::new(&self.binary);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--tmpdir={}", self.tmp_dir().display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("mysqld.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mysqld.pid").display()
            ))
            .arg(format!("--log-error={}", log.display()))
            .arg("--user=root")
            .arg(format!("--innodb-buffer-pool-size={}", self.buffer_pool))
            .arg(if self.buffer_pool == "64M" {
                "--innodb-log-file-size=16M"
            } else {
                "--innodb-log-file-size=256M"
            })
            .arg("--max-connections=500")
            // Its own process group: a ctrl-c in the terminal reaches Crony's processes, which
            // still need etcd and MariaDB to shut down cleanly; the harness stops these last.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Ready once the server sends its handshake greeting on the TCP port.
        self.server.launch(command, Duration::from_secs(60), || {
            TcpStream::connect(("127.0.0.1", self.port)).is_ok_and(|mut stream| {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut greeting = [0u8; 8];
                stream.read(&mut greeting).is_ok_and(|n| n > 4)
            })
        })
    }
}
