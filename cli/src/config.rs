//! Where the CLI finds its cluster: `--url`/`--token`, `CRONY_URL`/`CRONY_TOKEN`, or a named
//! profile of `~/.config/crony/config.toml` that `crony login` writes (mode 0600: it holds
//! tokens).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::CliError;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile `crony` uses without `--profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `$CRONY_CONFIG`, else `$XDG_CONFIG_HOME/crony/config.toml`, else `~/.config/crony/config.toml`.
pub fn path() -> Result<PathBuf, CliError> {
    if let Some(explicit) = std::env::var_os("CRONY_CONFIG") {
        return Ok(PathBuf::from(explicit));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME")
                .ok_or_else(|| CliError::Usage("HOME is not set: pass --url and --token".into()))?;
            PathBuf::from(home).join(".config")
        }
    };
    Ok(base.join("crony").join("config.toml"))
}

/// The config file, or an empty one when there is none yet.
pub fn read(path: &Path) -> Result<ConfigFile, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => return Err(CliError::Io(format!("{}: {e}", path.display()))),
    };
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].lines().count().max(1));
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        CliError::Usage(format!("{}{at}: {}", path.display(), e.message()))
    })
}

/// Writes the file atomically (a temporary file renamed over it), readable by its owner only.
pub fn write(path: &Path, config: &ConfigFile) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::Io(format!("{}: {e}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let text = toml::to_string_pretty(config).map_err(|e| CliError::Io(e.to_string()))?;
    let temp = path.with_extension("toml.tmp");
    let mut file = private_file(&temp).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// The cluster to talk to: flags and `CRONY_URL`/`CRONY_TOKEN` (clap fills both) win over
/// the profile, field by field.
pub fn resolve(
    url: Option<String>,
    token: Option<String>,
    profile: Option<&str>,
) -> Result<Profile, CliError> {
    let path = path()?;
    let file = read(&path)?;
    let name = profile
        .map(str::to_owned)
        .or(file.current.clone())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    let stored = file.profiles.get(&name).cloned();
    if profile.is_some() && stored.is_none() {
        return Err(CliError::Usage(format!(
            "no profile {name:?} in {} (crony login --profile {name} writes one)",
            path.display()
        )));
    }
    let url = url
        .or(stored.as_ref().map(|p| p.url.clone()))
        .ok_or_else(|| {
            CliError::Usage(
                "no cluster: set CRONY_URL (and CRONY_TOKEN), pass --url, or run `crony login`"
                    .into(),
            )
        })?;
    Ok(Profile {
        url,
        token: token.or(stored.and_then(|p| p.token)),
    })
}
