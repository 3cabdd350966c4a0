//! Tests of `AgentService` on a real clock, runner, spool and holdings (no network): chunked
//! syncs, generations on deltas, and the fired-through answer of `Remove`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crony_proto::v1::{ExecutionStatus, JobSpec, Misfire};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::clock::Clock;
use crate::executor::Executors;
use crate::metrics::Metrics;
use crate::schedulers::SchedulerDirectory;
use crate::spool::Spool;

struct Harness {
    service: AgentServiceImpl,
    spool: Spool,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let fence = Arc::new(Fence::default());
    fence.new_lease();
    fence.confirm(crony_common::lease::Sent::now(), Duration::from_secs(600));
    let (spool, _) = Spool::open(dir.path()).unwrap();
    // Nothing listens there: the runner only asks the directory for report URLs.
    let etcd = etcd_client::Client::connect(["http://127.0.0.1:9"], None)
        .await
        .unwrap();
    let (finished_tx, finished_rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = Arc::new(Runner::new(
        "agent".into(),
        Executors::new(false),
        spool.clone(),
        None,
        Arc::new(SchedulerDirectory::new(etcd, "/t".into())),
        fence.clone(),
        Arc::new(Metrics::new()),
        finished_tx,
    ));
    let stop = CancellationToken::new();
    let (clock, _) = Clock::new(runner.clone(), fence.clone()).spawn(finished_rx, stop.clone());
    let service = AgentServiceImpl::new(
        AgentInfo::default(),
        fence,
        Arc::new(AtomicI64::new(42)),
        Arc::new(Holdings::load(dir.path())),
        clock,
        runner,
    );
    Harness {
        service,
        spool,
        stop,
        _dir: dir,
    }
}

fn job(id: &str, schedule: &str) -> JobSpec {
    JobSpec {
        schedule: schedule.into(),
        ..crate::job::fixture::spec(id)
    }
}

fn sync(term: u64, generation: u64, chunk: u32, more: bool, ids: &[&str]) -> SyncRequest {
    SyncRequest {
        term,
        generation,
        jobs: ids.iter().map(|id| job(id, "@every 1h")).collect(),
        chunk,
        more,
    }
}

async fn held(h: &Harness) -> Vec<String> {
    let listed = h.service.list_held(Request::new(ListHeldRequest {})).await;
    listed
        .unwrap()
        .into_inner()
        .jobs
        .into_iter()
        .map(|j| j.job_id)
        .collect()
}

#[tokio::test]
async fn a_chunked_sync_applies_the_whole_set_with_its_last_chunk() {
    let h = harness().await;
    let first = h.service.sync(Request::new(sync(1, 3, 0, false, &["x"])));
    assert_eq!(first.await.unwrap().into_inner().generation, 3);
    let pending = h.service.sync(Request::new(sync(1, 4, 0, true, &["a"])));
    assert_eq!(
        pending.await.unwrap().into_inner().generation,
        3,
        "not applied yet"
    );
    assert_eq!(held(&h).await, ["x"]);
    let gap = h.service.sync(Request::new(sync(1, 4, 2, false, &["c"])));
    let gap = gap.await.unwrap_err();
    assert_eq!(gap.code(), tonic::Code::FailedPrecondition);
    assert!(
        gap.message().contains("expected chunk 1"),
        "{}",
        gap.message()
    );
    let more = h.service.sync(Request::new(sync(1, 4, 1, true, &["b"])));
    more.await.unwrap();
    let last = h.service.sync(Request::new(sync(1, 4, 2, false, &["c"])));
    assert_eq!(last.await.unwrap().into_inner().generation, 4);
    assert_eq!(held(&h).await, ["a", "b", "c"]);
    let stale = h.service.sync(Request::new(sync(0, 5, 0, false, &[])));
    assert_eq!(
        stale.await.unwrap_err().code(),
        tonic::Code::FailedPrecondition
    );
    h.stop.cancel();
}

/// A job the agent cannot use refuses the whole push, naming the job and the field, and
/// changes nothing; a refused chunk ends the sync it belonged to.
#[tokio::test]
async fn a_push_with_an_unusable_job_is_refused_naming_the_field() {
    let h = harness().await;
    h.service
        .sync(Request::new(sync(1, 3, 0, false, &["a"])))
        .await
        .unwrap();
    let mut bad = job("b", "@every 1h");
    bad.timezone = "Mars/Olympus".into();
    let assign = AssignRequest {
        term: 1,
        jobs: vec![job("c", "@every 1h"), bad.clone()],
        generation: 4,
    };
    let refused = h.service.assign(Request::new(assign)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("\"b\"") && refused.message().contains("timezone"),
        "{}",
        refused.message()
    );
    assert_eq!(held(&h).await, ["a"], "nothing of the push was taken");

    h.service
        .sync(Request::new(sync(1, 5, 0, true, &["x"])))
        .await
        .unwrap();
    let mut chunk = sync(1, 5, 1, true, &["y"]);
    chunk.jobs.push(bad);
    let refused = h.service.sync(Request::new(chunk)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let after = h.service.sync(Request::new(sync(1, 5, 2, false, &["z"])));
    let after = after.await.unwrap_err();
    assert!(
        after.message().contains("expected chunk 0"),
        "{}",
        after.message()
    );
    assert_eq!(held(&h).await, ["a"]);
    h.stop.cancel();
}

#[tokio::test]
async fn deltas_with_a_generation_are_acknowledged_with_it() {
    let h = harness().await;
    h.service
        .sync(Request::new(sync(1, 3, 0, false, &["a"])))
        .await
        .unwrap();
    let assign = AssignRequest {
        term: 1,
        jobs: vec![job("b", "@every 1h")],
        generation: 4,
    };
    let assigned = h.service.assign(Request::new(assign)).await.unwrap();
    assert_eq!(assigned.into_inner().generation, 4);
    let remove = RemoveRequest {
        term: 1,
        job_ids: vec!["a".into(), "never-held".into()],
        generation: 0,
    };
    let removed = h.service.remove(Request::new(remove)).await.unwrap();
    let removed = removed.into_inner();
    assert_eq!(removed.generation, 4, "0 keeps the generation");
    let released: Vec<&str> = removed.released.iter().map(|r| r.job_id.as_str()).collect();
    assert_eq!(
        released,
        ["a"],
        "a job neither held nor fired is not answered"
    );
    assert_eq!(removed.released[0].fired_through_ms, 0, "it never fired");
    h.stop.cancel();
}

/// Every instant the agent started or recorded for `job` (its spooled reports).
fn fired(spool: &Spool, job: &str) -> Vec<DateTime<Utc>> {
    let mut at: Vec<_> = spool
        .batch(100_000)
        .into_iter()
        .filter(|r| r.job_id == job && r.status != ExecutionStatus::Skipped as i32)
        .filter_map(|r| DateTime::from_timestamp_millis(r.scheduled_at_ms))
        .collect();
    at.sort();
    at.dedup();
    at
}

/// The first phase of a move: once `Remove` has answered, nothing fires at an instant later
/// than the one it answered, and that instant is the newest the agent fired.
#[tokio::test]
async fn nothing_fires_after_the_instant_remove_answers() {
    let h = harness().await;
    let assign = AssignRequest {
        term: 1,
        jobs: vec![job("j", "* * * * * *")],
        generation: 1,
    };
    h.service.assign(Request::new(assign)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert!(
        !fired(&h.spool, "j").is_empty(),
        "the job fires every second"
    );
    // Block the runtime's only thread past the next instant: when Remove reaches the clock,
    // that instant's timer is overdue too.
    let now = Utc::now();
    let next_second = 1_000 - i64::from(now.timestamp_subsec_millis()) + 150;
    std::thread::sleep(Duration::from_millis(next_second as u64));
    let remove = RemoveRequest {
        term: 1,
        job_ids: vec!["j".into()],
        generation: 2,
    };
    let removed = h.service.remove(Request::new(remove)).await.unwrap();
    let released = removed.into_inner().released;
    assert_eq!(released.len(), 1);
    let through = DateTime::from_timestamp_millis(released[0].fired_through_ms).unwrap();
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let fired = fired(&h.spool, "j");
    assert_eq!(
        fired.last(),
        Some(&through),
        "answered {through}, fired {fired:?}"
    );
    h.stop.cancel();
}

/// The second phase of a move: the old owner fired through `resume_after`; the new owner runs
/// the instant after it (300 ms late, within the grace) even under `skip`, and nothing at or
/// before it, neither run nor recorded missed.
#[tokio::test]
async fn a_moved_job_resumes_strictly_after_the_old_owners_instant() {
    let h = harness().await;
    // Arm 300 ms after a whole second X; the old owner fired through X - 1 s.
    let now = Utc::now();
    let wait = (1_300 - i64::from(now.timestamp_subsec_millis())) % 1_000;
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    let now = Utc::now();
    let x = now.timestamp_millis() - i64::from(now.timestamp_subsec_millis());
    let mut moved = job("m", "* * * * * *");
    moved.misfire = Misfire::Skip as i32;
    moved.misfire_since_ms = x - 10_000;
    moved.resume_after_ms = x - 1_000;
    let assign = AssignRequest {
        term: 1,
        jobs: vec![moved],
        generation: 1,
    };
    h.service.assign(Request::new(assign)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reports = h.spool.batch(100_000);
    let of_m: Vec<_> = reports.iter().filter(|r| r.job_id == "m").collect();
    assert!(
        of_m.iter().all(|r| r.scheduled_at_ms > x - 1_000),
        "nothing at or before resume_after: {of_m:?}"
    );
    assert!(
        of_m.iter()
            .all(|r| r.status != ExecutionStatus::Missed as i32),
        "the instant within the grace is not missed: {of_m:?}"
    );
    assert!(
        of_m.iter().any(|r| r.scheduled_at_ms == x),
        "the instant after resume_after ran: {of_m:?}"
    );
    h.stop.cancel();
}

/// Hands `job` to the agent as an orphan (an `Assign` under term 1).
async fn assign(h: &Harness, job: JobSpec) {
    let assign = AssignRequest {
        term: 1,
        jobs: vec![job],
        generation: 1,
    };
    h.service.assign(Request::new(assign)).await.unwrap();
}

/// What the spool holds for `job` once `done` says it is complete (10 s at most).
async fn reports_of(
    h: &Harness,
    job: &str,
    done: impl Fn(&[crony_proto::v1::ExecutionReport]) -> bool,
) -> Vec<crony_proto::v1::ExecutionReport> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let of_job: Vec<_> = h
            .spool
            .batch(100_000)
            .into_iter()
            .filter(|r| r.job_id == job)
            .collect();
        if done(&of_job) {
            return of_job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the spool never held what was expected of {job}: {} reports",
            of_job.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A job placed after its owner's lease ended unconfirmed: the instants that owner may have
/// started (up to `uncertain_through`) are recorded `lost` under their derived ids and never
/// run; the newest instant after that runs once under `fire_once`.
#[tokio::test]
async fn instants_a_dead_owner_may_have_started_are_recorded_lost_not_run() {
    let h = harness().await;
    let now = Utc::now();
    let x = now.timestamp_millis() - i64::from(now.timestamp_subsec_millis());
    let mut orphan = job("o", "* * * * * *");
    orphan.misfire = Misfire::FireOnce as i32;
    orphan.misfire_since_ms = x - 10_000;
    orphan.uncertain_through_ms = x - 3_000;
    assign(&h, orphan).await;
    let of_o = reports_of(&h, "o", |of_o| {
        let lost = of_o
            .iter()
            .filter(|r| r.status == ExecutionStatus::Lost as i32)
            .count();
        let ran = of_o
            .iter()
            .any(|r| r.started_at_ms > 0 && r.scheduled_at_ms > x - 3_000);
        lost == 7 && ran
    })
    .await;
    for r in of_o.iter().filter(|r| r.scheduled_at_ms <= x - 3_000) {
        let at = DateTime::from_timestamp_millis(r.scheduled_at_ms).unwrap();
        assert_eq!(r.status, ExecutionStatus::Lost as i32, "{r:?}");
        assert_eq!(r.started_at_ms, 0, "never started here: {r:?}");
        assert_eq!(r.execution_id, crony_common::unrun::unknown_id("o", at));
    }
    // x − 2 s and x − 1 s were due too: fire_once runs only the newest (x or, on a slow
    // machine, a later one); later runs are the timer's own.
    let runs: Vec<_> = of_o.iter().filter(|r| r.started_at_ms > 0).collect();
    assert!(
        !runs.is_empty() && runs.iter().all(|r| r.scheduled_at_ms >= x),
        "fire_once runs the newest due instant only: {runs:?}"
    );
    h.stop.cancel();
}

/// 3,000 instants due when an orphan arrives: `fire_once` runs the newest one; the newest
/// 1,000 are recorded one by one and one summary record stands for the 2,000 before them.
#[tokio::test]
async fn a_gap_beyond_the_cap_runs_the_newest_and_summarises_the_oldest() {
    let h = harness().await;
    let now = Utc::now();
    let x = now.timestamp_millis() - i64::from(now.timestamp_subsec_millis());
    let mut orphan = job("g", "* * * * * *");
    orphan.misfire = Misfire::FireOnce as i32;
    orphan.misfire_since_ms = x - 3_000_000;
    assign(&h, orphan).await;
    let of_g = reports_of(&h, "g", |of_g| {
        let missed = of_g
            .iter()
            .filter(|r| r.status == ExecutionStatus::Missed as i32)
            .count();
        missed >= crate::catch_up::MISSED_CAP && of_g.iter().any(|r| r.started_at_ms > 0)
    })
    .await;
    let first_run = of_g
        .iter()
        .filter(|r| r.started_at_ms > 0)
        .map(|r| r.scheduled_at_ms)
        .min()
        .unwrap();
    assert!(
        first_run >= x - 2_000,
        "fire_once ran {} s before the newest due instant, not the newest",
        (x - first_run) / 1000
    );
    let summary: Vec<_> = of_g
        .iter()
        .filter(|r| r.error.contains("this record stands for"))
        .collect();
    assert_eq!(summary.len(), 1, "one summary record");
    assert_eq!(summary[0].scheduled_at_ms, x - 2_999_000);
    assert!(
        summary[0].error.contains("instants from"),
        "{}",
        summary[0].error
    );
    h.stop.cancel();
}
