//! Agent configuration: every setting of design §9, layered file → environment → flags.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crony_common::callback_allow::{CALLBACK_ALLOW, CallbackAllow};
use crony_common::cluster_auth::{CLUSTER_TOKEN, ClusterAuth, INSECURE_NO_CLUSTER_TOKEN};
use crony_common::etcd_access::{
    ETCD_PASSWORD, ETCD_TLS_CA, ETCD_TLS_CERT, ETCD_TLS_KEY, ETCD_USERNAME, EtcdAccess,
};
use crony_common::metrics_token::{METRICS_TOKEN, MetricsToken};
use crony_common::settings::{
    ConfigError, Setting, Sources, parse_bool, parse_endpoints, parse_in_range, parse_labels,
    parse_prefix, parse_socket_addr,
};
use crony_common::telemetry::{LogFormat, parse_log_format};
use crony_common::tls::{
    CaBundle, ServerIdentity, TLS_CA, TLS_CERT, TLS_CLIENT_CA, TLS_KEY, TlsSettings,
};
use crony_common::traces::OtelEndpoint;

const fn s(key: &'static str, env: &'static str, help: &'static str) -> Setting {
    Setting::new(key, env, help)
}

const ETCD_ENDPOINTS: Setting = s(
    "etcd_endpoints",
    "CRONY_ETCD_ENDPOINTS",
    "etcd endpoints, comma-separated [default: http://127.0.0.1:2379]",
);
const ETCD_PREFIX: Setting = s(
    "etcd_prefix",
    "CRONY_ETCD_PREFIX",
    "key prefix in etcd [default: /crony]",
);
const AGENT_ID: Setting = s(
    "agent_id",
    "CRONY_AGENT_ID",
    "agent id [default: generated once and kept in the data dir]",
);
const GRPC_ADDR: Setting = s(
    "agent_grpc_addr",
    "CRONY_AGENT_GRPC_ADDR",
    "listen address of AgentService [default: 0.0.0.0:9191]",
);
const ADVERTISE_ADDR: Setting = s(
    "agent_advertise_addr",
    "CRONY_AGENT_ADVERTISE_ADDR",
    "host:port schedulers dial [default: the listen address, or hostname:port when it is 0.0.0.0]",
);
const WEIGHT: Setting = s(
    "agent_weight",
    "CRONY_AGENT_WEIGHT",
    "placement weight, 1-1000 [default: 1]",
);
const LABELS: Setting = s(
    "agent_labels",
    "CRONY_AGENT_LABELS",
    "labels as k=v,k=v [default: none]",
);
const DATA_DIR: Setting = s(
    "agent_data_dir",
    "CRONY_AGENT_DATA_DIR",
    "directory for the agent id and held jobs [default: ./crony-agent-data]",
);
const LEASE_TTL: Setting = s(
    "lease_ttl_secs",
    "CRONY_LEASE_TTL_SECS",
    "etcd lease TTL in seconds, 2-300 [default: 10]",
);
const ALLOW_SHELL: Setting = s(
    "allow_shell",
    "CRONY_ALLOW_SHELL",
    "accept shell jobs [default: true]",
);
const METRICS_ADDR: Setting = s(
    "agent_metrics_addr",
    "CRONY_AGENT_METRICS_ADDR",
    "listen address of the agent's /metrics and /healthz [default: 0.0.0.0:9192]",
);
const SHUTDOWN_GRACE: Setting = s(
    "shutdown_grace_secs",
    "CRONY_SHUTDOWN_GRACE_SECS",
    "on SIGTERM, how long running executions may finish before they are killed, 0-3600 [default: 30]",
);
const HTTP_PER_HOST: Setting = s(
    "agent_http_per_host",
    "CRONY_AGENT_HTTP_PER_HOST",
    "HTTP calls in flight to one host (scheme, host, port); more wait for a slot, 1-100000 [default: 64]",
);
const SPOOL_MAX_MB: Setting = s(
    "agent_spool_max_mb",
    "CRONY_AGENT_SPOOL_MAX_MB",
    "MiB of reports no scheduler has taken before the agent starts nothing new (each fire is \
     recorded skipped until schedulers take reports), 1-65536 [default: 256]",
);
const METRICS_PER_JOB: Setting = s(
    "metrics_per_job",
    "CRONY_METRICS_PER_JOB",
    "per-job Prometheus series (job_id, job_name): auto (off above 1000 jobs), on or off [default: auto]",
);
const OTEL_ENDPOINT: Setting = s(
    "otel_endpoint",
    "CRONY_OTEL_ENDPOINT",
    "OTLP/gRPC collector for execution traces, e.g. http://127.0.0.1:4317 [default: off]",
);
const LOG_FORMAT: Setting = s(
    "log_format",
    "CRONY_LOG_FORMAT",
    "plain or json [default: plain]",
);

