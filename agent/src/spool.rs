//! The durable spool of execution reports (design §3.4): every snapshot of an execution is
//! appended to `<data dir>/spool.log` and fsynced before the caller goes on, and stays there
//! until a scheduler acknowledges it. A restarted agent reads the log back, so nothing it
//! started is lost while the scheduler or MySQL is away, or across its own restarts.
//!
//! The log is a sequence of records `[len u32][crc32 u32][kind u8][payload]`: kind 1 is an
//! `ExecutionReport`, kind 2 an acknowledgement `(execution id, revision)`. A torn record at the
//! tail (crash mid-write) is cut off on load. When the log grows past [`COMPACT_AT`] and twice
//! its size after the last rewrite, it is rewritten with only the pending reports, through a
//! temp file and a rename (so compaction costs linear time). Past [`MAX_PENDING_BYTES`] of
//! pending reports the spool is full and the agent starts no new runs (back-pressure).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crony_proto::v1::ExecutionReport;
use prost::Message;
use tokio::sync::{Notify, mpsc, oneshot};

use writer::{Writer, fsync_loop};

const FILE: &str = "spool.log";
const KIND_REPORT: u8 = 1;
const KIND_ACK: u8 = 2;
/// Rewrite the log once it is this large (acked records are dead weight).
const COMPACT_AT: u64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot open the spool {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the spool: {0}")]
    Write(String),
}

/// Reports not yet acknowledged, in the order they were first spooled.
#[derive(Debug, Default)]
struct Pending {
    /// execution id → (sequence of first append, newest snapshot)
    reports: HashMap<String, (u64, ExecutionReport)>,
    order: BTreeMap<u64, String>,
    next_seq: u64,
    /// Encoded size of the pending snapshots: what the spool's bound is measured in.
    bytes: u64,
}

impl Pending {
    fn put(&mut self, report: ExecutionReport) {
        match self.reports.get_mut(&report.execution_id) {
            // Keep the queue position: the scheduler sees an execution's snapshots in order.
            Some((_, current)) if current.revision <= report.revision => {
                self.bytes -= current.encoded_len() as u64;
                self.bytes += report.encoded_len() as u64;
                *current = report;
            }
            Some(_) => {}
            None => {
                self.bytes += report.encoded_len() as u64;
                let seq = self.next_seq;
                self.next_seq += 1;
                self.order.insert(seq, report.execution_id.clone());
                self.reports
                    .insert(report.execution_id.clone(), (seq, report));
            }
        }
    }

    /// Drops the execution if the acknowledged revision is still its newest one.
    fn ack(&mut self, id: &str, revision: u32) -> bool {
        if let Some((seq, report)) = self.reports.get(id)
            && report.revision <= revision
        {
            let (seq, size) = (*seq, report.encoded_len() as u64);
            self.order.remove(&seq);
            self.reports.remove(id);
            self.bytes -= size;
            return true;
        }
        false
    }
}

type Done = oneshot::Sender<Result<(), String>>;

enum Op {
    /// Reports to append; `synced` waits for fsync, otherwise only for the write.
    Append {
        reports: Vec<ExecutionReport>,
        synced: bool,
        done: Done,
    },
    Ack(Vec<(String, u32)>),
}

/// What the fsync thread is asked to do, in order.
enum SyncOp {
    /// Fsync, then answer these.
    Sync(Vec<Done>),
    /// Compaction replaced the file: fsync this one from now on.
    NewFile(File),
}

/// Pending reports (encoded) at which the agent stops starting new runs (back-pressure): a
/// week without any scheduler at a few thousand runs an hour, far below any agent's memory.
pub const MAX_PENDING_BYTES: u64 = 256 * 1024 * 1024;

/// Handle to the spool; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    pending: Arc<Mutex<Pending>>,
    ops: mpsc::UnboundedSender<Op>,
    limit: u64,
    compactions: Arc<std::sync::atomic::AtomicU64>,
    /// Woken whenever something new is pending.
    pub wake: Arc<Notify>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("depth", &self.depth())
            .finish()
    }
}

impl Spool {
    /// Opens (or creates) the spool in `data_dir`, returning the reports still pending from
    /// before a restart alongside it.
    pub fn open(data_dir: &Path) -> Result<(Self, Vec<ExecutionReport>), SpoolError> {
        Self::open_with_limit(data_dir, MAX_PENDING_BYTES)
    }

