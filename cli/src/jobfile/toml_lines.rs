//! Line finding for TOML job files: `[[jobs]]` headers start jobs; table headers, (dotted) keys
//! and arrays written one element per line are indexed. Inline tables resolve to their key's line.

use std::collections::HashMap;

use super::path::{FieldIndex, Layout, Seg, record};

/// The text of a line without its comment and surrounding space, if anything is left.
fn content(line: &str) -> Option<&str> {
    let text = strip_comment(line).trim();
    (!text.is_empty()).then_some(text)
}

/// Cuts a `#` comment that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some('"'), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), _) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return &line[..i],
            _ => {}
        }
        escaped = false;
    }
    line
}

/// Splits a dotted key (`a."b.c".d`) at dots outside quotes; `None` if a part is not a key.
fn split_dotted(key: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quote = None;
    for c in key.chars() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => part.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, '.') => parts.push(std::mem::take(&mut part)),
            (None, ' ' | '\t') => {}
            (None, c) if c.is_ascii_alphanumeric() || c == '_' || c == '-' => part.push(c),
            (None, _) => return None,
        }
    }
    parts.push(part);
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

/// `[a.b]` → (false, [a, b]); `[[a.b]]` → (true, [a, b]).
fn header(text: &str) -> Option<(bool, Vec<String>)> {
    if let Some(inner) = text.strip_prefix("[[").and_then(|t| t.strip_suffix("]]")) {
        return split_dotted(inner).map(|segs| (true, segs));
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    split_dotted(inner).map(|segs| (false, segs))
}

/// `a.b = value` → ([a, b], value).
fn key_value(text: &str) -> Option<(Vec<String>, &str)> {
    let eq = outside_quotes(text, '=')?;
    Some((split_dotted(&text[..eq])?, text[eq + 1..].trim()))
}

fn outside_quotes(text: &str, wanted: char) -> Option<usize> {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, _) if c == wanted => return Some(i),
            _ => {}
        }
    }
    None
}

fn is_jobs_item(text: &str) -> bool {
    header(text).is_some_and(|(array, segs)| array && segs == ["jobs"])
}

/// Finds the `[[jobs]]` tables and indexes each one's fields.
pub(crate) fn layout(lines: &[&str]) -> Layout {
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| content(lines[i]).is_some_and(is_jobs_item))
        .collect();
    let jobs_line = starts
        .first()
        .map(|i| i + 1)
        .or_else(|| top_key_line(lines, "jobs"));
    let mut spans = Vec::new();
    for &start in &starts {
        let end = job_end(lines, start);
        spans.push((start + 1, job_fields(lines, start + 1, end)));
    }
    Layout { jobs_line, spans }
}

/// The 0-based line where the job starting at `start` ends: the next header outside this job.
fn job_end(lines: &[&str], start: usize) -> usize {
    (start + 1..lines.len())
        .find(|&i| {
            content(lines[i])
                .and_then(header)
                .is_some_and(|(array, segs)| {
                    segs.first().is_none_or(|s| s != "jobs") || (array && segs.len() == 1)
                })
        })
        .unwrap_or(lines.len())
}

/// What the previous lines left open.
enum Mode {
    Normal,
    /// A multi-line string closed by this delimiter.
    Text(&'static str),
    /// A multi-line array: its path, bracket depth and next element index.
    Array(Vec<Seg>, i32, usize),
}

struct Scan {
    fields: FieldIndex,
    table: Vec<Seg>,
    /// Arrays of tables seen so far (path → element count), to number `[[jobs.x]]` headers.
    arrays: HashMap<Vec<Seg>, usize>,
    mode: Mode,
}

fn job_fields(lines: &[&str], start: usize, end: usize) -> FieldIndex {
    let mut scan = Scan {
        fields: FieldIndex::new(),
        table: Vec::new(),
        arrays: HashMap::new(),
        mode: Mode::Normal,
    };
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        scan.line(i, line);
    }
    scan.fields
}

impl Scan {
    fn line(&mut self, idx: usize, raw: &str) {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Text(delim) if !raw.contains(delim) => self.mode = Mode::Text(delim),
            Mode::Text(_) => {}
            Mode::Array(path, depth, next) => self.array_line(idx, raw, path, depth, next),
            Mode::Normal => self.normal_line(idx, raw),
        }
    }

    fn normal_line(&mut self, idx: usize, raw: &str) {
        let Some(text) = content(raw) else { return };
        if let Some((array, segs)) = header(text) {
            self.header(idx, array, segs.get(1..).unwrap_or_default());
        } else if let Some((keys, value)) = key_value(text) {
            let mut path = self.table.clone();
            path.extend(keys.into_iter().map(Seg::Key));
            record(&mut self.fields, &path, idx + 1);
            self.value(value, path);
        }
    }

    /// Notes a value that continues on the next lines.
    fn value(&mut self, value: &str, path: Vec<Seg>) {
        for delim in ["\"\"\"", "'''"] {
            if let Some(rest) = value.strip_prefix(delim) {
                if !rest.contains(delim) {
                    self.mode = Mode::Text(delim);
                }
                return;
            }
        }
        if value.starts_with('[') {
            let depth = bracket_depth(value);
            if depth > 0 {
                self.mode = Mode::Array(path, depth, 0);
            }
        }
    }

    fn array_line(&mut self, idx: usize, raw: &str, path: Vec<Seg>, depth: i32, mut next: usize) {
        let Some(text) = content(raw) else {
            self.mode = Mode::Array(path, depth, next);
            return;
        };
        if depth == 1 && !text.starts_with(']') {
            let mut element = path.clone();
            element.push(Seg::Index(next));
            record(&mut self.fields, &element, idx + 1);
            next += 1;
        }
        let depth = depth + bracket_depth(text);
        if depth > 0 {
            self.mode = Mode::Array(path, depth, next);
        }
    }

    /// `[jobs.a.b]` or `[[jobs.a.b]]`: later keys belong to `a.b` (numbered if an array of tables).
    fn header(&mut self, idx: usize, array: bool, segs: &[String]) {
        let mut path = Vec::new();
        for (n, seg) in segs.iter().enumerate() {
            path.push(Seg::Key(seg.clone()));
            if array && n + 1 == segs.len() {
                let count = self.arrays.entry(path.clone()).or_insert(0);
                *count += 1;
                path.push(Seg::Index(*count - 1));
            } else if let Some(count) = self.arrays.get(&path) {
                path.push(Seg::Index(count.saturating_sub(1)));
            }
        }
        record(&mut self.fields, &path, idx + 1);
        self.table = path;
    }
}

/// `[` minus `]` outside strings.
fn bracket_depth(text: &str) -> i32 {
    let mut depth = 0;
    let mut quote = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// The 1-based line of a top-level key or of a table header under it.
pub(crate) fn top_key_line(lines: &[&str], key: &str) -> Option<usize> {
    let mut in_table = false;
    for (i, line) in lines.iter().enumerate() {
        let Some(text) = content(line) else { continue };
        if let Some((_, segs)) = header(text) {
            if segs.first().is_some_and(|s| s == key) {
                return Some(i + 1);
            }
            in_table = true;
        } else if !in_table
            && key_value(text).is_some_and(|(k, _)| k.first().is_some_and(|s| s == key))
        {
            return Some(i + 1);
        }
    }
    None
}
