//! Scheduler configuration (design §9), layered file → environment → flags.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crony_common::callback_allow::{CALLBACK_ALLOW, CallbackAllow};
use crony_common::cluster_auth::{CLUSTER_TOKEN, ClusterAuth, INSECURE_NO_CLUSTER_TOKEN};
use crony_common::etcd_access::{
    ETCD_PASSWORD, ETCD_TLS_CA, ETCD_TLS_CERT, ETCD_TLS_KEY, ETCD_USERNAME, EtcdAccess,
};
use crony_common::metrics_token::{METRICS_TOKEN, MetricsToken};
use crony_common::settings::{
    ConfigError, Setting, Sources, parse_endpoints, parse_in_range, parse_prefix, parse_socket_addr,
};
use crony_common::telemetry::{LogFormat, parse_log_format};
use crony_common::traces::OtelEndpoint;

use crate::traced::TraceUrl;
use crony_common::tls::{
    CaBundle, ServerIdentity, TLS_CA, TLS_CERT, TLS_CLIENT_CA, TLS_KEY, TlsSettings,
};
use sqlx::mysql::MySqlConnectOptions;

use crate::alert::settings::{self as alert, AlertSettings};
use crate::auth::settings::{self as auth, AuthSettings};
use crate::placement::Strategy;

const fn s(key: &'static str, env: &'static str, help: &'static str) -> Setting {
    Setting::new(key, env, help)
}

// A secret: the URL may carry the database password.
const DATABASE_URL: Setting = Setting::secret(
    "database_url",
    "CRONY_DATABASE_URL",
    "MySQL/MariaDB URL; the database is created if missing [default: mysql://root@127.0.0.1:3306/crony]",
);
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
const HTTP_ADDR: Setting = s(
    "http_addr",
    "CRONY_HTTP_ADDR",
    "listen address of the API and dashboard [default: 0.0.0.0:8080]",
);
const GRPC_ADDR: Setting = s(
    "grpc_addr",
    "CRONY_GRPC_ADDR",
    "listen address of ReportService, where agents deliver executions [default: 0.0.0.0:9090]",
);
const ADVERTISE_HOST: Setting = s(
    "advertise_host",
    "CRONY_ADVERTISE_HOST",
    "host other machines use to reach this scheduler [default: the bound IP, or the hostname when bound to 0.0.0.0]",
);
const EXECUTION_RETENTION: Setting = s(
    "execution_retention_days",
    "CRONY_EXECUTION_RETENTION_DAYS",
    "executions older than this are purged, 1-3650 [default: 30]",
);
const ELECTION_TTL: Setting = s(
    "election_ttl_secs",
    "CRONY_ELECTION_TTL_SECS",
    "lease TTL of the leader election; a dead leader is replaced within it, 2-300 [default: 10]",
);
const DEFAULT_STRATEGY: Setting = s(
    "default_strategy",
    "CRONY_DEFAULT_STRATEGY",
    "placement for jobs that name none: weighted_round_robin or fewest_jobs [default: weighted_round_robin]",
);
const REBALANCE: Setting = s(
    "rebalance",
    "CRONY_REBALANCE",
    "move a bounded number of jobs per pass toward each agent's weighted share when agents join or weights change: on or off [default: on]",
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
const OTEL_TRACE_URL: Setting = s(
    "otel_trace_url",
    "CRONY_OTEL_TRACE_URL",
    "a trace UI's page of one trace, {trace_id} standing for the id, linked from the dashboard (e.g. http://jaeger:16686/trace/{trace_id})",
);
const LOG_FORMAT: Setting = s(
    "log_format",
    "CRONY_LOG_FORMAT",
    "plain or json [default: plain]",
);

static SETTINGS: &[Setting] = &[
    DATABASE_URL,
    ETCD_ENDPOINTS,
    ETCD_PREFIX,
    ETCD_USERNAME,
    ETCD_PASSWORD,
    ETCD_TLS_CA,
    ETCD_TLS_CERT,
    ETCD_TLS_KEY,
    HTTP_ADDR,
    GRPC_ADDR,
    ADVERTISE_HOST,
    EXECUTION_RETENTION,
    CLUSTER_TOKEN,
    INSECURE_NO_CLUSTER_TOKEN,
    ELECTION_TTL,
    DEFAULT_STRATEGY,
    REBALANCE,
    LOG_FORMAT,
    METRICS_PER_JOB,
    OTEL_ENDPOINT,
    OTEL_TRACE_URL,
    alert::SMTP_URL,
    alert::SMTP_FROM,
    alert::FEISHU_WEBHOOK,
    alert::FEISHU_SECRET,
    alert::ALERT_EMAILS,
    alert::ALERT_WEBHOOK,
    alert::ALERT_THROTTLE,
    alert::ALERT_FAILURE_RATE,
    alert::ALERT_FAILURE_WINDOW,
    alert::DASHBOARD_URL,
    alert::ALERT_LANG,
    auth::ADMIN_USER,
    auth::ADMIN_PASSWORD,
    auth::ADMIN_TOKEN,
    auth::SECRET_KEY,
    auth::SECURE_COOKIES,
    auth::SESSION_TTL,
    auth::TRUSTED_PROXIES,
    TLS_CERT,
    TLS_KEY,
    TLS_CA,
    TLS_CLIENT_CA,
    CALLBACK_ALLOW,
    METRICS_TOKEN,
];

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub database: MySqlConnectOptions,
    pub etcd_endpoints: Vec<String>,
    pub etcd_prefix: String,
    /// Who this process is to etcd, and how it verifies etcd (`CRONY_ETCD_USERNAME`, `_TLS_*`).
    pub etcd_access: EtcdAccess,
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// Host in the URLs this scheduler announces in etcd; `None`: derived from the bound address.
    pub advertise_host: Option<String>,
    /// Executions scheduled longer ago than this are purged (tests use seconds).
    pub execution_retention: Duration,
    /// How often the leader looks for async executions past their deadline.
    pub async_sweep_interval: Duration,
    /// How often the leader purges executions past their retention.
    pub retention_sweep_interval: Duration,
    /// The credential of `ReportService` and of calls to agents; no default, so that no
    /// configuration runs open by accident.
    pub cluster: ClusterAuth,
    pub election_ttl: Duration,
    pub default_strategy: Strategy,
    /// Rebalance toward weighted shares (two-phase moves; docs/placement.md).
    pub rebalance: bool,
    pub log_format: LogFormat,
    /// `CRONY_METRICS_PER_JOB`.
    pub metrics_per_job: crony_common::job_series::PerJob,
    /// `CRONY_OTEL_ENDPOINT`: `None` exports no traces.
    pub otel_endpoint: Option<OtelEndpoint>,
    /// `CRONY_OTEL_TRACE_URL`: where the dashboard links an execution's trace.
    pub otel_trace_url: Option<TraceUrl>,
    pub alerts: AlertSettings,
    /// How often the leader's alert worker looks for due alerts.
    pub alert_interval: Duration,
    pub auth: AuthSettings,
    /// `Some`: the HTTP API and `ReportService` serve TLS with this certificate (and session
    /// cookies can be `Secure`).
    pub tls: Option<ServerIdentity>,
    /// Verifies agents that serve TLS when this scheduler calls them; `None`: webpki roots.
    pub tls_ca: Option<CaBundle>,
    /// `Some`: `ReportService` requires client certificates signed by it (needs `tls`).
    pub tls_client_ca: Option<CaBundle>,
    /// Hosts job targets may name; `None`: any.
    pub callback_allow: Option<CallbackAllow>,
    /// `Some`: `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<MetricsToken>,
}

