//! Test harness: real etcd, MariaDB and nginx processes in temp dirs on free ports, schedulers
//! in-process, agents as child processes, and condition waits with deadlines.

pub mod browser;
pub mod callback;
pub mod cluster;
pub mod disk;
pub mod env;
pub mod etcd;
pub mod feishu;
pub mod grpc;
pub mod mariadb;
pub mod metadata;
pub mod netns;
pub mod nginx;
pub mod otlp;
pub mod pki;
pub mod process;
pub mod reports;
pub mod secure_etcd;
pub mod sink;
pub mod smtp;
pub mod wait;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub use callback::CallbackServer;
pub use cluster::{AgentProcess, SchedulerProcess, TestScheduler};
pub use env::TestEnv;
pub use etcd::Etcd;
pub use feishu::{FeishuBot, FeishuReply};
pub use mariadb::MariaDb;
pub use metadata::MetadataServer;
pub use nginx::Nginx;
pub use pki::TestPki;
pub use secure_etcd::SecureEtcd;
pub use sink::HttpSink;
pub use smtp::{ParsedMail, ReceivedMail, SmtpMode, SmtpServer};
pub use wait::wait_until;

/// The password of the `admin` account every test scheduler creates.
pub const ADMIN_PASSWORD: &str = "crony-test-admin-password";
/// An admin API token every test scheduler accepts (`CRONY_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "crony_test_admin_token_0123456789";
/// The cluster token of every test scheduler and agent (`CRONY_CLUSTER_TOKEN`).
pub const CLUSTER_TOKEN: &str = "crony-test-cluster-token-5b0f1c9e2d7a4e68";

/// [`CLUSTER_TOKEN`] as the schedulers' and agents' library configurations take it.
pub fn cluster_auth() -> crony_common::cluster_auth::ClusterAuth {
    let token = crony_common::cluster_auth::ClusterToken::parse(CLUSTER_TOKEN)
        .expect("the test cluster token is valid");
    crony_common::cluster_auth::ClusterAuth::Token(token)
}

/// An HTTP client that presents [`ADMIN_TOKEN`] on every request (a request's own
/// `Authorization` header wins).
pub fn api_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {ADMIN_TOKEN}"))
            .expect("the test token is a valid header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a reqwest client builds")
}

/// A name unique within this machine's test runs: `{tag}_{pid}_{n}`, usable as a database
/// name and inside an etcd prefix.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// The etcd shared by the tests of one test binary (each test uses its own prefix).
pub fn shared_etcd() -> &'static Etcd {
    static ETCD: OnceLock<Etcd> = OnceLock::new();
    ETCD.get_or_init(|| {
        let etcd = Etcd::start().unwrap_or_else(|e| panic!("cannot start etcd: {e:#}"));
        process::remove_at_exit(etcd.dir());
        etcd
    })
}

/// The MariaDB shared by the tests of one test binary (each test uses its own database).
pub fn shared_mariadb() -> &'static MariaDb {
    static DB: OnceLock<MariaDb> = OnceLock::new();
    DB.get_or_init(|| {
        let db = MariaDb::start().unwrap_or_else(|e| panic!("cannot start MariaDB: {e:#}"));
        process::remove_at_exit(db.dir());
        db
    })
}

/// Logs of in-process schedulers go to the test output (shown for failing tests).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
}
