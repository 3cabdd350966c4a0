//! Starting and stopping an agent: id, listener, etcd registration, gRPC server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crony_common::cluster_auth::{self, ClusterAuth, ClusterToken};
use crony_common::registry::{AgentRecord, agent_key};
use crony_common::tls::CLIENT_CA_NEEDS_IDENTITY;
use crony_common::traces::Traces;
use crony_proto::auth::ClusterTokenCheck;
use crony_proto::v1::agent_service_server::AgentServiceServer;
use crony_proto::v1::{AgentInfo, ExecutionReport};
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

mod drain;

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
    #[error(transparent)]
    Traces(#[from] crony_common::traces::TracesError),
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
    /// Starts an agent. Everything that can fail on this machine (listeners, TLS, data dir,
    /// token) is done before the agent registers: once its key is in etcd the leader assigns it
    /// jobs, and an agent that exits after that holds them, unfired, for a whole lease.
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
        let listeners = Listeners::bind(&config).await?;
        let server = grpc_server(&config)?;
        let token = config.cluster.token();
        let attach =
            AttachClusterToken::new(token.map(ClusterToken::expose)).map_err(AgentError::Token)?;
        let check = match token {
            Some(token) => ClusterTokenCheck::require(token.expose()),
            None => ClusterTokenCheck::accept_anyone(),
        };
        // What a previous run of this agent left: unfinished runs are lost, the rest is resent.
        let (spool, recovered) = Spool::open_with_limit(&config.data_dir, config.spool_max_bytes)?;
        let metrics = Arc::new(Metrics::with_per_job(config.metrics_per_job));
        let traces = Traces::from_setting(config.otel_endpoint.as_ref(), "crony-agent", &id)?;
        let fired = fired_instants(&recovered);
        settle_recovered(&spool, recovered, &metrics).await?;

        let record = agent_record(&config, &id, listeners.grpc_addr);
        let advertise_addr = record.grpc_addr.clone();
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
            .map_err(|_| "timed out registering".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|message| AgentError::Etcd {
                endpoints: config.etcd_endpoints.join(","),
                message,
            })?;

        let directory = Arc::new(SchedulerDirectory::new(
            client.clone(),
            config.etcd_prefix.clone(),
        ));
        let (finished_tx, finished_rx) = tokio::sync::mpsc::unbounded_channel();
        let runner = Arc::new(
            Runner::new(
                id.clone(),
                Executors::with_callback_allow(config.allow_shell, config.callback_allow.clone())
                    .with_http_per_host(config.http_per_host),
                spool.clone(),
                token.map(ReportKey::derive),
                directory.clone(),
                fence.clone(),
                metrics.clone(),
                finished_tx,
            )
            .with_tracer(traces.tracer()),
        );
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
            agent_info(&record),
            fence.clone(),
            current_lease,
            holdings,
            clock,
            runner.clone(),
        ))
        .max_decoding_message_size(crony_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(crony_proto::MAX_MESSAGE_BYTES);
        let service = tonic::service::interceptor::InterceptedService::new(service, check);
        let tracker = TaskTracker::new();
        // The lease outlives the drain below: while running work finishes and its outcome is
        // flushed, the agent still owns its jobs, so nothing is marked lost or run twice.
        let lease_stop = CancellationToken::new();
        tracker.spawn(registrar.run(Some(lease), lease_stop.clone()));
        let grpc_addr = listeners.grpc_addr;
        let metrics_addr = listeners.metrics_addr;
        let mut server = server;
        let router = server.add_service(service);
        tracker.spawn(serve_grpc(router, listeners.grpc, shutdown.clone()));
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
            set_aside: crate::poison::set_aside_path(&config.data_dir),
            refusals: Default::default(),
        };
        let reporting = tokio::spawn(reporter.run(reporter_stop.clone(), Duration::from_secs(5)));
        tracker.spawn(crate::status::serve(
            listeners.metrics,
            metrics,
            fence.clone(),
            config.metrics_token.clone(),
            shutdown.clone(),
        ));
        tracker.spawn(
            drain::Drain {
                clock_stop,
                clock_task,
                runner,
                grace: config.shutdown_grace,
                reporter_stop,
                reporting,
                lease_stop,
                traces,
            }
            .after(shutdown),
        );
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