impl SchedulerConfig {
    /// Defaults for everything except where MySQL and etcd are and the cluster credential.
    pub fn new(
        database: MySqlConnectOptions,
        etcd_endpoints: Vec<String>,
        cluster: ClusterAuth,
    ) -> Self {
        Self {
            database,
            etcd_endpoints,
            etcd_prefix: crony_common::registry::DEFAULT_PREFIX.to_owned(),
            etcd_access: EtcdAccess::default(),
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            advertise_host: None,
            execution_retention: Duration::from_secs(30 * DAY),
            async_sweep_interval: Duration::from_secs(1),
            retention_sweep_interval: Duration::from_secs(600),
            cluster,
            election_ttl: Duration::from_secs(10),
            default_strategy: Strategy::WeightedRoundRobin,
            rebalance: true,
            log_format: LogFormat::Plain,
            metrics_per_job: crony_common::job_series::PerJob::Auto,
            otel_endpoint: None,
            otel_trace_url: None,
            alerts: AlertSettings::default(),
            alert_interval: Duration::from_secs(1),
            auth: AuthSettings::default(),
            tls: None,
            tls_ca: None,
            tls_client_ca: None,
            callback_allow: None,
            metrics_token: None,
        }
    }

    /// Only the database of the settings (`crony-scheduler migrate` needs nothing else, not
    /// even the cluster token); every other setting given is still checked for typos.
    pub fn database_from_env_and_args(
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<MySqlConnectOptions, ConfigError> {
        let src = Sources::load(
            "crony-scheduler migrate",
            "Applies the schema's pending migrations (--dry-run: only lists them)",
            SETTINGS,
            args,
            |name| std::env::var(name).ok(),
        )?;
        Ok(src
            .get(&DATABASE_URL, parse_database_url)?
            .map_or_else(
                || parse_database_url("mysql://root@127.0.0.1:3306/crony"),
                Ok,
            )
            .expect("default database URL parses"))
    }

    pub fn from_env_and_args(
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Self, ConfigError> {
        let src = Sources::load(
            "crony-scheduler",
            "Crony scheduler: agent registry, placement, API and dashboard",
            SETTINGS,
            args,
            |name| std::env::var(name).ok(),
        )?;
        let database = src
            .get(&DATABASE_URL, parse_database_url)?
            .map_or_else(
                || parse_database_url("mysql://root@127.0.0.1:3306/crony"),
                Ok,
            )
            .expect("default database URL parses");
        let cluster = ClusterAuth::load(&src)?;
        let d = Self::new(database, vec!["http://127.0.0.1:2379".into()], cluster);
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
            http_addr: src.get_or(&HTTP_ADDR, d.http_addr, parse_socket_addr)?,
            grpc_addr: src.get_or(&GRPC_ADDR, d.grpc_addr, parse_socket_addr)?,
            advertise_host: src.get(&ADVERTISE_HOST, parse_host)?,
            execution_retention: src.get_or(&EXECUTION_RETENTION, d.execution_retention, |r| {
                parse_in_range(r, 1, 3650).map(|days| Duration::from_secs(days * DAY))
            })?,
            async_sweep_interval: d.async_sweep_interval,
            retention_sweep_interval: d.retention_sweep_interval,
            cluster: d.cluster,
            election_ttl: src.get_or(&ELECTION_TTL, d.election_ttl, |r| {
                parse_in_range(r, 2, 300).map(Duration::from_secs)
            })?,
            default_strategy: src.get_or(&DEFAULT_STRATEGY, d.default_strategy, |r| match r {
                "weighted_round_robin" => Ok(Strategy::WeightedRoundRobin),
                "fewest_jobs" => Ok(Strategy::FewestJobs),
                _ => Err(format!("{r:?} must be weighted_round_robin or fewest_jobs")),
            })?,
            rebalance: src.get_or(&REBALANCE, d.rebalance, |r| match r {
                "on" => Ok(true),
                "off" => Ok(false),
                _ => Err(format!("{r:?} must be on or off")),
            })?,
            log_format: src.get_or(&LOG_FORMAT, d.log_format, parse_log_format)?,
            metrics_per_job: src.get_or(&METRICS_PER_JOB, d.metrics_per_job, str::parse)?,
            otel_endpoint: src.get(&OTEL_ENDPOINT, OtelEndpoint::parse)?,
            otel_trace_url: src.get(&OTEL_TRACE_URL, TraceUrl::parse)?,
            alerts: AlertSettings::load(&src)?,
            alert_interval: d.alert_interval,
            auth: AuthSettings::load(&src)?,
            metrics_token: src.get(&METRICS_TOKEN, MetricsToken::parse)?,
            database: d.database,
        })
    }
}

