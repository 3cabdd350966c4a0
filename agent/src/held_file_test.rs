//! Tests of the held-jobs snapshot and log: replay, torn tails, compaction, stale logs.

use super::*;

fn job(id: &str, payload: &str) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: id.into(),
        payload: payload.into(),
        ..JobSpec::default()
    }
}

fn ids(loaded: &Loaded) -> Vec<&str> {
    loaded.jobs.keys().map(String::as_str).collect()
}

fn log_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(LOG)).unwrap().len()
}

fn snapshot_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(SNAPSHOT)).unwrap().len()
}

#[test]
fn many_single_job_changes_append_and_reload() {
    let d = tempfile::tempdir().unwrap();
    let (mut file, _) = HeldFile::open(d.path());
    let jobs: Vec<_> = (0..20).map(|i| job(&format!("j{i:02}"), "x")).collect();
    file.snapshot(1, 1, jobs.into_iter()).unwrap();
    let snapshot = snapshot_len(d.path());
    for i in 20..520 {
        let one = [job(&format!("j{i:03}"), "payload")];
        file.append(&encode_change(1, i, one, &[])).unwrap();
    }
    file.append(&encode_change(2, 600, [], &["j00".into(), "j300".into()]))
        .unwrap();
    assert_eq!(
        snapshot_len(d.path()),
        snapshot,
        "the snapshot is not rewritten"
    );
    let (_, loaded) = HeldFile::open(d.path());
    assert_eq!((loaded.term, loaded.generation), (2, 600));
    assert_eq!(loaded.jobs.len(), 520 - 2);
    assert!(!loaded.jobs.contains_key("j00") && !loaded.jobs.contains_key("j300"));
    assert_eq!(loaded.jobs["j519"].payload, "payload");
}

#[test]
fn a_torn_last_record_is_ignored_and_cut_off() {
    let d = tempfile::tempdir().unwrap();
    let (mut file, _) = HeldFile::open(d.path());
    file.append(&encode_change(1, 1, [job("a", "")], &[]))
        .unwrap();
    file.append(&encode_change(1, 2, [job("b", "")], &[]))
        .unwrap();
    let whole = log_len(d.path());
    file.append(&encode_change(1, 3, [job("c", "")], &[]))
        .unwrap();
    drop(file);
    // The crash happened halfway through the third record.
    let log = OpenOptions::new()
        .write(true)
        .open(d.path().join(LOG))
        .unwrap();
    log.set_len(log_len(d.path()) - 5).unwrap();
    drop(log);
    let (mut file, loaded) = HeldFile::open(d.path());
    assert_eq!(ids(&loaded), ["a", "b"]);
    assert_eq!(loaded.generation, 2);
    assert_eq!(log_len(d.path()), whole, "the torn bytes are gone");
    // A record appended after the cut is read back.
    file.append(&encode_change(1, 4, [job("d", "")], &[]))
        .unwrap();
    let (_, loaded) = HeldFile::open(d.path());
    assert_eq!(ids(&loaded), ["a", "b", "d"]);
}

#[test]
fn a_corrupt_record_ends_the_replay() {
    let d = tempfile::tempdir().unwrap();
    let (mut file, _) = HeldFile::open(d.path());
    file.append(&encode_change(1, 1, [job("a", "")], &[]))
        .unwrap();
    let good = log_len(d.path());
    file.append(&encode_change(1, 2, [job("b", "")], &[]))
        .unwrap();
    drop(file);
    let mut bytes = std::fs::read(d.path().join(LOG)).unwrap();
    let last = bytes.len() - 6;
    bytes[last] ^= 0xff;
    std::fs::write(d.path().join(LOG), &bytes).unwrap();
    let (_, loaded) = HeldFile::open(d.path());
    assert_eq!(ids(&loaded), ["a"]);
    assert_eq!(log_len(d.path()), good);
}

#[test]
fn a_log_that_outgrows_the_snapshot_is_compacted() {
    let d = tempfile::tempdir().unwrap();
    let (mut file, _) = HeldFile::open(d.path());
    let big = "p".repeat(4096);
    let mut i = 0;
    while !file.should_compact() {
        file.append(&encode_change(1, i, [job("same", &big)], &[]))
            .unwrap();
        i += 1;
    }
    assert!(log_len(d.path()) > MIN_COMPACT_BYTES);
    file.snapshot(1, i, [job("same", &big)].into_iter())
        .unwrap();
    assert!(!file.should_compact());
    assert!(log_len(d.path()) < 64, "only the new log's header is left");
    let (_, loaded) = HeldFile::open(d.path());
    assert_eq!(ids(&loaded), ["same"]);
    assert_eq!(loaded.generation, i);
}

#[test]
fn a_log_from_before_the_last_snapshot_is_ignored() {
    let d = tempfile::tempdir().unwrap();
    let (mut file, _) = HeldFile::open(d.path());
    file.append(&encode_change(1, 1, [job("old", "")], &[]))
        .unwrap();
    let stale = std::fs::read(d.path().join(LOG)).unwrap();
    file.snapshot(2, 5, [job("new", "")].into_iter()).unwrap();
    drop(file);
    // A crash after the snapshot's rename but before its log was reset.
    std::fs::write(d.path().join(LOG), stale).unwrap();
    let (_, loaded) = HeldFile::open(d.path());
    assert_eq!(ids(&loaded), ["new"]);
    assert_eq!((loaded.term, loaded.generation), (2, 5));
}

#[test]
fn a_file_of_an_older_agent_is_read() {
    let d = tempfile::tempdir().unwrap();
    let held = crony_proto::v1::HeldState {
        term: 3,
        generation: 9,
        jobs: vec![JobSpec {
            id: "a".into(),
            ..JobSpec::default()
        }],
    };
    std::fs::write(d.path().join(SNAPSHOT), held.encode_to_vec()).unwrap();
    let (mut file, loaded) = HeldFile::open(d.path());
    assert_eq!(ids(&loaded), ["a"]);
    assert_eq!((loaded.term, loaded.generation), (3, 9));
    // It was rewritten with a log to continue it.
    file.append(&encode_change(3, 10, [job("b", "")], &[]))
        .unwrap();
    let (_, loaded) = HeldFile::open(d.path());
    assert_eq!(ids(&loaded), ["a", "b"]);
}
