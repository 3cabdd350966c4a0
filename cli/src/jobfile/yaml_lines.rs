//! Line finding for YAML job files: a light indentation scan of the text (serde's values carry no
//! positions), good enough for block-style files; flow style degrades to the enclosing key's line.

use super::path::{FieldIndex, Layout, Seg, record};

/// Indent and text of a line that holds YAML content (not blank, not a comment).
fn content(line: &str) -> Option<(usize, &str)> {
    let text = line.trim_start_matches(' ');
    let text = text.trim_end();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    Some((line.len() - line.trim_start_matches(' ').len(), text))
}

/// The text after a sequence dash, if the line is a list item.
fn dash_rest(text: &str) -> Option<&str> {
    if text == "-" {
        return Some("");
    }
    // Keep the space: callers measure the column of what follows the dash.
    text.starts_with("- ").then(|| &text[1..])
}

/// Splits `key: value` into the key (unquoted) and the value text.
pub(crate) fn key_of(text: &str) -> Option<(String, &str)> {
    if let Some(quote) = text.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let body = &text[1..];
        let close = closing_quote(body, quote)?;
        let rest = body[close + 1..].trim_start().strip_prefix(':')?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        return Some((unquote(&body[..close], quote), rest.trim_start()));
    }
    if text.starts_with(['[', '{', '#', '&', '*', '!', '|', '>', '%', '@', '`', '?']) {
        return None;
    }
    let colon = text
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| text[i + 1..].is_empty() || text[i + 1..].starts_with(' '))?;
    let key = text[..colon].trim_end();
    (!key.is_empty()).then(|| (key.to_string(), text[colon + 1..].trim_start()))
}

fn closing_quote(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if quote == '"' && c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        if c == quote && !escaped {
            return Some(i);
        }
        escaped = false;
    }
    None
}

fn unquote(key: &str, quote: char) -> String {
    if quote == '"' {
        key.replace("\\\"", "\"")
    } else {
        key.replace("''", "'")
    }
}

/// Finds the `jobs:` key at the top level and the list items under it.
pub(crate) fn layout(lines: &[&str]) -> Layout {
    let mut layout = Layout::default();
    let Some((jobs_idx, top)) = jobs_key(lines) else {
        return layout;
    };
    layout.jobs_line = Some(jobs_idx + 1);
    let starts = item_starts(lines, jobs_idx, top);
    for (n, &(start, col)) in starts.iter().enumerate() {
        let end = starts
            .get(n + 1)
            .map_or_else(|| list_end(lines, start, col), |s| s.0);
        layout
            .spans
            .push((start + 1, item_fields(lines, start, end, col)));
    }
    layout
}

/// The 0-based line of the top-level `jobs` key and the top level's indent.
fn jobs_key(lines: &[&str]) -> Option<(usize, usize)> {
    let mut top = None;
    for (i, line) in lines.iter().enumerate() {
        let Some((col, text)) = content(line) else {
            continue;
        };
        if text.starts_with("---") || text.starts_with('%') {
            continue;
        }
        let top_col = *top.get_or_insert(col);
        if col == top_col && key_of(text).is_some_and(|(k, _)| k == "jobs") {
            return Some((i, top_col));
        }
    }
    None
}

/// 0-based lines and dash columns of the items of the list that follows the `jobs` key.
fn item_starts(lines: &[&str], jobs_idx: usize, top: usize) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    let mut list_col = None;
    for (i, line) in lines.iter().enumerate().skip(jobs_idx + 1) {
        let Some((col, text)) = content(line) else {
            continue;
        };
        let is_item = dash_rest(text).is_some();
        let want = *list_col.get_or_insert(col);
        if col < want || col < top || (col == want && !is_item) || text.starts_with("---") {
            break;
        }
        if col == want {
            starts.push((i, col));
        }
    }
    starts
}

/// The 0-based line after the last item's content (the list ends at a line indented no deeper
/// than the dash that is not another item).
fn list_end(lines: &[&str], start: usize, col: usize) -> usize {
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if let Some((c, text)) = content(line)
            && (c < col || (c == col && dash_rest(text).is_none()) || text.starts_with("---"))
        {
            return i;
        }
    }
    lines.len()
}

