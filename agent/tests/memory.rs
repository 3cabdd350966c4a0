//! The agent's memory holding 25,000 realistic HTTP jobs (design §10: ≤ 150 MiB RSS), pushed
//! through the service, the holdings and the clock as the leader would push them. Ignored by
//! default (it measures, and wants a process of its own):
//! `cargo test -p crony-agent --release --test memory -- --ignored --nocapture`.
//!
//! The jobs use 60 schedule patterns, as jobs of one kind do. `CRONY_MEMORY_DISTINCT=1` gives
//! every job a pattern of its own instead: the worst case for parsed schedules (croner keeps
//! ~5.8 KB per pattern, so only a bounded cache of them is kept), held to the same target.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use crony_agent::clock::Clock;
use crony_agent::executor::Executors;
use crony_agent::holdings::Holdings;
use crony_agent::metrics::Metrics;
use crony_agent::registration::Fence;
use crony_agent::runner::Runner;
use crony_agent::schedulers::SchedulerDirectory;
use crony_agent::service::AgentServiceImpl;
use crony_agent::spool::Spool;
use crony_proto::v1::agent_service_server::AgentService;
use crony_proto::v1::{
    AgentInfo, AssignRequest, HttpTarget, JobSpec, Misfire, Overlap, RemoveRequest, RetryPolicy,
    SyncRequest, Target, target,
};
use prost::Message;
use tonic::Request;

const JOBS: usize = 25_000;
const TARGET_MIB: f64 = 150.0;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Job `i`; `misfire_since_ms` is what the leader sends: the newest instant recorded for the
/// job, which moves on between two syncs of an agent.
fn http_job(i: usize, misfire_since_ms: i64) -> JobSpec {
    let schedule = if std::env::var_os("CRONY_MEMORY_DISTINCT").is_some() {
        format!("{} {} {} * * *", i % 60, (i / 60) % 60, (i / 3600) % 24)
    } else {
        format!("{} */2 * * *", i % 60)
    };
    JobSpec {
        id: format!("0193a5c1-7e2b-7c3d-9f4e-{i:012}"),
        name: format!("billing-invoice-reminder-{i}"),
        schedule,
        timezone: "Europe/Berlin".into(),
        enabled: true,
        target: Some(Target {
            kind: Some(target::Kind::Http(HttpTarget {
                method: "POST".into(),
                url: format!("https://billing.internal.example.com/api/v2/reminders/{i}/send"),
                headers: [
                    ("content-type".to_owned(), "application/json".to_owned()),
                    (
                        "authorization".to_owned(),
                        format!("Bearer sk_live_{i:08}_5f2d9c0a7b3e41d6a8c2f0e9b7d4a1c3"),
                    ),
                ]
                .into(),
                body: format!(
                    r#"{{"customer":"cus_{i:08}","template":"invoice-reminder","locale":"de-DE","channels":["email","sms"],"retry":true}}"#
                ),
                success_status: 0,
            })),
        }),
        payload: format!(r#"{{"tenant":"t-{}","batch":{}}}"#, i % 97, i % 13),
        timeout_secs: 30,
        retry: Some(RetryPolicy {
            max_retries: 3,
            backoff: 2,
            initial_secs: 5,
            max_secs: 300,
        }),
        overlap: Overlap::Skip as i32,
        misfire: Misfire::FireOnce as i32,
        async_timeout_secs: 3600,
        assignment_epoch: 1 + i as u64 % 7,
        updated_at_ms: 1_764_000_000_000 + i as i64,
        misfire_since_ms,
        resume_after_ms: 0,
        uncertain_through_ms: 0,
        every_anchor_ms: 1_764_000_000_000,
        busy_until_ms: 0,
    }
}

#[test]
#[ignore = "measures memory; run it alone with --release --ignored --nocapture"]
fn rss_holding_25000_http_jobs() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let fence = Arc::new(Fence::default());
        fence.new_lease();
        fence.confirm(crony_common::lease::Sent::now(), Duration::from_secs(3600));
        let (spool, _) = Spool::open(dir.path()).unwrap();
        let etcd = etcd_client::Client::connect(["http://127.0.0.1:9"], None)
            .await
            .unwrap();
        let (finished_tx, finished_rx) = tokio::sync::mpsc::unbounded_channel();
        let runner = Arc::new(Runner::new(
            "agent".into(),
            Executors::new(false),
            spool,
            None,
            Arc::new(SchedulerDirectory::new(etcd, "/t".into())),
            fence.clone(),
            Arc::new(Metrics::new()),
            finished_tx,
        ));
        let stop = tokio_util::sync::CancellationToken::new();
        let (clock, _) = Clock::new(runner.clone(), fence.clone()).spawn(finished_rx, stop.clone());
        let holdings = Arc::new(Holdings::load(dir.path()));
        let service = AgentServiceImpl::new(
            AgentInfo::default(),
            fence,
            Arc::new(AtomicI64::new(1)),
            holdings.clone(),
            clock,
            runner,
        );
        let baseline = rss_mib();

        // What the leader sends when the agent connects, then again when it reconnects: by
        // then every job's newest recorded instant moved on, so no pushed spec equals the held
        // one and the whole set is new while the old one is still held.
        let first_since = chrono::Utc::now().timestamp_millis() - 60_000;
        let wire_mib = sync_in_chunks(&service, 1, first_since).await;
        settle(&service).await;
        let synced = rss_mib();
        sync_in_chunks(&service, 2, first_since + 30_000).await;
        for i in 0..1_000 {
            let mut job = http_job(i, first_since + 30_000);
            job.updated_at_ms += 1;
            let assign = AssignRequest {
                term: 1,
                jobs: vec![job],
                generation: 3 + i as u64,
            };
            service.assign(Request::new(assign)).await.unwrap();
        }
        settle(&service).await;
        let resynced = rss_mib();
        assert_eq!(holdings.len(), JOBS);
        println!(
            "RSS holding {JOBS} HTTP jobs ({wire_mib:.1} MiB on the wire): baseline {baseline:.1} MiB, \
             after the sync {synced:.1} MiB, after a resync and 1,000 assigns {resynced:.1} MiB"
        );
        stop.cancel();
        assert!(synced <= TARGET_MIB, "{synced:.1} MiB after the sync");
        assert!(resynced <= TARGET_MIB, "{resynced:.1} MiB after the resync");
    });
}

