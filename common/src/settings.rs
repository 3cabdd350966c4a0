//! Layered configuration: a TOML file, then `CRONY_*` environment variables, then flags.
//!
//! Each binary declares its settings once as a table of [`Setting`]s; the flags, the
//! environment names and the file keys all come from that table, and every error names the
//! exact place the bad value came from, so an operator can fix it in one look.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};

use crate::secret_file;

mod parse;
pub use parse::{
    parse_bool, parse_endpoints, parse_in_range, parse_labels, parse_prefix, parse_socket_addr,
};

/// One configuration setting. The flag is the key with `-` for `_`.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Key in the TOML file, e.g. `lease_ttl_secs`.
    pub key: &'static str,
    /// Environment variable, e.g. `CRONY_LEASE_TTL_SECS`.
    pub env: &'static str,
    /// One line for `--help`, including the default.
    pub help: &'static str,
    pub kind: Kind,
}

/// How a setting may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value in any layer.
    Value,
    /// A secret: its value also comes from a file (`CRONY_X_FILE`, `x_file`, `--x-file`),
    /// and never from a flag, which every user of the machine can read in the process list.
    Secret,
    /// A boolean whose flag takes no value (`--insecure-no-cluster-token`); `true`/`false` in
    /// the environment and the file.
    Switch,
}

impl Setting {
    pub const fn new(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Self {
            key,
            env,
            help,
            kind: Kind::Value,
        }
    }

    /// A secret setting (see [`Kind::Secret`]).
    pub const fn secret(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::Secret,
            ..Self::new(key, env, help)
        }
    }

    /// A switch (see [`Kind::Switch`]).
    pub const fn switch(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::Switch,
            ..Self::new(key, env, help)
        }
    }

    pub const fn is_secret(&self) -> bool {
        matches!(self.kind, Kind::Secret)
    }

    pub fn flag(&self) -> String {
        self.key.replace('_', "-")
    }
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(String),
    Env(&'static str),
    File {
        key: &'static str,
        path: PathBuf,
    },
    /// A secret read from the file that `setting` (e.g. `CRONY_CLUSTER_TOKEN_FILE`) names.
    SecretFile {
        setting: String,
        path: PathBuf,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "--{flag}"),
            Origin::Env(name) => f.write_str(name),
            Origin::File { key, path } => write!(f, "`{key}` in {}", path.display()),
            Origin::SecretFile { setting, path } => {
                write!(f, "{setting} (file {})", path.display())
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {origin}: {message}")]
    Invalid { origin: Origin, message: String },
    #[error("cannot read config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(
        "--{flag}: secrets on the command line show in the process list; use {env} or {env}_FILE"
    )]
    SecretFlag { flag: String, env: &'static str },
    #[error("both {value} and {file} are set; set only one of them")]
    SecretTwice { value: String, file: String },
    #[error("cannot read {setting} {path}: {message}")]
    SecretFile {
        setting: String,
        path: PathBuf,
        message: String,
    },
    /// A required setting is missing, or settings contradict each other: the whole message.
    #[error("{0}")]
    Unusable(String),
}

/// The three layers, ready to be asked for each setting.
#[derive(Debug)]
pub struct Sources {
    settings: &'static [Setting],
    pub(crate) file: toml::Table,
    pub(crate) file_path: PathBuf,
    pub(crate) flags: clap::ArgMatches,
    pub(crate) env: BTreeMap<String, String>,
    /// Secrets, resolved (and their files read) once at load, so that a missing file or a
    /// secret given twice is reported at start even for settings read late.
    secrets: BTreeMap<&'static str, (String, Origin)>,
}

impl Sources {
    /// Parses flags (exiting with clap's usage message on a bad flag or `--help`), reads the
    /// environment and the `--config` file, and the files of secret settings.
    pub fn load(
        name: &'static str,
        about: &'static str,
        settings: &'static [Setting],
        args: impl IntoIterator<Item = OsString>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut cmd = Command::new(name)
            .about(about)
            .version(env!("CARGO_PKG_VERSION"))
            .arg(
                Arg::new("config")
                    .long("config")
                    .value_name("FILE")
                    .help("TOML file with any of the settings below (keys as in the flags, with _)")
                    .action(ArgAction::Set),
            );
        for setting in settings {
            cmd = cmd.args(secret_file::args(setting));
        }
        let flags = cmd.get_matches_from(args);
        let env = settings
            .iter()
            .flat_map(secret_file::env_names)
            .filter_map(|name| env(&name).map(|v| (name, v)))
            .collect();
        let (file, file_path) = match flags.get_one::<String>("config") {
            Some(path) => {
                let path = PathBuf::from(path);
                (read_file(&path, settings)?, path)
            }
            None => (toml::Table::new(), PathBuf::new()),
        };
        let mut sources = Self {
            settings,
            file,
            file_path,
            flags,
            env,
            secrets: BTreeMap::new(),
        };
        for setting in settings.iter().filter(|s| s.is_secret()) {
            if let Some(found) = secret_file::resolve(&sources, setting)? {
                sources.secrets.insert(setting.key, found);
            }
        }
        Ok(sources)
    }

