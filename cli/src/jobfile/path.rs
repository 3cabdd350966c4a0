//! Field paths as the API names them (`target.env.FOO`, `alerts.emails[0]`) and the per-job index
//! from such paths to the line where the field is written.

use std::collections::HashMap;

/// One step of a field path: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Where each field of one job is written: path → 1-based line (first occurrence wins).
pub(crate) type FieldIndex = HashMap<Vec<Seg>, usize>;

/// Where the jobs of a file are written, as found by scanning its text.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// 1-based line of the `jobs` key (YAML) or the first `[[jobs]]` (TOML).
    pub jobs_line: Option<usize>,
    /// Per job in file order: its 1-based first line and its field index.
    pub spans: Vec<(usize, FieldIndex)>,
}

/// Records `path` and every prefix of it at `line`, keeping lines already known: a parent first seen
/// through a dotted key or a table header is still found.
pub(crate) fn record(fields: &mut FieldIndex, path: &[Seg], line: usize) {
    for end in 1..=path.len() {
        fields.entry(path[..end].to_vec()).or_insert(line);
    }
}

/// The line of the deepest prefix of `path` that the index knows.
pub(crate) fn lookup(fields: &FieldIndex, path: &[Seg]) -> Option<usize> {
    (1..=path.len())
        .rev()
        .find_map(|end| fields.get(&path[..end]).copied())
}

/// Parses `a.b[2].c` and `headers["X-Y"]`; never fails, odd input just yields odd keys.
pub(crate) fn parse(field: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut key = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' => flush(&mut segs, &mut key),
            '[' => {
                flush(&mut segs, &mut key);
                let inner: String = chars.by_ref().take_while(|&c| c != ']').collect();
                segs.push(bracket(&inner));
            }
            _ => key.push(c),
        }
    }
    flush(&mut segs, &mut key);
    segs
}

fn flush(segs: &mut Vec<Seg>, key: &mut String) {
    if !key.is_empty() {
        segs.push(Seg::Key(std::mem::take(key)));
    }
}

fn bracket(inner: &str) -> Seg {
    let inner = inner.trim();
    if let Ok(n) = inner.parse::<usize>() {
        return Seg::Index(n);
    }
    let unquoted = inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(inner);
    Seg::Key(unquoted.to_string())
}

/// Renders a path the way the API writes it: `alerts.emails[0]`.
pub(crate) fn display(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(n) => out.push_str(&format!("[{n}]")),
        }
    }
    out
}