/// An open node while scanning: a key or a list item, with the column it sits at.
struct Frame {
    col: usize,
    path: Vec<Seg>,
    item: bool,
    next_index: usize,
}

struct Scan {
    stack: Vec<Frame>,
    fields: FieldIndex,
    /// Inside a block scalar (`|`, `>`): lines deeper than this column are its text.
    block: Option<usize>,
}

/// Indexes the fields of one list item (lines `start..end`, the item's dash at column `col`).
fn item_fields(lines: &[&str], start: usize, end: usize, col: usize) -> FieldIndex {
    let root = Frame {
        col,
        path: Vec::new(),
        item: true,
        next_index: 0,
    };
    let mut scan = Scan {
        stack: vec![root],
        fields: FieldIndex::new(),
        block: None,
    };
    let first = lines.get(start).copied().unwrap_or_default();
    if let Some(rest) = content(first).and_then(|(_, t)| dash_rest(t)) {
        scan.after_dash(start, col, rest);
    }
    for (i, line) in lines.iter().enumerate().take(end).skip(start + 1) {
        scan.line(i, line);
    }
    scan.fields
}

impl Scan {
    fn line(&mut self, idx: usize, raw: &str) {
        let Some((col, text)) = content(raw) else {
            return;
        };
        if let Some(block_col) = self.block {
            if col > block_col {
                return;
            }
            self.block = None;
        }
        self.node(idx, col, text);
    }

    fn node(&mut self, idx: usize, col: usize, text: &str) {
        if let Some(rest) = dash_rest(text) {
            self.item(idx, col);
            self.after_dash(idx, col, rest);
        } else if let Some((key, value)) = key_of(text) {
            self.key(idx, col, key);
            if value.starts_with(['|', '>']) {
                self.block = Some(col);
            }
        }
    }

    /// The content on an item's own line (`- name: x`, `- - a`, `- |`).
    fn after_dash(&mut self, idx: usize, col: usize, rest: &str) {
        let text = rest.trim_start_matches(' ');
        if text.starts_with(['|', '>']) {
            self.block = Some(col);
        } else if !text.is_empty() && !text.starts_with('#') {
            let offset = 1 + rest.len() - text.len();
            self.node(idx, col + offset, text.trim_end());
        }
    }

    fn item(&mut self, idx: usize, col: usize) {
        // A sibling item closes the previous one; `key:` may own a list at its own column.
        while self.stack.len() > 1
            && self
                .top()
                .is_some_and(|f| f.col > col || (f.col == col && f.item))
        {
            self.stack.pop();
        }
        let Some(owner) = self.stack.last_mut() else {
            return;
        };
        let mut path = owner.path.clone();
        path.push(Seg::Index(owner.next_index));
        owner.next_index += 1;
        record(&mut self.fields, &path, idx + 1);
        self.stack.push(Frame {
            col,
            path,
            item: true,
            next_index: 0,
        });
    }

    fn key(&mut self, idx: usize, col: usize, key: String) {
        while self.stack.len() > 1 && self.top().is_some_and(|f| f.col >= col) {
            self.stack.pop();
        }
        let mut path = self.top().map(|f| f.path.clone()).unwrap_or_default();
        path.push(Seg::Key(key));
        record(&mut self.fields, &path, idx + 1);
        self.stack.push(Frame {
            col,
            path,
            item: false,
            next_index: 0,
        });
    }

    fn top(&self) -> Option<&Frame> {
        self.stack.last()
    }
}

/// The 1-based line of a top-level key (for "unknown key" errors).
pub(crate) fn top_key_line(lines: &[&str], key: &str) -> Option<usize> {
    let top = lines
        .iter()
        .find_map(|l| content(l).filter(|(_, t)| !t.starts_with("---")))?
        .0;
    lines
        .iter()
        .position(|l| {
            content(l).is_some_and(|(c, t)| c == top && key_of(t).is_some_and(|(k, _)| k == key))
        })
        .map(|i| i + 1)
}
