//! The spool's writer and fsync threads: appends, group-committed fsyncs, cutting back a
//! failed append, and compaction.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prost::Message;
use tokio::sync::mpsc;

use super::{COMPACT_AT, Done, KIND_ACK, KIND_REPORT, Op, Pending, SyncOp, encode};

/// Owns the file. Plain threads, so disk I/O never blocks the async runtime: this one writes,
/// a second one fsyncs; appends that queue up while one fsync runs share the next one (group
/// commit), and writes never wait for a flush.
pub(super) struct Writer {
    pub path: PathBuf,
    pub file: File,
    pub size: u64,
    /// The log's size after the last compaction (or at open): the next one waits until the
    /// log is twice that, so compaction costs linear time in what is written.
    pub live: u64,
    /// Compactions so far (a metric, and how the tests see that they stay few).
    pub compactions: Arc<AtomicU64>,
    /// A failed write left bytes past `size` that could not be cut off yet.
    pub torn: bool,
    pub pending: Arc<Mutex<Pending>>,
    pub syncs: std::sync::mpsc::Sender<SyncOp>,
}

pub(super) fn fsync_loop(mut file: File, rx: std::sync::mpsc::Receiver<SyncOp>) {
    while let Ok(first) = rx.recv() {
        let mut waiters = Vec::new();
        let mut op = Some(first);
        while let Some(current) = op.take() {
            match current {
                SyncOp::Sync(done) => waiters.extend(done),
                SyncOp::NewFile(new) => {
                    // Everything before the swap was in the old file, which compaction copied
                    // and synced; flush what we owe on the old one anyway, then switch.
                    flush(&file, &mut waiters);
                    file = new;
                }
            }
            op = rx.try_recv().ok();
        }
        flush(&file, &mut waiters);
    }
}

fn flush(file: &File, waiters: &mut Vec<Done>) {
    if waiters.is_empty() {
        return;
    }
    let synced = file
        .sync_data()
        .map_err(|e| format!("fsync of the spool: {e}"));
    if let Err(e) = &synced {
        tracing::error!(error = %e, "spool fsync failed");
    }
    for done in waiters.drain(..) {
        let _ = done.send(synced.clone());
    }
}

impl Writer {
    pub(super) fn run(mut self, mut rx: mpsc::UnboundedReceiver<Op>) {
        while let Some(first) = rx.blocking_recv() {
            let mut ops = vec![first];
            while let Ok(more) = rx.try_recv() {
                ops.push(more);
            }
            let mut buf = Vec::new();
            let mut written_waiters = Vec::new();
            let mut synced_waiters = Vec::new();
            let mut reports = Vec::new();
            for op in ops {
                match op {
                    Op::Append {
                        reports: batch,
                        synced,
                        done,
                    } => {
                        for report in &batch {
                            encode(&mut buf, KIND_REPORT, &report.encode_to_vec());
                        }
                        reports.extend(batch);
                        if synced {
                            synced_waiters.push(done);
                        } else {
                            written_waiters.push(done);
                        }
                    }
                    Op::Ack(acked) => {
                        for (id, revision) in acked {
                            let mut payload = revision.to_le_bytes().to_vec();
                            payload.extend_from_slice(id.as_bytes());
                            encode(&mut buf, KIND_ACK, &payload);
                        }
                    }
                }
            }
            let written = self.append(&buf);
            if let Err(e) = &written {
                tracing::error!(error = %e, "spool write failed");
            }
            {
                // Sent to schedulers either way: a report that could not be written is still
                // worth delivering while this process lives (the caller learns it is not durable).
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                for report in reports {
                    pending.put(report);
                }
            }
            for done in written_waiters {
                let _ = done.send(written.clone());
            }
            if written.is_ok() {
                if !synced_waiters.is_empty() {
                    let _ = self.syncs.send(SyncOp::Sync(synced_waiters));
                }
            } else {
                for done in synced_waiters {
                    let _ = done.send(written.clone());
                }
            }
            if self.size > COMPACT_AT.max(2 * self.live)
                && let Err(e) = self.compact()
            {
                tracing::error!(error = %e, "spool compaction failed; the log keeps growing");
            }
        }
    }

    /// Appends `buf` whole or not at all: a failed write (a full disk) may have written part
    /// of a record, which the next start would read as the torn end of the log and drop every
    /// good record after it; so the file is cut back to its last good size first.
    fn append(&mut self, buf: &[u8]) -> Result<(), String> {
        let at = |e: std::io::Error| format!("{}: {e}", self.path.display());
        if self.torn {
            // Still not cut back: appending now would put good records behind a torn one.
            self.file.set_len(self.size).map_err(at)?;
            self.torn = false;
        }
        match self.file.write_all(buf) {
            Ok(()) => {
                self.size += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                if let Err(cut) = self.file.set_len(self.size) {
                    tracing::error!(error = %cut, "cannot cut a torn spool record off yet");
                    self.torn = true;
                }
                Err(at(e))
            }
        }
    }

    /// Rewrites the log with the pending reports only.
    fn compact(&mut self) -> std::io::Result<()> {
        let mut buf = Vec::new();
        {
            let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for id in pending.order.values() {
                if let Some((_, report)) = pending.reports.get(id) {
                    encode(&mut buf, KIND_REPORT, &report.encode_to_vec());
                }
            }
        }
        let tmp = self.path.with_extension("log.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&buf)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        let _ = self.syncs.send(SyncOp::NewFile(self.file.try_clone()?));
        self.size = buf.len() as u64;
        self.live = self.size;
        self.compactions.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(bytes = self.size, "spool compacted");
        Ok(())
    }
}
