//! Crony's own processes for tests: schedulers in-process on port 0, agents as child
//! processes (so they can be SIGKILLed, stopped and restarted like the real thing).

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use crony_scheduler::{Scheduler, SchedulerConfig};
use tokio_util::sync::CancellationToken;

use crate::process::{crony_command, crony_command_in_netns, signal, spawn};

pub struct TestScheduler {
    pub scheduler: Scheduler,
    pub base_url: String,
    shutdown: CancellationToken,
}

impl TestScheduler {
    pub async fn start(etcd: &str, prefix: &str, database_url: &str) -> anyhow::Result<Self> {
        Self::start_with(etcd, prefix, database_url, |_| {}).await
    }

    /// Like [`TestScheduler::start`], with a chance to change the configuration first.
    pub async fn start_with(
        etcd: &str,
        prefix: &str,
        database_url: &str,
        adjust: impl FnOnce(&mut SchedulerConfig),
    ) -> anyhow::Result<Self> {
        Self::start_inner(etcd, prefix, database_url, adjust, None).await
    }

    /// Like [`TestScheduler::start_with`], delivering alerts through `senders` instead of the
    /// channels the configuration enables.
    pub async fn start_with_senders(
        etcd: &str,
        prefix: &str,
        database_url: &str,
        adjust: impl FnOnce(&mut SchedulerConfig),
        senders: std::collections::HashMap<
            crony_scheduler::alert::ChannelKind,
            std::sync::Arc<dyn crony_scheduler::alert::Sender>,
        >,
    ) -> anyhow::Result<Self> {
        Self::start_inner(etcd, prefix, database_url, adjust, Some(senders)).await
    }

    async fn start_inner(
        etcd: &str,
        prefix: &str,
        database_url: &str,
        adjust: impl FnOnce(&mut SchedulerConfig),
        senders: Option<
            std::collections::HashMap<
                crony_scheduler::alert::ChannelKind,
                std::sync::Arc<dyn crony_scheduler::alert::Sender>,
            >,
        >,
    ) -> anyhow::Result<Self> {
        crate::init_logging();
        let database = crony_scheduler::config::parse_database_url(database_url)
            .map_err(anyhow::Error::msg)?;
        let mut config =
            SchedulerConfig::new(database, vec![etcd.to_owned()], crate::cluster_auth());
        config.etcd_prefix = prefix.to_owned();
        config.http_addr = "127.0.0.1:0".parse()?;
        config.grpc_addr = "127.0.0.1:0".parse()?;
        config.election_ttl = Duration::from_secs(2);
        config.auth.admin_password = Some(crate::ADMIN_PASSWORD.to_owned());
        config.auth.admin_token = Some(crate::ADMIN_TOKEN.to_owned());
        adjust(&mut config);
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let shutdown = CancellationToken::new();
        let scheduler = match senders {
            Some(senders) => {
                Scheduler::start_with_senders(config, shutdown.clone(), senders).await?
            }
            None => Scheduler::start(config, shutdown.clone()).await?,
        };
        let base_url = format!("{scheme}://{}", scheduler.http_addr);
        Ok(Self {
            scheduler,
            base_url,
            shutdown,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.scheduler.wait().await;
    }
}

/// How to start one agent process.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    pub etcd: String,
    pub prefix: String,
    pub lease_ttl_secs: u64,
    pub data_dir: PathBuf,
    /// Extra `CRONY_*` settings; an empty value unsets one (e.g. `CRONY_CLUSTER_TOKEN`).
    pub env: Vec<(String, String)>,
    /// A network namespace to run in (`ip netns exec`), see [`crate::netns::Cage`].
    pub netns: Option<String>,
}

impl AgentSpec {
    pub fn new(etcd: &str, prefix: &str, data_dir: &Path) -> Self {
        Self {
            etcd: etcd.to_owned(),
            prefix: prefix.to_owned(),
            lease_ttl_secs: 10,
            data_dir: data_dir.to_owned(),
            env: Vec::new(),
            netns: None,
        }
    }

    /// Runs the agent inside the network namespace `name`.
    pub fn in_netns(mut self, name: &str) -> Self {
        self.netns = Some(name.to_owned());
        self
    }