static SETTINGS: &[Setting] = &[
    ETCD_ENDPOINTS,
    ETCD_PREFIX,
    ETCD_USERNAME,
    ETCD_PASSWORD,
    ETCD_TLS_CA,
    ETCD_TLS_CERT,
    ETCD_TLS_KEY,
    AGENT_ID,
    GRPC_ADDR,
    ADVERTISE_ADDR,
    CLUSTER_TOKEN,
    INSECURE_NO_CLUSTER_TOKEN,
    WEIGHT,
    LABELS,
    DATA_DIR,
    LEASE_TTL,
    ALLOW_SHELL,
    METRICS_ADDR,
    SHUTDOWN_GRACE,
    HTTP_PER_HOST,
    SPOOL_MAX_MB,
    LOG_FORMAT,
    METRICS_PER_JOB,
    OTEL_ENDPOINT,
    TLS_CERT,
    TLS_KEY,
    TLS_CA,
    TLS_CLIENT_CA,
    CALLBACK_ALLOW,
    METRICS_TOKEN,
];

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub etcd_endpoints: Vec<String>,
    pub etcd_prefix: String,
    /// Who this process is to etcd, and how it verifies etcd (`CRONY_ETCD_USERNAME`, `_TLS_*`).
    pub etcd_access: EtcdAccess,
    pub agent_id: Option<String>,
    pub grpc_addr: SocketAddr,
    pub advertise_addr: Option<String>,
    /// The credential of `AgentService` and of reports to schedulers; no default, so that
    /// no configuration runs open by accident.
    pub cluster: ClusterAuth,
    pub weight: u32,
    pub labels: BTreeMap<String, String>,
    pub data_dir: PathBuf,
    pub lease_ttl: Duration,
    pub allow_shell: bool,
    pub metrics_addr: SocketAddr,
    pub shutdown_grace: Duration,
    /// HTTP calls in flight to one host: a burst reuses pooled connections instead of opening
    /// one per fire.
    pub http_per_host: usize,
    /// The spool's bound: past it the agent applies back-pressure (docs/firing.md).
    pub spool_max_bytes: u64,
    pub log_format: LogFormat,
    /// `CRONY_METRICS_PER_JOB`.
    pub metrics_per_job: crony_common::job_series::PerJob,
    /// `CRONY_OTEL_ENDPOINT`: `None` exports no traces.
    pub otel_endpoint: Option<OtelEndpoint>,
    /// `Some`: `AgentService` serves TLS with this certificate.
    pub tls: Option<ServerIdentity>,
    /// Verifies schedulers that serve TLS when reporting to them; `None`: webpki roots.
    pub tls_ca: Option<CaBundle>,
    /// `Some`: `AgentService` requires client certificates signed by it (needs `tls`).
    pub tls_client_ca: Option<CaBundle>,
    /// Hosts HTTP and gRPC jobs may call (checked again on the resolved addresses); `None`: any.
    pub callback_allow: Option<CallbackAllow>,
    /// `Some`: `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<MetricsToken>,
}

