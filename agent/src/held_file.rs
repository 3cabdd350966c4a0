//! How the held jobs are kept on disk: a snapshot (`held-jobs.pb`) plus an append-only log of
//! the changes since (`held-jobs.log`), so a one-job push appends one small record instead of
//! rewriting tens of thousands of jobs. Every write is fsynced; a crash leaves at worst a torn
//! last record, which loading ignores.
//!
//! The snapshot is a `HeldState` (older agents' files read as they are) with one extra field,
//! the id of the log that continues it; the log starts with a header naming that id. A log
//! whose header names another id is left over from before the last snapshot and is ignored.
//! Log records are framed as `[u32 LE length][Change][u32 LE crc32 of Change]`.
//!
//! Jobs are kept here as the `JobSpec`s they arrived as; [`crate::holdings`] converts them.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crony_proto::v1::JobSpec;
use prost::Message;
use prost::encoding;

const SNAPSHOT: &str = "held-jobs.pb";
const LOG: &str = "held-jobs.log";
/// The log is folded into a new snapshot once it is larger than the snapshot and than this.
const MIN_COMPACT_BYTES: u64 = 1024 * 1024;
/// Field number of the log id in the snapshot, far from `HeldState`'s own fields.
const LOG_ID_FIELD: u32 = 15;

/// The snapshot as read: `HeldState` plus the id of its log.
#[derive(Clone, PartialEq, prost::Message)]
struct Snapshot {
    #[prost(uint64, tag = "1")]
    term: u64,
    #[prost(uint64, tag = "2")]
    generation: u64,
    #[prost(message, repeated, tag = "3")]
    jobs: Vec<JobSpec>,
    #[prost(uint64, tag = "15")]
    log_id: u64,
}

/// One log record: the header (only `log_id`), or a change with the term and generation it
/// left in force.
#[derive(Clone, PartialEq, prost::Message)]
struct Change {
    #[prost(uint64, tag = "1")]
    term: u64,
    #[prost(uint64, tag = "2")]
    generation: u64,
    #[prost(message, repeated, tag = "3")]
    upsert: Vec<JobSpec>,
    #[prost(string, repeated, tag = "4")]
    remove: Vec<String>,
    #[prost(uint64, tag = "5")]
    log_id: u64,
}

/// What was held when the agent last stopped.
#[derive(Debug, Default)]
pub struct Loaded {
    pub term: u64,
    pub generation: u64,
    pub jobs: BTreeMap<String, JobSpec>,
}

#[derive(Debug)]
pub struct HeldFile {
    dir: PathBuf,
    /// Open for appending, positioned after the last good record; `None` until a snapshot
    /// made a log that continues it (then every change writes a snapshot).
    log: Option<File>,
    log_id: u64,
    log_len: u64,
    snapshot_len: u64,
}

/// One change, encoded for [`HeldFile::append`]; each upserted spec is encoded as it comes.
pub fn encode_change(
    term: u64,
    generation: u64,
    upsert: impl IntoIterator<Item = JobSpec>,
    remove: &[String],
) -> Vec<u8> {
    let mut buf = Vec::new();
    encoding::uint64::encode(1, &term, &mut buf);
    encoding::uint64::encode(2, &generation, &mut buf);
    for job in upsert {
        encoding::message::encode(3, &job, &mut buf);
    }
    for id in remove {
        encoding::string::encode(4, id, &mut buf);
    }
    buf
}

