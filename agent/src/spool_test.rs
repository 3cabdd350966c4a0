//! The spool's tests: restarts, acknowledgements and torn tails, on a real file.

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