impl AgentConfig {
    /// Defaults for everything except where etcd is, where data lives and the cluster
    /// credential.
    pub fn new(etcd_endpoints: Vec<String>, data_dir: PathBuf, cluster: ClusterAuth) -> Self {
        Self {
            etcd_endpoints,
            etcd_prefix: crony_common::registry::DEFAULT_PREFIX.to_owned(),
            etcd_access: EtcdAccess::default(),
            agent_id: None,
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 9191)),
            advertise_addr: None,
            cluster,
            weight: 1,
            labels: BTreeMap::new(),
            data_dir,
            lease_ttl: Duration::from_secs(10),
            allow_shell: true,
            metrics_addr: SocketAddr::from(([0, 0, 0, 0], 9192)),
            shutdown_grace: Duration::from_secs(30),
            http_per_host: crate::executor::host_limit::DEFAULT_PER_HOST,
            spool_max_bytes: crate::spool::MAX_PENDING_BYTES,
            log_format: LogFormat::Plain,
            metrics_per_job: crony_common::job_series::PerJob::Auto,
            otel_endpoint: None,
            tls: None,
            tls_ca: None,
            tls_client_ca: None,
            callback_allow: None,
            metrics_token: None,
        }
    }

    pub fn from_env_and_args(
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Self, ConfigError> {
        let src = Sources::load(
            "crony-agent",
            "Crony agent: registers in etcd and runs the jobs the scheduler gives it",
            SETTINGS,
            args,
            |name| std::env::var(name).ok(),
        )?;
        let d = Self::new(
            vec!["http://127.0.0.1:2379".into()],
            PathBuf::from("crony-agent-data"),
            ClusterAuth::load(&src)?,
        );
        let tls = TlsSettings::load(&src)?;
        let etcd_endpoints = src.get_or(&ETCD_ENDPOINTS, d.etcd_endpoints, parse_endpoints)?;
        let etcd_access = EtcdAccess::load(&src, &etcd_endpoints)?;
        Ok(Self {
            tls: tls.identity,
            tls_ca: tls.ca,
            tls_client_ca: tls.client_ca,
            callback_allow: src.get(&CALLBACK_ALLOW, |r| {
                CallbackAllow::parse(r).map_err(|e| e.to_string())
            })?,
            etcd_endpoints,
            etcd_access,
            etcd_prefix: src.get_or(&ETCD_PREFIX, d.etcd_prefix, parse_prefix)?,
            agent_id: src.get(&AGENT_ID, crate::identity::validate_id)?,
            grpc_addr: src.get_or(&GRPC_ADDR, d.grpc_addr, parse_socket_addr)?,
            advertise_addr: src.get(&ADVERTISE_ADDR, parse_host_port)?,
            cluster: d.cluster,
            weight: src.get_or(&WEIGHT, d.weight, |r| {
                parse_in_range(r, 1, 1000).map(|w| w as u32)
            })?,
            labels: src.get_or(&LABELS, d.labels, parse_labels)?,
            data_dir: src.get_or(&DATA_DIR, d.data_dir, |r| non_empty(r).map(PathBuf::from))?,
            lease_ttl: src.get_or(&LEASE_TTL, d.lease_ttl, |r| {
                parse_in_range(r, 2, 300).map(Duration::from_secs)
            })?,
            allow_shell: src.get_or(&ALLOW_SHELL, d.allow_shell, parse_bool)?,
            metrics_addr: src.get_or(&METRICS_ADDR, d.metrics_addr, parse_socket_addr)?,
            shutdown_grace: src.get_or(&SHUTDOWN_GRACE, d.shutdown_grace, |r| {
                parse_in_range(r, 0, 3600).map(Duration::from_secs)
            })?,
            http_per_host: src.get_or(&HTTP_PER_HOST, d.http_per_host, |r| {
                parse_in_range(r, 1, 100_000).map(|n| n as usize)
            })?,
            spool_max_bytes: src.get_or(&SPOOL_MAX_MB, d.spool_max_bytes, |r| {
                parse_in_range(r, 1, 65_536).map(|mib| mib << 20)
            })?,
            log_format: src.get_or(&LOG_FORMAT, d.log_format, parse_log_format)?,
            metrics_per_job: src.get_or(&METRICS_PER_JOB, d.metrics_per_job, str::parse)?,
            otel_endpoint: src.get(&OTEL_ENDPOINT, OtelEndpoint::parse)?,
            metrics_token: src.get(&METRICS_TOKEN, MetricsToken::parse)?,
        })
    }
}

fn non_empty(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(raw.to_owned())
    }
}

fn parse_host_port(raw: &str) -> Result<String, String> {
    match raw.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(raw.to_owned())
        }
        _ => Err(format!("{raw:?} must be host:port")),
    }
}