    pub fn ttl(mut self, secs: u64) -> Self {
        self.lease_ttl_secs = secs;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

pub struct AgentProcess {
    child: Child,
    pub spec: AgentSpec,
    log: PathBuf,
}

impl AgentProcess {
    pub fn spawn(spec: AgentSpec) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&spec.data_dir)?;
        let log = spec.data_dir.join("agent.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut command = match &spec.netns {
            Some(ns) => crony_command_in_netns("crony-test-agent", ns),
            None => crony_command("crony-test-agent"),
        };
        command
            .env("CRONY_ETCD_ENDPOINTS", &spec.etcd)
            .env("CRONY_ETCD_PREFIX", &spec.prefix)
            .env("CRONY_AGENT_GRPC_ADDR", "127.0.0.1:0")
            .env("CRONY_AGENT_METRICS_ADDR", "127.0.0.1:0")
            .env("CRONY_AGENT_DATA_DIR", &spec.data_dir)
            .env("CRONY_LEASE_TTL_SECS", spec.lease_ttl_secs.to_string())
            .env("CRONY_CLUSTER_TOKEN", crate::CLUSTER_TOKEN)
            .env("RUST_LOG", "info");
        for (key, value) in &spec.env {
            if value.is_empty() {
                command.env_remove(key);
            } else {
                command.env(key, value);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let child = spawn(command).context("spawning crony-test-agent")?;
        Ok(Self { child, spec, log })
    }

    /// The agent's persisted id, once it has written it.
    pub async fn id(&mut self) -> anyhow::Result<String> {
        let path = self.spec.data_dir.join("agent-id");
        let log = self.log.clone();
        crate::wait_until("agent wrote its id", Duration::from_secs(10), || {
            let path = path.clone();
            let log = log.clone();
            async move {
                match std::fs::read_to_string(&path) {
                    Ok(id) if !id.is_empty() => Ok(Some(id)),
                    _ => Err(format!(
                        "no id yet; log: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )),
                }
            }
        })
        .await
    }

    /// SIGSTOP: the agent freezes (its lease runs out while it cannot act).
    pub fn freeze(&self) {
        signal(&self.child, libc::SIGSTOP);
    }

    /// SIGCONT after [`AgentProcess::freeze`].
    pub fn thaw(&self) {
        signal(&self.child, libc::SIGCONT);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        signal(&self.child, libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit (SIGKILL after 10 s).
    pub async fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        signal(&self.child, libc::SIGTERM);
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill();
        anyhow::bail!("agent ignored SIGTERM for 10 s; log: {}", self.log())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit by itself (a start-up error), within `within`.
    pub async fn exited(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        let child = &mut self.child;
        let log = &self.log;
        crate::wait_until("the agent exits", within, || {
            let status = child.try_wait();
            async move {
                match status {
                    Ok(Some(status)) => Ok(Some(status)),
                    Ok(None) => Err(format!(
                        "still running; log: {}",
                        std::fs::read_to_string(log).unwrap_or_default()
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// A scheduler as a child process (so a test can SIGKILL it), with a 2 s election TTL.
pub struct SchedulerProcess {
    child: Child,
    pub base_url: String,
    log: PathBuf,
}

impl SchedulerProcess {
    pub fn spawn(
        etcd: &str,
        prefix: &str,
        database_url: &str,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        Self::spawn_with(etcd, prefix, database_url, log_dir, &[])
    }

    /// Like [`SchedulerProcess::spawn`], with extra `CRONY_*` settings (an empty value unsets
    /// one, e.g. `CRONY_ADMIN_PASSWORD` for a first start without an admin).
    pub fn spawn_with(
        etcd: &str,
        prefix: &str,
        database_url: &str,
        log_dir: &Path,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = crate::process::free_port();
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join(format!("scheduler-{port}.log"));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut command = crony_command("crony-test-scheduler");
        command
            .env("CRONY_ETCD_ENDPOINTS", etcd)
            .env("CRONY_ETCD_PREFIX", prefix)
            .env("CRONY_DATABASE_URL", database_url)
            .env("CRONY_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("CRONY_GRPC_ADDR", "127.0.0.1:0")
            .env("CRONY_ELECTION_TTL_SECS", "2")
            .env("CRONY_ADMIN_PASSWORD", crate::ADMIN_PASSWORD)
            .env("CRONY_ADMIN_TOKEN", crate::ADMIN_TOKEN)
            .env("CRONY_CLUSTER_TOKEN", crate::CLUSTER_TOKEN)
            .env("RUST_LOG", "info");
        for (key, value) in settings {
            if value.is_empty() {
                command.env_remove(key);
            } else {
                command.env(key, value);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let child = spawn(command).context("spawning crony-test-scheduler")?;
        Ok(Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn kill(&mut self) {
        signal(&self.child, libc::SIGKILL);
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGSTOP: the scheduler freezes (it sees nothing of etcd until thawed).
    pub fn freeze(&self) {
        signal(&self.child, libc::SIGSTOP);
    }

    /// SIGCONT after [`SchedulerProcess::freeze`].
    pub fn thaw(&self) {
        signal(&self.child, libc::SIGCONT);
    }
}

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
