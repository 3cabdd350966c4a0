//! Starting and stopping an agent: id, listener, etcd registration, gRPC server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crony_common::cluster_auth::{self, ClusterAuth, ClusterToken};
use crony_common::registry::{AgentRecord, agent_key};
use crony_common::tls::CLIENT_CA_NEEDS_IDENTITY;
use crony_proto::auth::ClusterTokenCheck;
use crony_proto::v1::AgentInfo;
use crony_proto::v1::agent_service_server::AgentServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crony_common::report_token::ReportKey;
use crony_proto::auth::AttachClusterToken;

use crate::clock::{Clock, Command};
use crate::config::AgentConfig;
use crate::executor::Executors;
use crate::metrics::Metrics;
use crate::registration::{Fence, Registrar, record_value};
use crate::reporter::Reporter;
use crate::runner::Runner;
use crate::schedulers::SchedulerDirectory;
use crate::service::AgentServiceImpl;
use crate::spool::Spool;

/// How long start-up waits for etcd before giving up with a clear error.
const ETCD_STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot use data dir {path} (CRONY_AGENT_DATA_DIR): {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} (CRONY_AGENT_GRPC_ADDR): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot reach etcd at {endpoints} (CRONY_ETCD_ENDPOINTS): {message}")]
    Etcd { endpoints: String, message: String },
    /// Unreachable, or refused this process's credentials or certificate (names the setting).
    #[error(transparent)]
    EtcdAccess(#[from] crony_common::etcd::EtcdError),
    #[error("cannot listen on {addr} (CRONY_AGENT_METRICS_ADDR): {source}")]
    MetricsBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0} (CRONY_AGENT_DATA_DIR)")]
    Spool(#[from] crate::spool::SpoolError),
    #[error("{0} (CRONY_CLUSTER_TOKEN)")]
    Token(String),
    #[error("cannot serve TLS (CRONY_TLS_CERT, CRONY_TLS_KEY, CRONY_TLS_CLIENT_CA): {0}")]
    Tls(String),
}

/// A running agent. Dropping it does not stop it: cancel the token given to [`Agent::start`].
pub struct Agent {
    pub id: String,
    /// Where `AgentService` actually listens (the real port when configured with port 0).
    pub grpc_addr: SocketAddr,
    /// What the agent published for schedulers to dial.
    pub advertise_addr: String,
    /// Where `/metrics` and `/healthz` are served.
    pub metrics_addr: SocketAddr,
    pub fence: Arc<Fence>,
    tracker: TaskTracker,
}