/// Both listeners, bound before the agent registers.
struct Listeners {
    grpc: TcpListener,
    grpc_addr: SocketAddr,
    metrics: TcpListener,
    metrics_addr: SocketAddr,
}

impl Listeners {
    async fn bind(config: &AgentConfig) -> Result<Self, AgentError> {
        // Without a cluster token, anyone who reaches AgentService could make this machine
        // run shell commands: loopback only.
        let bind = config.cluster.listen_addr(config.grpc_addr);
        let grpc = TcpListener::bind(bind)
            .await
            .map_err(|source| AgentError::Bind { addr: bind, source })?;
        let grpc_addr = grpc
            .local_addr()
            .map_err(|source| AgentError::Bind { addr: bind, source })?;
        let metrics_error = |source| AgentError::MetricsBind {
            addr: config.metrics_addr,
            source,
        };
        let metrics = TcpListener::bind(config.metrics_addr)
            .await
            .map_err(metrics_error)?;
        let metrics_addr = metrics.local_addr().map_err(metrics_error)?;
        Ok(Self {
            grpc,
            grpc_addr,
            metrics,
            metrics_addr,
        })
    }
}

/// The gRPC server, with TLS when configured.
fn grpc_server(config: &AgentConfig) -> Result<tonic::transport::Server, AgentError> {
    if config.tls_client_ca.is_some() && config.tls.is_none() {
        return Err(AgentError::Tls(CLIENT_CA_NEEDS_IDENTITY.into()));
    }
    let server = tonic::transport::Server::builder();
    match &config.tls {
        Some(identity) => server
            .tls_config(identity.tonic(config.tls_client_ca.as_ref()))
            .map_err(|e| AgentError::Tls(e.to_string())),
        None => Ok(server),
    }
}

/// Serves `AgentService` until shutdown; a server that fails stops the whole agent.
async fn serve_grpc(
    router: tonic::transport::server::Router,
    listener: TcpListener,
    shutdown: CancellationToken,
) {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let served = router
        .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "AgentService stopped");
        shutdown.cancel();
    }
}

/// The instants a previous run recorded, so the clock does not fire them again.
fn fired_instants(recovered: &[ExecutionReport]) -> Vec<(String, DateTime<Utc>)> {
    recovered
        .iter()
        .filter_map(|r| {
            DateTime::from_timestamp_millis(r.scheduled_at_ms).map(|at| (r.job_id.clone(), at))
        })
        .collect()
}

/// Runs the previous process left unfinished are reported `lost`; the rest is resent as is.
async fn settle_recovered(
    spool: &Spool,
    recovered: Vec<ExecutionReport>,
    metrics: &Metrics,
) -> Result<(), AgentError> {
    let lost = crate::runner::settle_interrupted(recovered);
    if !lost.is_empty() {
        tracing::warn!(
            executions = lost.len(),
            "runs interrupted by the last stop are reported as lost"
        );
        metrics.lost.inc_by(lost.len() as u64);
        spool.push(lost).await?;
    }
    Ok(())
}

/// What the agent publishes in etcd.
fn agent_record(config: &AgentConfig, id: &str, grpc_addr: SocketAddr) -> AgentRecord {
    let hostname = gethostname::gethostname().to_string_lossy().into_owned();
    AgentRecord {
        id: id.to_owned(),
        grpc_addr: announced_addr(config, grpc_addr, &hostname),
        hostname,
        weight: config.weight,
        labels: config.labels.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        allow_shell: config.allow_shell,
        started_at: Utc::now().to_rfc3339(),
        tls: config.tls.is_some(),
        lease_id: 0,
    }
}

/// What the agent answers to `Info`: its published record.
fn agent_info(record: &AgentRecord) -> AgentInfo {
    AgentInfo {
        id: record.id.clone(),
        grpc_addr: record.grpc_addr.clone(),
        hostname: record.hostname.clone(),
        weight: record.weight,
        labels: record.labels.clone().into_iter().collect(),
        version: record.version.clone(),
        allow_shell: record.allow_shell,
        started_at_ms: DateTime::parse_from_rfc3339(&record.started_at)
            .map_or(0, |at| at.timestamp_millis()),
        ..AgentInfo::default()
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