impl HeldFile {
    /// Reads the snapshot and replays the log over it. Anything unreadable is dropped with a
    /// warning (the scheduler's next sync restores the truth either way); a log that cannot
    /// be continued is replaced by a fresh snapshot.
    pub fn open(dir: &Path) -> (Self, Loaded) {
        let mut file = HeldFile {
            dir: dir.to_owned(),
            log: None,
            log_id: 0,
            log_len: 0,
            snapshot_len: 0,
        };
        let mut loaded = Loaded::default();
        let snapshot_path = dir.join(SNAPSHOT);
        match std::fs::read(&snapshot_path) {
            Ok(bytes) => match Snapshot::decode(bytes.as_slice()) {
                Ok(s) => {
                    file.snapshot_len = bytes.len() as u64;
                    file.log_id = s.log_id;
                    loaded.term = s.term;
                    loaded.generation = s.generation;
                    loaded.jobs = s.jobs.into_iter().map(|j| (j.id.clone(), j)).collect();
                }
                Err(e) => {
                    tracing::warn!(path = %snapshot_path.display(), error = %e, "ignoring unreadable held jobs");
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %snapshot_path.display(), error = %e, "cannot read held jobs");
            }
        }
        if file.log_id != 0 {
            file.log = file.replay(&mut loaded);
        }
        if file.log.is_none()
            && let Err(e) = file.snapshot(
                loaded.term,
                loaded.generation,
                loaded.jobs.values().cloned(),
            )
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write held jobs; every change will try again");
        }
        (file, loaded)
    }

    /// Appends one change (from [`encode_change`]) and fsyncs it. Without a usable log, or
    /// after a failed append, the caller writes a snapshot instead.
    pub fn append(&mut self, change: &[u8]) -> io::Result<()> {
        let Some(log) = self.log.as_mut() else {
            return Err(io::Error::other("no log to append to"));
        };
        let mut frame = Vec::with_capacity(change.len() + 8);
        frame.extend_from_slice(&(change.len() as u32).to_le_bytes());
        frame.extend_from_slice(change);
        frame.extend_from_slice(&crc32fast::hash(change).to_le_bytes());
        let written = log.write_all(&frame).and_then(|()| log.sync_data());
        if let Err(e) = written {
            // Cut off whatever part of the record reached the file, so the next record is
            // not written behind garbage; if even that fails, only a snapshot is safe.
            if log.set_len(self.log_len).is_err() {
                self.log = None;
            }
            return Err(e);
        }
        self.log_len += frame.len() as u64;
        Ok(())
    }

    pub fn has_log(&self) -> bool {
        self.log.is_some()
    }

    /// The log has outgrown the snapshot: folding it in is cheaper than replaying it.
    pub fn should_compact(&self) -> bool {
        self.log_len > self.snapshot_len.max(MIN_COMPACT_BYTES)
    }

    /// Writes the whole state as a new snapshot and starts an empty log after it: temp file,
    /// fsync, rename, fsync of the directory, then the new log's header.
    pub fn snapshot(
        &mut self,
        term: u64,
        generation: u64,
        jobs: impl Iterator<Item = JobSpec>,
    ) -> io::Result<()> {
        let log_id = loop {
            let id = rand::random::<u64>();
            if id != 0 && id != self.log_id {
                break id;
            }
        };
        let path = self.dir.join(SNAPSHOT);
        let tmp = self.dir.join(format!("{SNAPSHOT}.tmp"));
        // Streamed one job at a time: tens of thousands of jobs are never encoded into one
        // buffer next to the jobs themselves.
        let mut out = BufWriter::new(File::create(&tmp)?);
        let mut buf = Vec::new();
        let mut written = 0;
        let mut put = |buf: &mut Vec<u8>, out: &mut BufWriter<File>| {
            written += buf.len() as u64;
            let result = out.write_all(buf);
            buf.clear();
            result
        };
        encoding::uint64::encode(1, &term, &mut buf);
        encoding::uint64::encode(2, &generation, &mut buf);
        put(&mut buf, &mut out)?;
        for job in jobs {
            encoding::message::encode(3, &job, &mut buf);
            put(&mut buf, &mut out)?;
        }
        encoding::uint64::encode(LOG_ID_FIELD, &log_id, &mut buf);
        put(&mut buf, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        // From here on the old log is stale (its header names the old id): until the new one
        // exists, nothing may be appended to it.
        self.log = None;
        self.log_id = log_id;
        self.snapshot_len = written;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(LOG))?;
        // One directory fsync makes both the rename and a newly created log durable.
        File::open(&self.dir)?.sync_all()?;
        log.set_len(0)?;
        self.log = Some(log);
        self.log_len = 0;
        let header = Change {
            log_id,
            ..Change::default()
        };
        let appended = self.append(&header.encode_to_vec());
        if appended.is_err() {
            self.log = None;
        }
        appended
    }

    /// Applies the log's records to `loaded`; returns the log opened for appending after the
    /// last good record, or `None` if the log does not continue this snapshot.
    fn replay(&mut self, loaded: &mut Loaded) -> Option<File> {
        let path = self.dir.join(LOG);
        let bytes = std::fs::read(&path).ok()?;
        let mut records = Frames(&bytes);
        let header = records.next().and_then(|r| Change::decode(r).ok())?;
        if header.log_id != self.log_id {
            tracing::info!("ignoring a held-jobs log from before the last snapshot");
            return None;
        }
        for record in records.by_ref() {
            let Ok(change) = Change::decode(record) else {
                break;
            };
            loaded.term = change.term;
            loaded.generation = change.generation;
            for id in &change.remove {
                loaded.jobs.remove(id);
            }
            for job in change.upsert {
                loaded.jobs.insert(job.id.clone(), job);
            }
        }
        let good = (bytes.len() - records.0.len()) as u64;
        if good < bytes.len() as u64 {
            tracing::warn!(
                dropped_bytes = bytes.len() as u64 - good,
                "ignoring a torn last record of the held-jobs log"
            );
        }
        let log = OpenOptions::new().append(true).open(&path).ok()?;
        log.set_len(good).ok()?;
        log.sync_data().ok()?;
        self.log_len = good;
        Some(log)
    }
}

/// The intact frames at the start of a log; stops at the first torn or corrupt one, leaving
/// it (and everything after it) in `.0`.
struct Frames<'a>(&'a [u8]);

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(self.0.get(..4)?.try_into().ok()?) as usize;
        let end = len.checked_add(8)?;
        let body = self.0.get(4..end - 4)?;
        let crc = u32::from_le_bytes(self.0.get(end - 4..end)?.try_into().ok()?);
        if crc32fast::hash(body) != crc {
            return None;
        }
        self.0 = &self.0[end..];
        Some(body)
    }
}

#[cfg(test)]
#[path = "held_file_test.rs"]
mod tests;
