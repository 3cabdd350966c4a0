//! Job files kept in git: YAML (`.yaml`, `.yml`) or TOML (`.toml`) files with a top-level `jobs`
//! list, loaded into the API's JSON with `${env:..}` / `${file:..}` references resolved, and each
//! job remembering where its fields are written so server-side validation errors point at a line.

mod convert;
mod load;
mod path;
mod refs;
mod render;
mod toml_lines;
mod yaml_lines;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use load::load;
pub use render::{render, render_with_references};

use path::{FieldIndex, Layout, Seg};

/// One job read from a job file.
#[derive(Debug, Clone)]
pub struct FileJob {
    pub name: String,
    /// The job as JSON, references resolved (what is sent to the API).
    pub body: Value,
    pub path: PathBuf,
    /// 1-based line where this job starts (its `- name:` line in YAML, its `[[jobs]]` line in TOML).
    pub line: usize,
    fields: FieldIndex,
}

impl FileJob {
    /// The 1-based line of a field named by the API's dotted path (`timeout_secs`, `target.url`,
    /// `target.env.FOO`, `alerts.emails[0]`): the deepest part of the path found in this job,
    /// else the job's line. Best effort, never panics.
    pub fn line_of(&self, field: &str) -> usize {
        path::lookup(&self.fields, &path::parse(field)).unwrap_or(self.line)
    }

    /// `file:line` of a field, for messages: e.g. `jobs/bad.yaml:8`.
    pub fn locate(&self, field: &str) -> String {
        format!("{}:{}", self.path.display(), self.line_of(field))
    }
}

/// Where in a file something is: `file:line`, or just `file` when the line is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub path: PathBuf,
    pub line: Option<usize>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Why job files could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum JobFileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a job file (expected .yaml, .yml or .toml)", path.display())]
    Extension { path: PathBuf },
    #[error("{at}: {message}")]
    Syntax { at: Position, message: String },
    #[error("{at}: {message}")]
    Invalid { at: Position, message: String },
    #[error("{at}: field {field}: {message}")]
    Reference {
        at: Position,
        field: String,
        message: String,
    },
    #[error("{at}: job \"{name}\" is also defined at {first}")]
    Duplicate {
        at: Position,
        name: String,
        first: Position,
    },
    #[error("cannot render job file: {0}")]
    Render(String),
}

impl JobFileError {
    /// Where the error is, when it is in a file.
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Io { path, .. } | Self::Extension { path } => Some(Position {
                path: path.clone(),
                line: None,
            }),
            Self::Syntax { at, .. }
            | Self::Invalid { at, .. }
            | Self::Reference { at, .. }
            | Self::Duplicate { at, .. } => Some(at.clone()),
            Self::Render(_) => None,
        }
    }
}

/// The two syntaxes, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Yaml,
    Toml,
}

impl Syntax {
    fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Self::Yaml),
            "toml" => Some(Self::Toml),
            _ => None,
        }
    }
}

/// One file being parsed: what error messages and line lookups need.
struct Source<'a> {
    path: &'a Path,
    lines: Vec<&'a str>,
    syntax: Syntax,
    layout: Layout,
}

impl Source<'_> {
    fn at(&self, line: Option<usize>) -> Position {
        Position {
            path: self.path.to_path_buf(),
            line,
        }
    }

    fn invalid(&self, line: Option<usize>, message: String) -> JobFileError {
        JobFileError::Invalid {
            at: self.at(line),
            message,
        }
    }

    fn top_key_line(&self, key: &str) -> Option<usize> {
        match self.syntax {
            Syntax::Yaml => yaml_lines::top_key_line(&self.lines, key),
            Syntax::Toml => toml_lines::top_key_line(&self.lines, key),
        }
    }

    /// Job `index`'s first line and field index, if the scan found the same number of jobs as
    /// the parser (otherwise lines fall back to the `jobs` key).
    fn span(&self, index: usize, count: usize) -> (usize, FieldIndex) {
        match self.layout.spans.get(index) {
            Some(span) if self.layout.spans.len() == count => span.clone(),
            _ => (self.layout.jobs_line.unwrap_or(1), FieldIndex::new()),
        }
    }

    /// The line of a path from the document root (`jobs[2].target`).
    fn line_of_doc_path(&self, doc_path: &[Seg]) -> Option<usize> {
        match doc_path {
            [Seg::Key(jobs), Seg::Index(i), rest @ ..] if jobs == "jobs" => {
                let (line, fields) = self.layout.spans.get(*i)?;
                Some(path::lookup(fields, rest).unwrap_or(*line))
            }
            [Seg::Key(key), ..] => self.top_key_line(key),
            [] | [Seg::Index(_), ..] => None,
        }
    }
}