const DAY: u64 = 24 * 3600;

/// A host name or IP address to put in a URL (no scheme, port or path).
fn parse_host(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && (raw.parse::<std::net::IpAddr>().is_ok()
            || raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "{raw:?} must be a host name or IP address (e.g. scheduler-1.internal or 10.0.0.5)"
        ))
    }
}

/// Parses `mysql://user:pass@host:port/db`; the database name is required because the
/// scheduler creates and migrates it.
pub fn parse_database_url(raw: &str) -> Result<MySqlConnectOptions, String> {
    if !raw.starts_with("mysql://") && !raw.starts_with("mariadb://") {
        return Err("must start with mysql:// (e.g. mysql://root@127.0.0.1:3306/crony)".into());
    }
    let options = MySqlConnectOptions::from_str(raw).map_err(|e| e.to_string())?;
    if options.get_database().is_none_or(str::is_empty) {
        return Err("must name a database (e.g. mysql://root@127.0.0.1:3306/crony)".into());
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_must_be_mysql_with_a_database() {
        assert!(parse_database_url("postgres://x@h/db").is_err());
        assert!(parse_database_url("mysql://root@127.0.0.1:3306").is_err());
        assert!(parse_database_url("mysql://root@127.0.0.1:notaport/db").is_err());
        let ok = parse_database_url("mysql://root@127.0.0.1:3306/crony").unwrap();
        assert_eq!(ok.get_database(), Some("crony"));
    }

    #[test]
    fn advertise_host_is_a_bare_host() {
        assert!(parse_host("scheduler-1.internal").is_ok());
        assert!(parse_host("::1").is_ok());
        assert!(parse_host("http://x").is_err());
        assert!(parse_host("x:9090").is_err());
    }
}
