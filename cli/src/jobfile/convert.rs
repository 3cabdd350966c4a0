//! Turning parsed YAML and TOML into JSON, refusing what JSON (and so the API) cannot carry.

use serde_json::{Map, Number, Value};

use super::path::Seg;

/// A document that did not parse: the 1-based line if the parser knows it, and its message.
pub(crate) struct SyntaxError {
    pub line: Option<usize>,
    pub message: String,
}

/// A value JSON cannot hold, at a path from the document root (`jobs[2].target`).
pub(crate) struct ValueError {
    pub path: Vec<Seg>,
    pub message: String,
}

/// Either failure of [`yaml`] or [`toml`].
pub(crate) enum Error {
    Syntax(SyntaxError),
    Value(ValueError),
}

/// Parses YAML text into JSON (merge keys `<<` applied).
pub(crate) fn yaml(text: &str) -> Result<Value, Error> {
    let mut doc: serde_norway::Value = serde_norway::from_str(text).map_err(|err| {
        Error::Syntax(SyntaxError {
            line: err.location().map(|l| l.line()),
            message: err.to_string(),
        })
    })?;
    doc.apply_merge().map_err(|err| {
        Error::Syntax(SyntaxError {
            line: None,
            message: err.to_string(),
        })
    })?;
    from_yaml(&doc, &mut Vec::new()).map_err(Error::Value)
}

/// Parses TOML text into JSON.
pub(crate) fn toml(text: &str) -> Result<Value, Error> {
    let doc: toml::Table = toml::from_str(text).map_err(|err| {
        let line = err.span().map(|span| line_at(text, span.start));
        Error::Syntax(SyntaxError {
            line,
            message: err.message().to_string(),
        })
    })?;
    from_toml(&toml::Value::Table(doc), &mut Vec::new()).map_err(Error::Value)
}

/// The 1-based line holding byte `offset`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn fail<T>(path: &[Seg], message: String) -> Result<T, ValueError> {
    Err(ValueError {
        path: path.to_vec(),
        message,
    })
}

fn from_yaml(value: &serde_norway::Value, path: &mut Vec<Seg>) -> Result<Value, ValueError> {
    use serde_norway::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => yaml_number(n, path)?,
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => {
            Value::Array(collect(items.iter().enumerate(), path, |(i, v), path| {
                path.push(Seg::Index(i));
                let out = from_yaml(v, path);
                path.pop();
                out
            })?)
        }
        Y::Mapping(map) => yaml_mapping(map, path)?,
        Y::Tagged(tagged) => fail(
            path,
            format!("YAML tags are not supported (found {})", tagged.tag),
        )?,
    })
}

fn collect<I, T>(
    items: I,
    path: &mut Vec<Seg>,
    mut each: impl FnMut(T, &mut Vec<Seg>) -> Result<Value, ValueError>,
) -> Result<Vec<Value>, ValueError>
where
    I: Iterator<Item = T>,
{
    items.map(|item| each(item, path)).collect()
}

fn yaml_number(n: &serde_norway::Number, path: &[Seg]) -> Result<Value, ValueError> {
    if let Some(i) = n.as_i64() {
        return Ok(i.into());
    }
    if let Some(u) = n.as_u64() {
        return Ok(u.into());
    }
    match n.as_f64().and_then(Number::from_f64) {
        Some(f) => Ok(Value::Number(f)),
        None => fail(path, format!("{n} is not a number JSON can carry")),
    }
}

fn yaml_mapping(map: &serde_norway::Mapping, path: &mut Vec<Seg>) -> Result<Value, ValueError> {
    let mut out = Map::new();
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            path.push(Seg::Key(key_text(key)));
            return fail(
                path,
                format!("keys must be strings (found {}); quote it", key_text(key)),
            );
        };
        path.push(Seg::Key(key.to_string()));
        let value = from_yaml(value, path)?;
        path.pop();
        out.insert(key.to_string(), value);
    }
    Ok(Value::Object(out))
}

/// How a non-string key is written, so the line finder can still spot it.
fn key_text(key: &serde_norway::Value) -> String {
    serde_norway::to_string(key)
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

fn from_toml(value: &toml::Value, path: &mut Vec<Seg>) -> Result<Value, ValueError> {
    use toml::Value as T;
    Ok(match value {
        T::String(s) => Value::String(s.clone()),
        T::Integer(i) => Value::from(*i),
        T::Boolean(b) => Value::Bool(*b),
        T::Float(f) => match Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => fail(path, format!("{f} is not a number JSON can carry"))?,
        },
        T::Datetime(d) => fail(
            path,
            format!("TOML dates are not supported ({d}); quote it as a string"),
        )?,
        T::Array(items) => {
            Value::Array(collect(items.iter().enumerate(), path, |(i, v), path| {
                path.push(Seg::Index(i));
                let out = from_toml(v, path);
                path.pop();
                out
            })?)
        }
        T::Table(table) => {
            let mut map = Map::new();
            for (key, value) in table {
                path.push(Seg::Key(key.clone()));
                map.insert(key.clone(), from_toml(value, path)?);
                path.pop();
            }
            Value::Object(map)
        }
    })
}
