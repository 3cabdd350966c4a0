//! Starting and stopping a scheduler: MySQL (created and migrated), etcd, discovery, recorder,
//! leadership, report ingestion (gRPC), its announcement in etcd and the HTTP server, all
//! stopped through one `CancellationToken`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::delivery::{Channels, configured_senders};
use crate::alert::events::AlertEvents;
use crate::alert::recorder::Recorder;
use crate::alert::watch::LeaderAlerting;
use crate::alert::worker::Worker;
use crate::alert::{ChannelKind, Sender};
use crate::announce::{announcer, url_for};
use crate::api::{AppState, router};
use crate::config::SchedulerConfig;
use crate::election::etcd::EtcdElection;
use crate::ingest::MAX_MESSAGE;
use crate::ingest::service::ReportServiceImpl;
use crate::ingest::writer::Writer;
use crate::leader::push::AgentDialer;
use crate::leader::{LeaderDeps, ReconcileDeps, run_leadership};
use crate::metrics::Metrics;
use crate::registry::etcd::EtcdAgentSource;
use crate::registry::recorder::run_recorder;
use crate::registry::{LiveAgents, run_discovery};
use crate::store::Store;
use crate::store::mysql::MySqlStore;
use crate::sweep::Sweeper;
use crony_common::cluster_auth::{self, ClusterAuth, ClusterToken};
use crony_common::registry::SchedulerRecord;
use crony_common::report_token::ReportKey;
use crony_common::tls::CLIENT_CA_NEEDS_IDENTITY;
use crony_common::traces::Traces;
use crony_proto::auth::{AttachClusterToken, ClusterTokenCheck};
use crony_proto::v1::report_service_server::ReportServiceServer;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the last spans may take to reach the collector at shutdown.
const TRACES_FLUSH: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot use MySQL at {target} (CRONY_DATABASE_URL): {message}")]
    Database { target: String, message: String },
    /// Unreachable, or refused this process's credentials or certificate (names the setting).
    #[error(transparent)]
    Etcd(#[from] crony_common::etcd::EtcdError),
    #[error("invalid CRONY_CLUSTER_TOKEN: {0}")]
    Token(String),
    #[error(transparent)]
    Traces(#[from] crony_common::traces::TracesError),
    #[error("cannot listen on {addr} (CRONY_HTTP_ADDR): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} (CRONY_GRPC_ADDR): {source}")]
    GrpcBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Alerts(String),
    #[error("cannot serve TLS (CRONY_TLS_CERT, CRONY_TLS_KEY, CRONY_TLS_CLIENT_CA): {0}")]
    Tls(String),
}

/// A running scheduler. Stop it by cancelling the token given to [`Scheduler::start`].
pub struct Scheduler {
    /// Where the HTTP API really listens (the real port when configured with port 0).
    pub http_addr: SocketAddr,
    /// Where `ReportService` really listens.
    pub grpc_addr: SocketAddr,
    /// This process's id in `{prefix}/schedulers/`.
    pub id: String,
    pub live: Arc<LiveAgents>,
    tracker: TaskTracker,
}

impl Scheduler {
    pub async fn start(
        config: SchedulerConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        crony_common::tls::install_crypto_provider();
        let allow = config.callback_allow.clone().map(Arc::new);
        let senders = configured_senders(&config.alerts, allow).map_err(StartupError::Alerts)?;
        Self::start_with_senders(config, shutdown, senders).await
    }

    /// Like [`Scheduler::start`], delivering alerts through `senders` instead of the channels
    /// the configuration enables (tests use recording senders).
    pub async fn start_with_senders(
        config: SchedulerConfig,
        shutdown: CancellationToken,
        senders: HashMap<ChannelKind, Arc<dyn Sender>>,
    ) -> Result<Self, StartupError> {
        crony_common::tls::install_crypto_provider();
        if config.tls_client_ca.is_some() && config.tls.is_none() {
            return Err(StartupError::Tls(CLIENT_CA_NEEDS_IDENTITY.into()));
        }
        if let Some(allow) = &config.callback_allow {
            config
                .alerts
                .check_callback_allow(allow)
                .map_err(StartupError::Alerts)?;
        }
        let tls = config.tls.is_some();
        let db = &config.database;
        let database_error = |message: String| StartupError::Database {
            // Host, port and database only: the URL may carry a password.
            target: format!(
                "{}:{}/{}",
                db.get_host(),
                db.get_port(),
                db.get_database().unwrap_or_default()
            ),
            message,
        };
        let store = tokio::time::timeout(STARTUP_TIMEOUT, MySqlStore::connect(db))
            .await
            .map_err(|_| database_error("timed out connecting".into()))?
            .map_err(|e| database_error(e.to_string()))?;
        let store: Arc<dyn Store> = Arc::new(store.with_secrets(config.auth.secrets.clone()));
        let auth =
            crate::auth::bootstrap::bootstrap(store.as_ref(), &config.auth, config.tls.is_some())
                .await
                .map_err(|e| database_error(e.to_string()))?;

        let etcd = crony_common::etcd::connect(
            &config.etcd_endpoints,
            &config.etcd_access,
            &config.etcd_prefix,
            Duration::from_secs(5),
        )
        .await?;
        let listener = TcpListener::bind(config.http_addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.http_addr,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.http_addr,
            source,
        })?;

        // Without a cluster token, ReportService would take forged reports from anyone who
        // can reach it: loopback only.
        let grpc_bind = config.cluster.listen_addr(config.grpc_addr);
        let grpc_listener =
            TcpListener::bind(grpc_bind)
                .await
                .map_err(|source| StartupError::GrpcBind {
                    addr: grpc_bind,
                    source,
                })?;
        let grpc_addr = grpc_listener
            .local_addr()
            .map_err(|source| StartupError::GrpcBind {
                addr: grpc_bind,
                source,
            })?;
        if matches!(config.cluster, ClusterAuth::InsecureLoopbackOnly) {
            cluster_auth::warn_insecure("ReportService", config.grpc_addr, grpc_addr);
        }

        let live = Arc::new(LiveAgents::default());
        let metrics = Arc::new(Metrics::with_per_job(config.metrics_per_job));
        let tracker = TaskTracker::new();
        tracker.spawn(crate::job_names::run(
            store.clone(),
            metrics.clone(),
            config.metrics_per_job,
            shutdown.clone(),
        ));
        tracker.spawn(run_discovery(
            EtcdAgentSource::new(etcd.clone(), &config.etcd_prefix),
            live.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
        tracker.spawn(run_recorder(live.clone(), store.clone(), shutdown.clone()));
        // Alerts: every instance writes what it sees to the outbox; the leader records and
        // delivers (see `alert/`).
        let (alert_events, happenings) = AlertEvents::channel();
        tracker.spawn(crate::alert::events::feed(
            happenings,
            store.clone(),
            alert_events.clone(),
            shutdown.clone(),
        ));
        let wake = Arc::new(tokio::sync::Notify::new());
        let dashboard = config.alerts.dashboard_url.clone().unwrap_or_else(|| {
            url_for(http_addr, config.advertise_host.as_deref(), tls)
                .trim_end_matches('/')
                .to_owned()
        });
        let recorder = Recorder::new(
            store.clone(),
            config.alerts.clone(),
            dashboard,
            metrics.clone(),
            (wake.clone(), alert_events.outbox_written()),
            config.alert_interval,
        );
        let channels = Arc::new(Channels::new(senders, config.alerts.clone()));
        let alerting = LeaderAlerting {
            recorder,
            worker: Worker {
                store: store.clone(),
                channels: channels.clone(),
                metrics: metrics.clone(),
                interval: config.alert_interval,
                wake,
            },
            live: live.clone(),
            events: alert_events.clone(),
        };
        let jobs_changed = Arc::new(tokio::sync::Notify::new());
        let leading_term = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let token = AttachClusterToken::new(config.cluster.token().map(ClusterToken::expose))
            .map_err(StartupError::Token)?;
        let me = format!(
            "{}/{}/{http_addr}",
            gethostname::gethostname().to_string_lossy(),
            std::process::id()
        );
        let traces = Traces::from_setting(config.otel_endpoint.as_ref(), "crony-scheduler", &me)?;
        let dialer = AgentDialer::new(token.clone(), config.tls_ca.clone(), config.tls.clone())
            .with_tracer(traces.tracer());
        let election =
            EtcdElection::new(etcd.clone(), &config.etcd_prefix, me, config.election_ttl);
        let deps = LeaderDeps {
            reconcile: ReconcileDeps {
                store: store.clone(),
                live: live.clone(),
                jobs_changed: jobs_changed.clone(),
                default_strategy: config.default_strategy,
                rebalance: config.rebalance,
                events: alert_events.clone(),
                metrics: metrics.clone(),
            },
            dialer: dialer.clone(),
            leading_term: leading_term.clone(),
            sweeper: Sweeper {
                store: store.clone(),
                metrics: metrics.clone(),
                retention: config.execution_retention,
                async_interval: config.async_sweep_interval,
                retention_interval: config.retention_sweep_interval,
                lost_interval: Duration::from_secs(1),
                live: live.clone(),
                agent_dialer: dialer.clone(),
                alerts: alert_events.clone(),
            },
            alerting,
        };
        tracker.spawn(run_leadership(election, deps, shutdown.clone()));

        let writer = Writer::spawn(
            store.clone(),
            metrics.clone(),
            alert_events.clone(),
            shutdown.clone(),
            &tracker,
        );
        let reports = tonic::service::interceptor::InterceptedService::new(
            ReportServiceServer::new(ReportServiceImpl::new(writer).with_tracer(traces.tracer()))
                .max_decoding_message_size(MAX_MESSAGE),
            match config.cluster.token() {
                Some(token) => ClusterTokenCheck::require(token.expose()),
                None => ClusterTokenCheck::accept_anyone(),
            },
        );
        let mut grpc_server = tonic::transport::Server::builder();
        if let Some(identity) = &config.tls {
            grpc_server = grpc_server
                .tls_config(identity.tonic(config.tls_client_ca.as_ref()))
                .map_err(|e| StartupError::Tls(e.to_string()))?;
        }
        let grpc_shutdown = shutdown.clone();
        tracker.spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
            let served = grpc_server
                .add_service(reports)
                .serve_with_incoming_shutdown(incoming, grpc_shutdown.clone().cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "ReportService stopped");
                grpc_shutdown.cancel();
            }
        });

        let id = uuid::Uuid::now_v7().simple().to_string();
        let record = SchedulerRecord {
            id: id.clone(),
            // Loopback-only without a token: what other machines could dial does not exist.
            grpc_url: match config.cluster {
                ClusterAuth::Token(_) => url_for(grpc_addr, config.advertise_host.as_deref(), tls),
                ClusterAuth::InsecureLoopbackOnly => url_for(grpc_addr, None, tls),
            },
            http_url: url_for(http_addr, config.advertise_host.as_deref(), tls),
            tls,
        };
        let mut announcer = announcer(
            etcd.clone(),
            &config.etcd_prefix,
            &record,
            config.election_ttl,
        );
        // The first announcement is tried at start so a healthy cluster is reachable at once;
        // if etcd balks, the background task keeps trying.
        let lease = match tokio::time::timeout(STARTUP_TIMEOUT, announcer.register()).await {
            Ok(Ok(lease)) => Some(lease),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot announce the scheduler yet; retrying");
                None
            }
            Err(_) => None,
        };
        tracker.spawn(announcer.run(lease, shutdown.clone()));

        let app = router(AppState {
            agent_dialer: dialer,
            callback_allow: config.callback_allow.clone().map(Arc::new),
            jobs_changed,
            leading_term,
            live: live.clone(),
            store,
            etcd,
            metrics,
            report_key: config.cluster.token().map(ReportKey::derive),
            alert_events,
            channels,
            auth: Arc::new(auth),
            metrics_token: config.metrics_token.clone(),
            tracer: traces.tracer(),
            trace_url: config.otel_trace_url.clone().map(Arc::new),
        });
        let traces_stop = shutdown.clone();
        tracker.spawn(async move {
            traces_stop.cancelled().await;
            traces.shutdown(TRACES_FLUSH).await;
        });
        let server_shutdown = shutdown.clone();
        let http_tls = config.tls.as_ref().map(|identity| identity.rustls());
        tracker.spawn(async move {
            let stop = server_shutdown.clone().cancelled_owned();
            let served = crate::https::serve(listener, http_tls, app, stop).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server stopped");
                server_shutdown.cancel();
            }
        });
        tracker.close();
        tracing::info!(%id, %http_addr, %grpc_addr, "scheduler started");
        Ok(Self {
            http_addr,
            grpc_addr,
            id,
            live,
            tracker,
        })
    }

    /// Waits until every task has stopped (after the shutdown token is cancelled).
    pub async fn wait(&self) {
        self.tracker.wait().await;
    }
}