    /// The raw value of a setting from the highest layer that has it (for a secret, the
    /// contents of its file when the `_FILE` variant names one).
    pub fn raw(&self, setting: &Setting) -> Option<(String, Origin)> {
        debug_assert!(self.settings.iter().any(|s| s.key == setting.key));
        match setting.kind {
            Kind::Secret => return self.secrets.get(setting.key).cloned(),
            Kind::Switch if self.flags.get_flag(setting.key) => {
                return Some(("true".to_owned(), Origin::Flag(setting.flag())));
            }
            Kind::Switch => {}
            Kind::Value => {
                if let Some(v) = self.flags.get_one::<String>(setting.key) {
                    return Some((v.clone(), Origin::Flag(setting.flag())));
                }
            }
        }
        if let Some(v) = self.env.get(setting.env) {
            return Some((v.clone(), Origin::Env(setting.env)));
        }
        self.file.get(setting.key).map(|v| {
            let origin = Origin::File {
                key: setting.key,
                path: self.file_path.clone(),
            };
            (toml_to_text(v), origin)
        })
    }

    /// The parsed value of a setting, or `None` when no layer sets it.
    pub fn get<T>(
        &self,
        setting: &Setting,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.raw(setting) {
            None => Ok(None),
            Some((raw, origin)) => parse(raw.trim()).map(Some).map_err(|message| {
                // A parser may quote the value; a secret's must not reach the log.
                let message = match setting.kind {
                    Kind::Secret if !raw.trim().is_empty() => {
                        message.replace(raw.trim(), "<secret>")
                    }
                    _ => message,
                };
                ConfigError::Invalid { origin, message }
            }),
        }
    }

    /// The parsed value of a setting, or `default` when no layer sets it.
    pub fn get_or<T>(
        &self,
        setting: &Setting,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Ok(self.get(setting, parse)?.unwrap_or(default))
    }
}

fn read_file(path: &PathBuf, settings: &[Setting]) -> Result<toml::Table, ConfigError> {
    let fail = |message: String| ConfigError::File {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| fail(e.to_string()))?;
    // A misspelt key would otherwise be ignored silently and its default used.
    let known = |k: &str| {
        settings
            .iter()
            .any(|s| secret_file::file_keys(s).iter().any(|key| key == k))
    };
    if let Some(unknown) = table.keys().find(|k| !known(k)) {
        return Err(fail(format!("unknown setting `{unknown}`")));
    }
    Ok(table)
}

/// Renders a TOML value in the same text form the flag and the environment use, so one parser
/// serves all three layers (arrays become `a,b`, tables become `k=v,k=v`).
pub(crate) fn toml_to_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(toml_to_text).collect::<Vec<_>>().join(","),
        toml::Value::Table(t) => t
            .iter()
            .map(|(k, v)| format!("{k}={}", toml_to_text(v)))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// Sources for unit tests: `args` as flags after the program name, `env` as the environment.
#[cfg(test)]
pub(crate) fn test_sources(
    settings: &'static [Setting],
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Sources, ConfigError> {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let args = std::iter::once("test")
        .chain(args.iter().copied())
        .map(OsString::from);
    Sources::load("test", "", settings, args, |k| env.get(k).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    static SETTINGS: &[Setting] = &[
        Setting::new("lease_ttl_secs", "CRONY_LEASE_TTL_SECS", ""),
        Setting::new("agent_labels", "CRONY_AGENT_LABELS", ""),
        Setting::secret("cluster_token", "CRONY_CLUSTER_TOKEN", ""),
        Setting::switch("insecure", "CRONY_INSECURE", ""),
    ];

    fn sources(args: &[&str], env: &[(&str, &str)]) -> Result<Sources, ConfigError> {
        test_sources(SETTINGS, args, env)
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let dir = tempfile_dir();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "lease_ttl_secs = 7\nagent_labels = { zone = \"a\" }\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let ttl = |s: &Sources| s.get(&SETTINGS[0], |r| parse_in_range(r, 2, 60)).unwrap();
        assert_eq!(ttl(&sources(&["--config", f], &[]).unwrap()), Some(7));
        let env = [("CRONY_LEASE_TTL_SECS", "8")];
        assert_eq!(ttl(&sources(&["--config", f], &env).unwrap()), Some(8));
        let s = sources(&["--config", f, "--lease-ttl-secs", "9"], &env).unwrap();
        assert_eq!(ttl(&s), Some(9));
        let labels = s.get(&SETTINGS[1], parse_labels).unwrap().unwrap();
        assert_eq!(labels.get("zone").map(String::as_str), Some("a"));
    }

    #[test]
    fn errors_name_where_the_value_came_from() {
        let s = sources(&[], &[("CRONY_LEASE_TTL_SECS", "abc")]).unwrap();
        let err = s
            .get(&SETTINGS[0], |r| parse_in_range(r, 2, 60))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid CRONY_LEASE_TTL_SECS:"), "{err}");
        let s = sources(&["--agent-labels", "zone"], &[]).unwrap();
        let err = s.get(&SETTINGS[1], parse_labels).unwrap_err().to_string();
        assert!(
            err.contains("--agent-labels") && err.contains("key=value"),
            "{err}"
        );
    }

    #[test]
    fn unknown_file_key_is_refused() {
        let dir = tempfile_dir();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lease_ttl = 7\n").unwrap();
        let err = sources(&["--config", file.to_str().unwrap()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown setting `lease_ttl`"), "{err}");
    }

    fn tempfile_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }
}
