//! Writing jobs back as a job file (`crony export`, `crony import-crontab`) in a stable key order,
//! so exports diff cleanly in git.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::JobFileError;

/// Job keys that lead, in this order, because a reader looks for them first.
const LEADING: [&str; 6] = [
    "name",
    "description",
    "schedule",
    "timezone",
    "enabled",
    "target",
];

/// Renders jobs (JSON objects) as a job file: `{"jobs": [...]}`, YAML (with `header` as a leading
/// `# ` comment) or TOML. Literal `${` in strings is written `$${` so it re-parses as text. TOML
/// has no null: null fields are left out there (the API treats a missing field like null).
pub fn render(jobs: &[Value], toml: bool, header: &str) -> Result<String, JobFileError> {
    render_with_references(jobs, toml, header, &[])
}

/// Like [`render`], except that a string that is exactly `${env:NAME}`, for a `NAME` in
/// `env_names`, is written as a live reference rather than escaped: what `crony export` needs for
/// the secrets it replaces by references (the file then does not round-trip to those strings but
/// to the variables' values, which is the point).
pub fn render_with_references(
    jobs: &[Value],
    toml: bool,
    header: &str,
    env_names: &[String],
) -> Result<String, JobFileError> {
    if let Some(i) = jobs.iter().position(|job| !job.is_object()) {
        return Err(JobFileError::Render(format!("jobs[{i}] is not an object")));
    }
    let doc = Document {
        jobs,
        style: Style { toml, env_names },
    };
    let body = if toml {
        toml::to_string(&doc).map_err(|err| JobFileError::Render(err.to_string()))?
    } else {
        serde_norway::to_string(&doc).map_err(|err| JobFileError::Render(err.to_string()))?
    };
    let header = header.split_whitespace().collect::<Vec<_>>().join(" ");
    if header.is_empty() {
        return Ok(body);
    }
    Ok(format!("# {header}\n{body}"))
}

struct Document<'a> {
    jobs: &'a [Value],
    style: Style<'a>,
}

/// How values are written: TOML (nulls dropped) or YAML, and which references stay live.
#[derive(Clone, Copy)]
struct Style<'a> {
    toml: bool,
    env_names: &'a [String],
}

impl Style<'_> {
    fn text(&self, s: &str) -> String {
        let live = s
            .strip_prefix("${env:")
            .and_then(|rest| rest.strip_suffix('}'))
            .is_some_and(|name| self.env_names.iter().any(|n| n == name));
        if live {
            s.to_string()
        } else {
            s.replace("${", "$${")
        }
    }
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let jobs: Vec<Ordered> = self
            .jobs
            .iter()
            .map(|value| Ordered {
                value,
                style: self.style,
                job: true,
            })
            .collect();
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("jobs", &jobs)?;
        map.end()
    }
}

/// A JSON value serialized with ordered keys and escaped strings.
struct Ordered<'a> {
    value: &'a Value,
    style: Style<'a>,
    job: bool,
}

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let child = |value| Ordered {
            value,
            style: self.style,
            job: false,
        };
        match self.value {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(&self.style.text(s)),
            Value::Array(items) => serializer.collect_seq(items.iter().map(child)),
            Value::Object(map) => {
                let keys = ordered_keys(map, self.job, self.style.toml);
                let mut out = serializer.serialize_map(Some(keys.len()))?;
                for (key, value) in keys.iter().filter_map(|k| map.get(*k).map(|v| (k, v))) {
                    out.serialize_entry(key, &child(value))?;
                }
                out.end()
            }
        }
    }
}

/// A job's leading keys first, then the rest alphabetically (whatever order the map keeps).
fn ordered_keys(map: &Map<String, Value>, job: bool, toml: bool) -> Vec<&str> {
    let mut rest: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !(job && LEADING.contains(k)))
        .collect();
    rest.sort_unstable();
    let leading = LEADING
        .iter()
        .copied()
        .filter(|k| job && map.contains_key(*k));
    leading
        .chain(rest)
        .filter(|k| !(toml && map.get(*k).is_some_and(Value::is_null)))
        .collect()
}
