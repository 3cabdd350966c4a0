//! The spool's tests: restarts, acknowledgements and torn tails, on a real file.

use std::io::Write;

use super::*;

fn report(id: &str, revision: u32) -> ExecutionReport {
    ExecutionReport {
        execution_id: id.into(),
        job_id: "job".into(),
        revision,
        ..ExecutionReport::default()
    }
}

#[tokio::test]
async fn pending_reports_survive_a_restart_and_acks_stick() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (spool, recovered) = Spool::open(dir.path()).unwrap();
        assert!(recovered.is_empty());
        spool
            .push(vec![report("a", 1), report("b", 1)])
            .await
            .unwrap();
        spool
            .push(vec![report("a", 2), report("c", 1)])
            .await
            .unwrap();
        spool.ack(vec![("b".into(), 1), ("a".into(), 1)]);
        // Acking an older revision keeps the newer snapshot.
        let ids: Vec<_> = spool
            .batch(10)
            .into_iter()
            .map(|r| r.execution_id)
            .collect();
        assert_eq!(ids, ["a", "c"]);
        // Push once more so the ack records are flushed behind it.
        spool.push(vec![report("d", 1)]).await.unwrap();
    }
    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    let got: Vec<_> = recovered
        .iter()
        .map(|r| (r.execution_id.as_str(), r.revision))
        .collect();
    assert_eq!(got, [("a", 2), ("c", 1), ("d", 1)]);
    assert_eq!(spool.depth(), 3);
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_writing_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (spool, _) = Spool::open(dir.path()).unwrap();
        spool.push(vec![report("a", 1)]).await.unwrap();
    }
    let path = dir.path().join(FILE);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
    drop(file);
    {
        let (spool, recovered) = Spool::open(dir.path()).unwrap();
        assert_eq!(recovered.len(), 1);
        spool.push(vec![report("b", 1)]).await.unwrap();
    }
    let (_, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(recovered.len(), 2);
}

fn big_report(n: usize) -> ExecutionReport {
    ExecutionReport {
        execution_id: format!("big-{n}"),
        job_id: "j".into(),
        output: "x".repeat(4096),
        ..ExecutionReport::default()
    }
}

/// 24 MiB pending and never acked: past 16 MiB the log was once rewritten whole on every
/// write (about 2,000 rewrites of 16+ MiB here); now it waits for the log to double.
#[tokio::test]
async fn compaction_stays_rare_while_reports_pile_up() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path()).unwrap();
    for chunk in (0..6_000).collect::<Vec<_>>().chunks(50) {
        let reports = chunk.iter().map(|n| big_report(*n)).collect();
        spool.push_written(reports).await.unwrap();
    }
    assert_eq!(spool.depth(), 6_000);
    assert!(
        spool.compactions() <= 2,
        "{} compactions",
        spool.compactions()
    );
    drop(spool);
    let (_, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(
        recovered.len(),
        6_000,
        "every pending report survives compaction"
    );
}

#[tokio::test]
async fn the_spool_is_full_at_its_bound_and_frees_with_acks() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open_with_limit(dir.path(), 64 * 1024).unwrap();
    let reports: Vec<_> = (0..20).map(big_report).collect();
    spool.push_written(reports.clone()).await.unwrap();
    assert!(spool.is_full(), "{} bytes pending", spool.pending_bytes());
    spool.ack(
        reports
            .iter()
            .map(|r| (r.execution_id.clone(), 0))
            .collect(),
    );
    assert_eq!(spool.pending_bytes(), 0);
    assert!(!spool.is_full());
}
