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

/// One configuration setting. The flag is the key with `-` for `_`.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Key in the TOML file, e.g. `lease_ttl_secs`.
    pub key: &'static str,
    /// Environment variable, e.g. `CRONY_LEASE_TTL_SECS`.
    pub env: &'static str,
    /// One line for `--help`, including the default.
    pub help: &'static str,
}

impl Setting {
    fn flag(&self) -> String {
        self.key.replace('_', "-")
    }
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(String),
    Env(&'static str),
    File { key: &'static str, path: PathBuf },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "--{flag}"),
            Origin::Env(name) => f.write_str(name),
            Origin::File { key, path } => write!(f, "`{key}` in {}", path.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {origin}: {message}")]
    Invalid { origin: Origin, message: String },
    #[error("cannot read config file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// The three layers, ready to be asked for each setting.
#[derive(Debug)]
pub struct Sources {
    settings: &'static [Setting],
    file: toml::Table,
    file_path: PathBuf,
    flags: clap::ArgMatches,
    env: BTreeMap<&'static str, String>,
}

impl Sources {
    /// Parses flags (exiting with clap's usage message on a bad flag or `--help`), reads the
    /// environment and the `--config` file.
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
            cmd = cmd.arg(
                Arg::new(setting.key)
                    .long(setting.flag())
                    .value_name("VALUE")
                    .help(format!("{} [env: {}]", setting.help, setting.env))
                    .action(ArgAction::Set),
            );
        }
        let flags = cmd.get_matches_from(args);
        let env = settings
            .iter()
            .filter_map(|s| env(s.env).map(|v| (s.env, v)))
            .collect();
        let (file, file_path) = match flags.get_one::<String>("config") {
            Some(path) => {
                let path = PathBuf::from(path);
                (read_file(&path, settings)?, path)
            }
            None => (toml::Table::new(), PathBuf::new()),
        };
        Ok(Self {
            settings,
            file,
            file_path,
            flags,
            env,
        })
    }

    /// The raw value of a setting from the highest layer that has it.
    pub fn raw(&self, setting: &Setting) -> Option<(String, Origin)> {
        debug_assert!(self.settings.iter().any(|s| s.key == setting.key));
        if let Some(v) = self.flags.get_one::<String>(setting.key) {
            return Some((v.clone(), Origin::Flag(setting.flag())));
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
            Some((raw, origin)) => parse(raw.trim())
                .map(Some)
                .map_err(|message| ConfigError::Invalid { origin, message }),
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
    if let Some(unknown) = table.keys().find(|k| !settings.iter().any(|s| s.key == *k)) {
        return Err(fail(format!("unknown setting `{unknown}`")));
    }
    Ok(table)
}

/// Renders a TOML value in the same text form the flag and the environment use, so one parser
/// serves all three layers (arrays become `a,b`, tables become `k=v,k=v`).
fn toml_to_text(value: &toml::Value) -> String {
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

/// `http://a:2379,b:2379` → `["http://a:2379", "http://b:2379"]` (scheme defaults to http).
pub fn parse_endpoints(raw: &str) -> Result<Vec<String>, String> {
    let endpoints: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let with_scheme = if s.contains("://") {
                s.to_owned()
            } else {
                format!("http://{s}")
            };
            let rest = with_scheme
                .strip_prefix("http://")
                .or_else(|| with_scheme.strip_prefix("https://"))
                .ok_or_else(|| format!("endpoint {s:?} must use http:// or https://"))?;
            match rest.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                    Ok(with_scheme)
                }
                _ => Err(format!("endpoint {s:?} must be host:port")),
            }
        })
        .collect::<Result<_, _>>()?;
    if endpoints.is_empty() {
        return Err("at least one endpoint is required".into());
    }
    Ok(endpoints)
}

/// An etcd key prefix: starts with `/`, no trailing `/`, no spaces.
pub fn parse_prefix(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/')
        || raw.len() < 2
        || raw.ends_with('/')
        || raw.contains(char::is_whitespace)
    {
        return Err(format!(
            "{raw:?} must look like /crony (leading /, no trailing /, no spaces)"
        ));
    }
    Ok(raw.to_owned())
}

/// `zone=a,tier=batch` → a map. Keys and values are `[A-Za-z0-9._-]`, keys non-empty.
pub fn parse_labels(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let valid = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
    };
    let mut labels = BTreeMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("label {pair:?} is not key=value"))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || !valid(k) || !valid(v) || k.len() > 63 || v.len() > 63 {
            return Err(format!(
                "label {pair:?}: keys and values use letters, digits, . _ - / (at most 63 characters), keys are non-empty"
            ));
        }
        if labels.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(format!("label key {k:?} appears twice"));
        }
    }
    Ok(labels)
}

pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{raw:?} is not a boolean (true/false)")),
    }
}

/// An integer within `min..=max`.
pub fn parse_in_range(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{raw:?} must be a whole number from {min} to {max}"
        )),
    }
}

pub fn parse_socket_addr(raw: &str) -> Result<std::net::SocketAddr, String> {
    raw.parse()
        .map_err(|_| format!("{raw:?} is not an ip:port address (e.g. 0.0.0.0:8080)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    static SETTINGS: &[Setting] = &[
        Setting {
            key: "lease_ttl_secs",
            env: "CRONY_LEASE_TTL_SECS",
            help: "",
        },
        Setting {
            key: "agent_labels",
            env: "CRONY_AGENT_LABELS",
            help: "",
        },
    ];

    fn sources(args: &[&str], env: &[(&str, &str)]) -> Result<Sources, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args = std::iter::once("test")
            .chain(args.iter().copied())
            .map(OsString::from);
        Sources::load("test", "", SETTINGS, args, |k| env.get(k).cloned())
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

    #[test]
    fn value_parsers() {
        assert_eq!(
            parse_endpoints("a:1, https://b:2").unwrap(),
            ["http://a:1", "https://b:2"]
        );
        assert!(parse_endpoints("a").is_err());
        assert!(parse_endpoints("ftp://a:1").is_err());
        assert!(parse_prefix("crony").is_err());
        assert!(parse_prefix("/crony/").is_err());
        assert_eq!(parse_prefix("/crony").unwrap(), "/crony");
        assert!(parse_labels("a=b,a=c").is_err());
        assert!(parse_labels("a b=c").is_err());
        assert!(parse_bool("maybe").is_err());
        assert!(parse_in_range("1", 2, 3).is_err());
    }

    fn tempfile_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }
}
