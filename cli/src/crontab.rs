//! Turning a crontab (`crontab -l` output, or an `/etc/cron.d` file with a user column) into
//! Crony shell jobs, ready to be rendered as a job file; what has no equivalent is reported.

mod names;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

/// Which crontab layout the text has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `crontab -l` output: five time fields, then the command.
    User,
    /// `/etc/crontab` and `/etc/cron.d/*`: five time fields, a user, then the command.
    System,
}

/// A line that did not become a job, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    /// The line, trimmed.
    pub text: String,
    pub reason: String,
}

/// The result of an import: jobs as API JSON, and the lines left behind.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub jobs: Vec<Value>,
    pub skipped: Vec<Skipped>,
}

const REBOOT: &str = "@reboot has no equivalent in a scheduler (runs at agent start)";
const NOT_ENTRY: &str = "not a crontab entry";
const PERCENT: &str = "% in the command means stdin to cron; rewrite it (\\% for a literal %)";

/// Imports a crontab; `source` names it (its file name) and prefixes the job names.
pub fn import(text: &str, source: &str, format: Format) -> Imported {
    let mut state = State::new(source, format);
    for (index, raw) in text.lines().enumerate() {
        state.line(index + 1, raw.trim());
    }
    Imported {
        jobs: state.jobs,
        skipped: state.skipped,
    }
}

/// What earlier lines set up for the entries after them, as cron reads it.
struct State {
    format: Format,
    names: names::Names,
    /// Variables in effect, for `target.env` (later assignments replace earlier ones).
    env: Map<String, Value>,
    /// `CRON_TZ`/`TZ` in effect: the zone, or why entries cannot use it.
    timezone: Option<Result<String, String>>,
    /// The comment block directly above the current line.
    comment: Vec<String>,
    jobs: Vec<Value>,
    skipped: Vec<Skipped>,
}

/// An entry split into its parts.
struct Entry<'a> {
    schedule: String,
    user: Option<&'a str>,
    command: String,
}

