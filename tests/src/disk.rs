//! A small tmpfs that a test can fill up: a real "disk full" under an agent's data dir.
//! Needs root (mount); a test that cannot mount fails saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

pub struct SmallDisk {
    path: PathBuf,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` at `path` (created).
    pub fn mount(path: &Path, bytes: u64) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .status()
            .context("running mount")?;
        anyhow::ensure!(
            status.success(),
            "cannot mount a tmpfs at {} (the disk-full test needs root): {status}",
            path.display()
        );
        Ok(Self {
            path: path.to_owned(),
            filler: path.join("filler"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fills every free byte with one file: the next write that needs a new page fails
    /// with ENOSPC (a write that fits the last page of its file still succeeds, partly).
    pub fn fill(&self) -> anyhow::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(&self.filler)?;
        let chunk = vec![0u8; 4096];
        // Bounded: the disk is small; stop at the first refusal.
        for _ in 0..1_000_000 {
            if file.write_all(&chunk).is_err() {
                return Ok(());
            }
        }
        anyhow::bail!("{} never filled up", self.path.display())
    }

    /// Frees what [`SmallDisk::fill`] took.
    pub fn free(&self) -> anyhow::Result<()> {
        std::fs::remove_file(&self.filler).context("removing the filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process still holding a file there must not keep the mount.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
