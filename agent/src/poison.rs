//! Reports a scheduler keeps refusing (it cannot read them) are set aside, so they do not
//! hold the head of the spool forever: after [`SET_ASIDE_AFTER`] refusals in answers that
//! acknowledged others, a report is appended to `set-aside.jsonl` in the data dir, with a
//! metric and a log line, and dropped from the spool.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crony_proto::v1::ExecutionReport;
use prost::Message;

/// Refusals before a report is set aside. A scheduler of another version may refuse what a
/// newer one reads, so one refusal is not enough; the agent tries other schedulers too.
pub const SET_ASIDE_AFTER: u32 = 3;

/// The file set-aside reports go to, one JSON object per line.
pub fn set_aside_path(data_dir: &Path) -> PathBuf {
    data_dir.join("set-aside.jsonl")
}

/// Counts, per execution id, answers in which a scheduler stored a batch but refused it.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: HashMap<String, u32>,
}

impl Refusals {
    /// Notes one answered batch: `sent` ids, of which `acked` were stored. Returns the ids
    /// refused [`SET_ASIDE_AFTER`] times, to set aside (and forgets them).
    pub fn note(&mut self, sent: &[(String, u32)], acked: &HashSet<String>) -> Vec<String> {
        let mut poison = Vec::new();
        for (id, _) in sent {
            if acked.contains(id) {
                self.counts.remove(id);
                continue;
            }
            let n = self.counts.entry(id.clone()).or_default();
            *n += 1;
            if *n >= SET_ASIDE_AFTER {
                self.counts.remove(id);
                poison.push(id.clone());
            }
        }
        poison
    }
}

/// Appends `reports` to the set-aside file (fsynced: they leave the spool after this).
pub fn write(path: &Path, reports: &[ExecutionReport]) -> std::io::Result<()> {
    let mut lines = String::new();
    for r in reports {
        let line = serde_json::json!({
            "execution_id": r.execution_id,
            "job_id": r.job_id,
            "scheduled_at_ms": r.scheduled_at_ms,
            "status": r.status,
            "revision": r.revision,
            "refused": SET_ASIDE_AFTER,
            "report_proto_hex": hex(&r.encode_to_vec()),
        });
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(lines.as_bytes())?;
    file.sync_all()
}

/// Lower-case hex. Hand-written: four lines, for a file read by people and `xxd -r -p`,
/// not worth a dependency.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(ids: &[&str]) -> Vec<(String, u32)> {
        ids.iter().map(|id| ((*id).to_owned(), 0)).collect()
    }

    #[test]
    fn a_report_refused_three_times_is_set_aside_and_an_acked_one_never() {
        let mut r = Refusals::default();
        let acked: HashSet<String> = ["good".to_owned()].into();
        let batch = sent(&["bad", "good"]);
        assert!(r.note(&batch, &acked).is_empty());
        assert!(r.note(&batch, &acked).is_empty());
        assert_eq!(r.note(&batch, &acked), ["bad"]);
        // Counting starts again: it was forgotten once set aside.
        assert!(r.note(&batch, &acked).is_empty());
    }

    #[test]
    fn an_ack_resets_the_count() {
        let mut r = Refusals::default();
        let none = HashSet::new();
        let batch = sent(&["flaky"]);
        r.note(&batch, &none);
        r.note(&batch, &none);
        r.note(&batch, &["flaky".to_owned()].into());
        assert!(r.note(&batch, &none).is_empty());
        assert!(r.note(&batch, &none).is_empty());
        assert_eq!(r.note(&batch, &none), ["flaky"]);
    }

    #[test]
    fn set_aside_reports_are_readable_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = set_aside_path(dir.path());
        let report = ExecutionReport {
            execution_id: "e1".into(),
            job_id: "not a job".into(),
            ..ExecutionReport::default()
        };
        write(&path, std::slice::from_ref(&report)).unwrap();
        write(&path, &[report]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["execution_id"], "e1");
        assert_eq!(line["job_id"], "not a job");
        assert!(line["report_proto_hex"].as_str().unwrap().len() > 4);
    }
}