impl State {
    fn new(source: &str, format: Format) -> Self {
        Self {
            format,
            names: names::Names::new(source),
            env: Map::new(),
            timezone: None,
            comment: Vec::new(),
            jobs: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn line(&mut self, number: usize, line: &str) {
        if line.is_empty() {
            // A blank line separates a comment from what follows: it no longer describes it.
            self.comment.clear();
        } else if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            self.comment.push(comment.trim_end().to_string());
        } else {
            let comment = std::mem::take(&mut self.comment);
            if let Some((name, value)) = variable(line) {
                self.set(number, name, value);
            } else {
                self.entry(number, line, &comment);
            }
        }
    }

    fn set(&mut self, number: usize, name: &str, value: String) {
        if name == "CRON_TZ" || name == "TZ" {
            self.timezone = match value.as_str() {
                "" => None,
                zone if looks_like_zone(zone) => Some(Ok(value)),
                zone => Some(Err(format!("unknown time zone \"{zone}\" (line {number})"))),
            };
        } else {
            self.env.insert(name.to_string(), Value::String(value));
        }
    }

    fn entry(&mut self, number: usize, line: &str, comment: &[String]) {
        match self.job(line, comment) {
            Ok(job) => self.jobs.push(job),
            Err(reason) => {
                self.skipped.push(Skipped {
                    line: number,
                    text: line.to_string(),
                    reason,
                });
            }
        }
    }

    fn job(&mut self, line: &str, comment: &[String]) -> Result<Value, String> {
        let entry = parse_entry(line, self.format)?;
        let timezone = self.timezone.clone().transpose()?;
        let mut target = json!({"kind": "shell", "command": entry.command});
        if !self.env.is_empty() {
            target["env"] = Value::Object(self.env.clone());
        }
        let mut job = json!({
            "name": self.names.next(&entry.command),
            "schedule": entry.schedule,
            "target": target,
        });
        if let Some(zone) = timezone {
            job["timezone"] = Value::String(zone);
        }
        let description = describe(comment, entry.user);
        if !description.is_empty() {
            job["description"] = Value::String(description);
        }
        Ok(job)
    }
}

/// `NAME=value` / `NAME = "value"`: a variable assignment, as cron accepts it.
fn variable(line: &str) -> Option<(&str, String)> {
    let (name, value) = line.split_once('=')?;
    let name = name.trim_end();
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let value = value.trim();
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
        .filter(|_| value.len() >= 2);
    Some((name, unquoted.unwrap_or(value).to_string()))
}

/// `UTC`, `GMT`, `Etc/GMT+8`, `Area/Location`, `America/Argentina/Buenos_Aires`: the shapes of
/// IANA names (the server checks the zone exists).
fn looks_like_zone(zone: &str) -> bool {
    if zone == "UTC" || zone == "GMT" {
        return true;
    }
    let parts: Vec<&str> = zone.split('/').collect();
    parts.len() >= 2
        && parts.iter().all(|part| {
            part.starts_with(|c: char| c.is_ascii_alphabetic())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
        })
}

/// The description: the comment block, then the cron user of a system crontab.
fn describe(comment: &[String], user: Option<&str>) -> String {
    let mut parts: Vec<String> = comment.iter().filter(|c| !c.is_empty()).cloned().collect();
    if let Some(user) = user {
        parts.push(format!("(cron user: {user})"));
    }
    parts.join(" ")
}

fn parse_entry(line: &str, format: Format) -> Result<Entry<'_>, String> {
    let user_fields = usize::from(format == Format::System);
    let (schedule, rest) = if line.starts_with('@') {
        let (fields, rest) = split_fields(line, 1);
        (nickname(fields.first().copied().unwrap_or_default())?, rest)
    } else {
        let (fields, rest) = split_fields(line, 5);
        if fields.len() < 5 || !fields.iter().all(|f| valid_field(f)) {
            return Err(NOT_ENTRY.to_string());
        }
        (fields.join(" "), rest)
    };
    let (user, rest) = split_fields(rest, user_fields);
    if rest.is_empty() {
        return Err(NOT_ENTRY.to_string());
    }
    Ok(Entry {
        schedule,
        user: user.first().copied(),
        command: command(rest)?,
    })
}

/// The first `n` whitespace-separated fields and the rest of the line as written.
fn split_fields(line: &str, n: usize) -> (Vec<&str>, &str) {
    let mut fields = Vec::with_capacity(n);
    let mut rest = line.trim_start();
    while fields.len() < n && !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        fields.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    (fields, rest)
}

fn nickname(word: &str) -> Result<String, String> {
    let schedule = match word.to_ascii_lowercase().as_str() {
        "@reboot" => return Err(REBOOT.to_string()),
        "@yearly" | "@annually" => "@yearly",
        "@monthly" => "@monthly",
        "@weekly" => "@weekly",
        "@daily" | "@midnight" => "@daily",
        "@hourly" => "@hourly",
        _ => return Err(NOT_ENTRY.to_string()),
    };
    Ok(schedule.to_string())
}

const NAMES: [&str; 19] = [
    "sun", "mon", "tue", "wed", "thu", "fri", "sat", "jan", "feb", "mar", "apr", "may", "jun",
    "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A time field made of numbers, `*`, `?` and day/month names joined by `,` `-` `/`: enough to
/// tell an entry from prose; the server validates ranges.
fn valid_field(field: &str) -> bool {
    field.split([',', '-', '/']).all(|atom| {
        let lower = atom.to_ascii_lowercase();
        atom == "*"
            || atom == "?"
            || (!atom.is_empty() && atom.chars().all(|c| c.is_ascii_digit()))
            || NAMES.contains(&lower.as_str())
    })
}

/// The command as the shell gets it: cron turns an unescaped `%` into a newline (and what follows
/// into stdin), which a job cannot express, so such entries are refused; `\%` is a literal `%`.
fn command(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'%') => {
                out.push('%');
                chars.next();
            }
            '%' => return Err(PERCENT.to_string()),
            _ => out.push(c),
        }
    }
    Ok(out)
}
