//! Reading job files and directories of them from disk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{FileJob, JobFileError, Syntax, check_duplicates, parse};

/// How deep directories are followed; deeper is almost surely a symlink loop.
const MAX_DEPTH: usize = 32;

/// Loads files and directories. A directory contributes every `*.yaml`, `*.yml` and `*.toml`
/// inside it, recursively, sorted by path so the order is stable; other files and hidden entries
/// (`.git`, `.github`) are skipped. A file named explicitly must have one of those extensions.
/// Job names must be unique across everything loaded. `env` looks up environment variables.
pub fn load(
    paths: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<FileJob>, JobFileError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, true, 0, &mut files)?;
    }
    let mut seen = HashSet::new();
    let mut jobs = Vec::new();
    for file in files {
        // The same file reached twice (`jobs/` and `jobs/a.yaml`) is read once.
        let identity = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if !seen.insert(identity) {
            continue;
        }
        let text = std::fs::read_to_string(&file).map_err(|source| io(&file, source))?;
        jobs.extend(parse(&file, &text, env)?);
    }
    check_duplicates(&jobs)?;
    Ok(jobs)
}

fn io(path: &Path, source: std::io::Error) -> JobFileError {
    JobFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn collect(
    path: &Path,
    explicit: bool,
    depth: usize,
    out: &mut Vec<PathBuf>,
) -> Result<(), JobFileError> {
    let meta = std::fs::metadata(path).map_err(|source| io(path, source))?;
    if !meta.is_dir() {
        if Syntax::of(path).is_some() {
            out.push(path.to_path_buf());
        } else if explicit {
            return Err(JobFileError::Extension {
                path: path.to_path_buf(),
            });
        }
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        let message = "directories nested too deep (a symlink loop?)";
        return Err(io(path, std::io::Error::other(message)));
    }
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|source| io(path, source))? {
        let entry = entry.map_err(|source| io(path, source))?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            entries.push(entry.path());
        }
    }
    entries.sort();
    for entry in entries {
        collect(&entry, false, depth + 1, out)?;
    }
    Ok(())
}