impl Agent {
    pub async fn start(
        config: AgentConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, AgentError> {
        crony_common::tls::install_crypto_provider();
        let id = crate::identity::load_or_create(&config.data_dir, config.agent_id.as_deref())
            .map_err(|source| AgentError::DataDir {
                path: config.data_dir.display().to_string(),
                source,
            })?;
        if config.tls_client_ca.is_some() && config.tls.is_none() {
            return Err(AgentError::Tls(CLIENT_CA_NEEDS_IDENTITY.into()));
        }
        // Without a cluster token, anyone who reaches AgentService could make this machine
        // run shell commands: loopback only.
        let bind = config.cluster.listen_addr(config.grpc_addr);
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| AgentError::Bind { addr: bind, source })?;
        let grpc_addr = listener
            .local_addr()
            .map_err(|source| AgentError::Bind { addr: bind, source })?;
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();
        let advertise_addr = announced_addr(&config, grpc_addr, &hostname);
        let started_at = chrono::Utc::now();
        let record = AgentRecord {
            id: id.clone(),
            grpc_addr: advertise_addr.clone(),
            hostname,
            weight: config.weight,
            labels: config.labels.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            allow_shell: config.allow_shell,
            started_at: started_at.to_rfc3339(),
            tls: config.tls.is_some(),
            lease_id: 0,
        };

        let etcd_error = |message: String| AgentError::Etcd {
            endpoints: config.etcd_endpoints.join(","),
            message,
        };
        let client = crony_common::etcd::connect(
            &config.etcd_endpoints,
            &config.etcd_access,
            &config.etcd_prefix,
            ETCD_STARTUP_TIMEOUT,
        )
        .await?;
        let fence = Arc::new(Fence::default());
        let mut registrar = Registrar::per_lease(
            client.clone(),
            agent_key(&config.etcd_prefix, &id),
            record_value(record.clone()),
            config.lease_ttl,
            fence.clone(),
        );
        let current_lease = registrar.current_lease();
        let lease = tokio::time::timeout(ETCD_STARTUP_TIMEOUT, registrar.register())
            .await
            .map_err(|_| etcd_error("timed out registering".into()))?
            .map_err(|e| etcd_error(e.to_string()))?;

        let info = AgentInfo {
            id: id.clone(),
            grpc_addr: advertise_addr.clone(),
            hostname: record.hostname.clone(),
            weight: record.weight,
            labels: record.labels.clone().into_iter().collect(),
            version: record.version.clone(),
            allow_shell: record.allow_shell,
            started_at_ms: started_at.timestamp_millis(),
            ..AgentInfo::default()
        };
        let token = config.cluster.token();
        let attach =
            AttachClusterToken::new(token.map(ClusterToken::expose)).map_err(AgentError::Token)?;
        let check = match token {
            Some(token) => ClusterTokenCheck::require(token.expose()),
            None => ClusterTokenCheck::accept_anyone(),
        };
        let metrics_listener = TcpListener::bind(config.metrics_addr)
            .await
            .map_err(|source| AgentError::MetricsBind {
                addr: config.metrics_addr,
                source,
            })?;
        let metrics_addr =
            metrics_listener
                .local_addr()
                .map_err(|source| AgentError::MetricsBind {
                    addr: config.metrics_addr,
                    source,
                })?;

        // What a previous run of this agent left: unfinished runs are lost, the rest is resent.
        let (spool, recovered) = Spool::open(&config.data_dir)?;
        let metrics = Arc::new(Metrics::new());
        let fired: Vec<(String, chrono::DateTime<chrono::Utc>)> = recovered
            .iter()
            .filter_map(|r| {
                chrono::DateTime::from_timestamp_millis(r.scheduled_at_ms)
                    .map(|at| (r.job_id.clone(), at))
            })
            .collect();
        let lost = crate::runner::settle_interrupted(recovered);
        if !lost.is_empty() {
            tracing::warn!(
                executions = lost.len(),
                "runs interrupted by the last stop are reported as lost"
            );
            metrics.lost.inc_by(lost.len() as u64);
            spool.push(lost).await?;
        }

        let directory = Arc::new(SchedulerDirectory::new(
            client.clone(),
            config.etcd_prefix.clone(),
        ));
        let (finished_tx, finished_rx) = tokio::sync::mpsc::unbounded_channel();
        let runner = Arc::new(Runner::new(
            id.clone(),
            Executors::with_callback_allow(config.allow_shell, config.callback_allow.clone())
                .with_http_per_host(config.http_per_host),
            spool.clone(),
            token.map(ReportKey::derive),
            directory.clone(),
            fence.clone(),
            metrics.clone(),
            finished_tx,
        ));
        let mut clock = Clock::new(runner.clone(), fence.clone());
        for (job, at) in fired {
            clock.remember_fired(&job, at);
        }
        let clock_stop = CancellationToken::new();
        let (clock, clock_task) = clock.spawn(finished_rx, clock_stop.clone());
        let holdings = Arc::new(crate::holdings::Holdings::load(&config.data_dir));
        metrics
            .held_unusable
            .inc_by(holdings.unusable_on_load() as u64);
        clock.send(Command::Load(holdings.all()));
        // Set explicitly: a large job set arrives in chunks well below this (proto/src/lib.rs),
        // but the default 4 MiB once made a whole-set Sync fail forever.
        let service = AgentServiceServer::new(AgentServiceImpl::new(
            info,
            fence.clone(),
            current_lease,
            holdings,
            clock,
            runner.clone(),
        ))
        .max_decoding_message_size(crony_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(crony_proto::MAX_MESSAGE_BYTES);
        let service = tonic::service::interceptor::InterceptedService::new(service, check);
        let mut server = tonic::transport::Server::builder();
        if let Some(identity) = &config.tls {
            server = server
                .tls_config(identity.tonic(config.tls_client_ca.as_ref()))
                .map_err(|e| AgentError::Tls(e.to_string()))?;
        }
        let tracker = TaskTracker::new();
        // The lease outlives the drain below: while running work finishes and its outcome is
        // flushed, the agent still owns its jobs, so nothing is marked lost or run twice.
        let lease_stop = CancellationToken::new();
        tracker.spawn(registrar.run(Some(lease), lease_stop.clone()));
        let server_shutdown = shutdown.clone();
        tracker.spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let served = server
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, server_shutdown.clone().cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "AgentService stopped");
                server_shutdown.cancel();
            }
        });
        tracker.spawn(directory.clone().refresh(shutdown.clone()));
        let reporter_stop = CancellationToken::new();
        let reporter = Reporter {
            agent_id: id.clone(),
            spool,
            directory,
            token: attach,
            ca: config.tls_ca.clone(),
            identity: config.tls.clone(),
            metrics: metrics.clone(),
            clients: Default::default(),
        };
        let reporting = tokio::spawn(reporter.run(reporter_stop.clone(), Duration::from_secs(5)));
        tracker.spawn(crate::status::serve(
            metrics_listener,
            metrics,
            fence.clone(),
            config.metrics_token.clone(),
            shutdown.clone(),
        ));
        // Shutdown: stop firing, let running work finish within the grace period (then kill
        // it), and only then stop the reporter so the outcomes are flushed too.
        let grace = config.shutdown_grace;
        let drain_shutdown = shutdown.clone();
        tracker.spawn(async move {
            drain_shutdown.cancelled().await;
            clock_stop.cancel();
            let _ = clock_task.await;
            if runner.running() > 0 {
                tracing::info!(
                    running = runner.running(),
                    grace_secs = grace.as_secs(),
                    "waiting for running executions"
                );
            }
            if tokio::time::timeout(grace, runner.wait()).await.is_err() {
                tracing::warn!(
                    running = runner.running(),
                    "grace period over; killing running executions"
                );
                runner.kill_all();
                runner.wait().await;
            }
            reporter_stop.cancel();
            let _ = reporting.await;
            lease_stop.cancel();
        });
        tracker.close();
        tracing::info!(%id, %grpc_addr, %advertise_addr, "agent started");
        Ok(Self {
            id,
            grpc_addr,
            advertise_addr,
            metrics_addr,
            fence,
            tracker,
        })
    }

    /// Waits until every task has stopped (after the shutdown token is cancelled).
    pub async fn wait(&self) {
        self.tracker.wait().await;
    }
}

/// What schedulers are told to dial: the configured advertise address, else the bound one
/// (the hostname when bound to every interface). Without a cluster token only the loopback
/// address exists, whatever was configured.
fn announced_addr(config: &AgentConfig, bound: SocketAddr, hostname: &str) -> String {
    match (&config.cluster, &config.advertise_addr) {
        (ClusterAuth::InsecureLoopbackOnly, advertised) => {
            cluster_auth::warn_insecure("AgentService", config.grpc_addr, bound);
            if let Some(advertised) = advertised {
                tracing::warn!(
                    %advertised,
                    "CRONY_AGENT_ADVERTISE_ADDR is ignored without a cluster token: \
                     the agent announces its loopback address"
                );
            }
            bound.to_string()
        }
        (ClusterAuth::Token(_), Some(advertised)) => advertised.clone(),
        (ClusterAuth::Token(_), None) if bound.ip().is_unspecified() => {
            format!("{hostname}:{}", bound.port())
        }
        (ClusterAuth::Token(_), None) => bound.to_string(),
    }
}