/// Sends all the jobs as the leader does: chunks of at most `PUSH_CHUNK_BYTES`, each decoded
/// from bytes just before it is handled, as gRPC would. Returns the MiB sent.
async fn sync_in_chunks(service: &AgentServiceImpl, generation: u64, since_ms: i64) -> f64 {
    let mut sent = 0;
    let mut chunk = 0;
    let mut jobs = (0..JOBS).map(|i| http_job(i, since_ms)).peekable();
    while jobs.peek().is_some() {
        let mut request = SyncRequest {
            term: 1,
            generation,
            chunk,
            ..SyncRequest::default()
        };
        let mut bytes = 0;
        while let Some(job) = jobs.next_if(|_| bytes < crony_proto::PUSH_CHUNK_BYTES) {
            bytes += job.encoded_len();
            request.jobs.push(job);
        }
        request.more = jobs.peek().is_some();
        let wire = request.encode_to_vec();
        drop(request);
        sent += wire.len();
        let decoded = SyncRequest::decode(wire.as_slice()).unwrap();
        drop(wire);
        service.sync(Request::new(decoded)).await.unwrap();
        chunk += 1;
    }
    sent as f64 / (1024.0 * 1024.0)
}

/// Waits until the clock took in all it was sent: `Remove` answers only once the clock has
/// applied every command before it (here: removing nothing).
async fn settle(service: &AgentServiceImpl) {
    let barrier = RemoveRequest {
        term: 1,
        job_ids: Vec::new(),
        generation: 0,
    };
    service.remove(Request::new(barrier)).await.unwrap();
    // The runtime's other thread may still be freeing what the last push replaced.
    tokio::time::sleep(Duration::from_millis(200)).await;
}
