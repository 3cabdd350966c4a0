//! `${env:NAME}` and `${file:PATH}` references in string values, so secrets stay out of git.

use std::path::Path;

use serde_json::Value;

use super::path::Seg;

/// What a reference needs: the environment and the job file's directory.
pub(crate) struct Resolver<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub dir: &'a Path,
}

/// A reference that could not be resolved, at a path inside the job.
pub(crate) struct RefError {
    pub path: Vec<Seg>,
    pub message: String,
}

impl Resolver<'_> {
    /// Resolves every string value under `value` in place (keys are left alone).
    pub(crate) fn resolve(&self, value: &mut Value, path: &mut Vec<Seg>) -> Result<(), RefError> {
        match value {
            Value::String(s) => {
                *s = self.expand(s).map_err(|message| RefError {
                    path: path.clone(),
                    message,
                })?;
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(Seg::Index(i));
                    self.resolve(item, path)?;
                    path.pop();
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    path.push(Seg::Key(key.clone()));
                    self.resolve(item, path)?;
                    path.pop();
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }

    /// Expands the references in one string; `$${` stands for a literal `${`.
    pub(crate) fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix("${") {
                let Some(close) = after.find('}') else {
                    return Err("unclosed `${` (write `$${` for a literal `${`)".to_string());
                };
                out.push_str(&self.reference(&after[..close])?);
                rest = &after[close + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn reference(&self, inner: &str) -> Result<String, String> {
        match inner.split_once(':') {
            Some(("env", name)) if valid_name(name) => {
                (self.env)(name).ok_or_else(|| format!("environment variable {name} is not set"))
            }
            Some(("file", file)) if !file.trim().is_empty() => self.file(file),
            _ => Err(format!(
                "unknown reference `${{{inner}}}`: use ${{env:NAME}} or ${{file:PATH}} \
                 (write `$${{` for a literal `${{`)"
            )),
        }
    }

    fn file(&self, file: &str) -> Result<String, String> {
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read file {}: {err}", path.display()))?;
        // Files written by editors end with a newline that is not part of the secret.
        let trimmed = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t));
        Ok(trimmed.unwrap_or(&text).to_string())
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '=')
}