/// Parses one file's text (the unit-testable core of [`load`]); `path` is for messages and for
/// `${file:..}` paths, which are relative to its directory.
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<FileJob>, JobFileError> {
    let syntax = Syntax::of(path).ok_or_else(|| JobFileError::Extension {
        path: path.to_path_buf(),
    })?;
    let lines: Vec<&str> = text.lines().collect();
    let layout = match syntax {
        Syntax::Yaml => yaml_lines::layout(&lines),
        Syntax::Toml => toml_lines::layout(&lines),
    };
    let source = Source {
        path,
        lines,
        syntax,
        layout,
    };
    let doc = document(&source, text)?;
    let items = jobs_list(&source, doc)?;
    let count = items.len();
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    let resolver = refs::Resolver { env, dir };
    let jobs = items
        .into_iter()
        .enumerate()
        .map(|(i, body)| file_job(&source, &resolver, i, count, body))
        .collect::<Result<Vec<_>, _>>()?;
    check_duplicates(&jobs)?;
    Ok(jobs)
}

fn document(source: &Source, text: &str) -> Result<Value, JobFileError> {
    let parsed = match source.syntax {
        Syntax::Yaml => convert::yaml(text),
        Syntax::Toml => convert::toml(text),
    };
    parsed.map_err(|err| match err {
        convert::Error::Syntax(e) => JobFileError::Syntax {
            at: source.at(e.line),
            message: e.message,
        },
        convert::Error::Value(e) => {
            let line = source.line_of_doc_path(&e.path);
            source.invalid(line, format!("{}: {}", path::display(&e.path), e.message))
        }
    })
}

/// The `jobs` list, after checking the top level holds nothing else.
fn jobs_list(source: &Source, doc: Value) -> Result<Vec<Value>, JobFileError> {
    const MISSING: &str = "no top-level `jobs` list (a job file holds `jobs:` and nothing else)";
    let Value::Object(mut top) = doc else {
        return Err(source.invalid(None, MISSING.to_string()));
    };
    if let Some(key) = top.keys().find(|k| *k != "jobs") {
        let message =
            format!("unknown top-level key `{key}` (a job file holds only a `jobs` list)");
        return Err(source.invalid(source.top_key_line(key), message));
    }
    match top.remove("jobs") {
        Some(Value::Array(items)) => Ok(items),
        Some(_) => {
            Err(source.invalid(source.layout.jobs_line, "`jobs` must be a list".to_string()))
        }
        None => Err(source.invalid(None, MISSING.to_string())),
    }
}

fn file_job(
    source: &Source,
    resolver: &refs::Resolver,
    index: usize,
    count: usize,
    mut body: Value,
) -> Result<FileJob, JobFileError> {
    let (line, fields) = source.span(index, count);
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    let Some(name) = name.map(str::to_string) else {
        let message = match body.get("name") {
            _ if !body.is_object() => "a job must be a mapping",
            Some(Value::String(_)) | None => "name is required",
            Some(_) => "name must be a string",
        };
        return Err(source.invalid(Some(line), format!("jobs[{index}]: {message}")));
    };
    let mut job = FileJob {
        name,
        body: Value::Null,
        path: source.path.to_path_buf(),
        line,
        fields,
    };
    if let Err(err) = resolver.resolve(&mut body, &mut Vec::new()) {
        let field = path::display(&err.path);
        let at = source.at(Some(job.line_of(&field)));
        return Err(JobFileError::Reference {
            at,
            field,
            message: err.message,
        });
    }
    // The name itself may hold a reference.
    if let Some(resolved) = body.get("name").and_then(Value::as_str) {
        job.name = resolved.to_string();
    }
    job.body = body;
    Ok(job)
}

/// Rejects a name defined twice; the later definition is the one reported.
fn check_duplicates(jobs: &[FileJob]) -> Result<(), JobFileError> {
    let mut seen: HashMap<&str, &FileJob> = HashMap::new();
    for job in jobs {
        if let Some(first) = seen.get(job.name.as_str()) {
            return Err(JobFileError::Duplicate {
                at: Position {
                    path: job.path.clone(),
                    line: Some(job.line),
                },
                name: job.name.clone(),
                first: Position {
                    path: first.path.clone(),
                    line: Some(first.line),
                },
            });
        }
        seen.insert(&job.name, job);
    }
    Ok(())
}
