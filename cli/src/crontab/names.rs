//! Job names for imported entries: `<source>-<command>`, made unique in file order so that
//! re-importing an unchanged crontab yields the same names.

use std::collections::HashSet;
use std::path::Path;

const MAX_SLUG: usize = 60;

/// Words that run another command; the job is named after the command they run.
const WRAPPERS: [&str; 14] = [
    "cd", "env", "nice", "ionice", "sudo", "timeout", "flock", "nohup", "exec", "time", "chronic",
    "setlock", "run-one", "cronic",
];

/// Wrappers whose first plain argument is not the command (`cd DIR`, `flock LOCKFILE`).
const TAKES_ARGUMENT: [&str; 3] = ["cd", "flock", "setlock"];

/// Hands out unique names for one crontab.
pub(crate) struct Names {
    source: String,
    used: HashSet<String>,
}

impl Names {
    pub(crate) fn new(source: &str) -> Self {
        let stem = Path::new(source)
            .file_stem()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default();
        Self {
            source: slug(&stem),
            used: HashSet::new(),
        }
    }

    /// The next name for an entry running `command`: `-2`, `-3`… on a clash.
    pub(crate) fn next(&mut self, command: &str) -> String {
        let parts = [self.source.as_str(), &slug(command_word(command))];
        let base = parts
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("-");
        let base = if base.is_empty() {
            "job".to_string()
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 1;
        while self.used.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        self.used.insert(name.clone());
        name
    }
}

/// The basename of the word that names what the command runs.
fn command_word(command: &str) -> &str {
    let mut skip_argument = false;
    for word in command.split_whitespace() {
        let word = word.trim_matches(['"', '\'', '(', ')']);
        let base = word.rsplit('/').next().unwrap_or(word);
        let assignment = word
            .split_once('=')
            .is_some_and(|(name, _)| is_identifier(name));
        let noise = matches!(word, "&&" | "||" | ";" | "|" | "")
            || word.starts_with('-')
            || word.starts_with(|c: char| c.is_ascii_digit());
        if assignment || noise {
            continue;
        }
        if WRAPPERS.contains(&base) {
            skip_argument = TAKES_ARGUMENT.contains(&base);
            continue;
        }
        if std::mem::take(&mut skip_argument) {
            continue;
        }
        return base;
    }
    ""
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Lowercase, runs of other characters as one `-`, trimmed, at most 60 characters.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_SLUG);
    out.trim_end_matches('-').to_string()
}