    /// [`Spool::open`], full at `limit` pending bytes instead of [`MAX_PENDING_BYTES`].
    pub fn open_with_limit(
        data_dir: &Path,
        limit: u64,
    ) -> Result<(Self, Vec<ExecutionReport>), SpoolError> {
        let path = data_dir.join(FILE);
        let open_error = |source| SpoolError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut pending = Pending::default();
        let valid_len = match File::open(&path) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).map_err(open_error)?;
                replay(&bytes, &mut pending)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(open_error(e)),
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(open_error)?;
        // Cut a torn tail so new records follow valid ones.
        file.set_len(valid_len).map_err(open_error)?;
        let recovered: Vec<ExecutionReport> = pending
            .order
            .values()
            .filter_map(|id| pending.reports.get(id).map(|(_, r)| r.clone()))
            .collect();
        if !recovered.is_empty() {
            tracing::info!(
                reports = recovered.len(),
                "spool holds reports from before the restart"
            );
        }
        let pending = Arc::new(Mutex::new(pending));
        let (ops, rx) = mpsc::unbounded_channel();
        let wake = Arc::new(Notify::new());
        let sync_file = file.try_clone().map_err(open_error)?;
        let (syncs, sync_rx) = std::sync::mpsc::channel();
        let thread_error = open_error;
        let compactions = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let writer = Writer {
            path: path.clone(),
            file,
            size: valid_len,
            live: valid_len,
            compactions: compactions.clone(),
            torn: false,
            pending: pending.clone(),
            syncs,
        };
        std::thread::Builder::new()
            .name("crony-spool-fsync".into())
            .spawn(move || fsync_loop(sync_file, sync_rx))
            .map_err(|e| SpoolError::Open {
                path: path.display().to_string(),
                source: e,
            })?;
        std::thread::Builder::new()
            .name("crony-spool".into())
            .spawn(move || writer.run(rx))
            .map_err(thread_error)?;
        let spool = Self {
            pending,
            ops,
            limit,
            compactions,
            wake,
        };
        Ok((spool, recovered))
    }

    /// Appends snapshots and returns once they are on disk (fsynced): survives a machine crash.
    pub async fn push(&self, reports: Vec<ExecutionReport>) -> Result<(), SpoolError> {
        self.append(reports, true).await
    }

    /// Appends snapshots and returns once they are written to the file (not yet fsynced):
    /// survives the agent process dying, costs no disk flush. Used before calling a target,
    /// where waiting for a flush would add its latency to every fire.
    pub async fn push_written(&self, reports: Vec<ExecutionReport>) -> Result<(), SpoolError> {
        self.append(reports, false).await
    }

    async fn append(&self, reports: Vec<ExecutionReport>, synced: bool) -> Result<(), SpoolError> {
        let (done, wait) = oneshot::channel();
        self.ops
            .send(Op::Append {
                reports,
                synced,
                done,
            })
            .map_err(|_| SpoolError::Write("spool writer stopped".into()))?;
        let result = wait
            .await
            .map_err(|_| SpoolError::Write("spool writer stopped".into()))?;
        self.wake.notify_one();
        result.map_err(SpoolError::Write)
    }

    /// Up to `max` pending reports, oldest first.
    pub fn batch(&self, max: usize) -> Vec<ExecutionReport> {
        let pending = self.lock();
        pending
            .order
            .values()
            .take(max)
            .filter_map(|id| pending.reports.get(id).map(|(_, r)| r.clone()))
            .collect()
    }

    /// The scheduler stored these `(execution id, revision)`s: forget them.
    pub fn ack(&self, acked: Vec<(String, u32)>) {
        if acked.is_empty() {
            return;
        }
        {
            let mut pending = self.lock();
            for (id, revision) in &acked {
                pending.ack(id, *revision);
            }
        }
        let _ = self.ops.send(Op::Ack(acked));
    }

    /// Reports waiting for an acknowledgement.
    pub fn depth(&self) -> usize {
        self.lock().reports.len()
    }

    /// Bytes of reports waiting for an acknowledgement.
    pub fn pending_bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// At its bound: the agent starts nothing new until schedulers take reports again.
    pub fn is_full(&self) -> bool {
        self.pending_bytes() >= self.limit
    }

    /// How often the log was rewritten since open.
    pub fn compactions(&self) -> u64 {
        self.compactions.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn encode(buf: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let mut body = Vec::with_capacity(payload.len() + 1);
    body.push(kind);
    body.extend_from_slice(payload);
    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    buf.extend_from_slice(&body);
}

/// Applies every whole, intact record; returns how many bytes they span.
fn replay(bytes: &[u8], pending: &mut Pending) -> u64 {
    let mut at = 0usize;
    while bytes.len() - at >= 8 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let Some(body) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        if len == 0 || crc32fast::hash(body) != crc {
            break;
        }
        let (kind, payload) = (body[0], &body[1..]);
        match kind {
            KIND_REPORT => match ExecutionReport::decode(payload) {
                Ok(report) => pending.put(report),
                Err(_) => break,
            },
            KIND_ACK if payload.len() >= 4 => {
                let revision = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes"));
                pending.ack(&String::from_utf8_lossy(&payload[4..]), revision);
            }
            _ => break,
        }
        at += 8 + len;
    }
    if at < bytes.len() {
        tracing::warn!(
            dropped_bytes = bytes.len() - at,
            "spool ends in a torn record (crash mid-write); cutting it off"
        );
    }
    at as u64
}

mod writer;

#[cfg(test)]
#[path = "spool_test.rs"]
mod tests;
