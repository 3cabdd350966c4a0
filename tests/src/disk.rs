//! Disks a test can break under an agent's data dir: a small tmpfs to fill up (a real "disk
//! full"), and a loop ext4 to freeze (a disk that hangs).
//! Needs root (mount); a test that cannot mount fails saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::process::run;

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

/// A small ext4 filesystem on a loop device whose writes a test can stop (`fsfreeze`): a disk
/// that hangs, as a stalled SAN or a dying drive does. Needs root (mount, fsfreeze).
pub struct FreezableDisk {
    path: PathBuf,
    _image: tempfile::TempDir,
}

impl FreezableDisk {
    /// Mounts a fresh ext4 of `bytes` at `path` (created).
    pub fn mount(path: &Path, bytes: u64) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path)?;
        let image_dir = tempfile::Builder::new().prefix("crony-disk-").tempdir()?;
        let image = image_dir.path().join("disk.img");
        std::fs::File::create(&image)?.set_len(bytes)?;
        run("mkfs.ext4", &["-q", "-F", &image.to_string_lossy()])?;
        run(
            "mount",
            &[
                "-o",
                "loop",
                &image.to_string_lossy(),
                &path.to_string_lossy(),
            ],
        )
        .context("mounting a loop ext4 (the frozen-disk test needs root)")?;
        Ok(Self {
            path: path.to_owned(),
            _image: image_dir,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops every write (and fsync) to the disk until the guard is dropped.
    pub fn freeze(&self) -> anyhow::Result<Frozen<'_>> {
        run("fsfreeze", &["-f", &self.path.to_string_lossy()])?;
        Ok(Frozen(self))
    }
}

/// A frozen [`FreezableDisk`]; thawed on drop (also when a test fails while it is frozen, so
/// no process stays blocked on it).
pub struct Frozen<'a>(&'a FreezableDisk);

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        let _ = Command::new("fsfreeze")
            .arg("-u")
            .arg(&self.0.path)
            .status();
    }
}

impl Drop for FreezableDisk {
    fn drop(&mut self) {
        let _ = Command::new("fsfreeze").arg("-u").arg(&self.path).status();
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
