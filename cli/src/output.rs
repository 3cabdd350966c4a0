//! `--output table|json|yaml`: every command answers through here, so scripts can always ask
//! for JSON and people get aligned columns.

use serde_json::Value;

use crate::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    #[default]
    Table,
    Json,
    Yaml,
}

/// A column of a table: its header and where its value is in each row (a JSON pointer).
pub type Column = (&'static str, &'static str);

impl Output {
    /// Prints a list: a table of `columns`, or the rows as they are in JSON and YAML.
    pub fn list(self, rows: &[Value], columns: &[Column]) -> Result<(), CliError> {
        match self {
            Output::Table => {
                print!("{}", table(rows, columns));
                Ok(())
            }
            _ => self.value(&Value::Array(rows.to_vec())),
        }
    }

    /// Prints one object: `key: value` lines of `columns` in a table, whole otherwise.
    pub fn one(self, value: &Value, columns: &[Column]) -> Result<(), CliError> {
        match self {
            Output::Table => {
                let width = columns.iter().map(|(h, _)| h.len()).max().unwrap_or(0);
                for (header, pointer) in columns {
                    println!("{header:<width$}  {}", cell(value.pointer(pointer)));
                }
                Ok(())
            }
            _ => self.value(value),
        }
    }

    /// Prints a value as JSON or YAML (a table falls back to YAML: it reads best).
    pub fn value(self, value: &Value) -> Result<(), CliError> {
        let text = match self {
            Output::Json => serde_json::to_string_pretty(value).map(|t| t + "\n").ok(),
            _ => serde_norway::to_string(value).ok(),
        };
        print!(
            "{}",
            text.ok_or_else(|| CliError::Io("answer not printable".into()))?
        );
        Ok(())
    }
}

/// Aligned columns, one row per value; missing values are `-`.
pub fn table(rows: &[Value], columns: &[Column]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|(_, p)| cell(row.pointer(p))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (header, _))| {
            let widest = cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0);
            widest.max(header.len())
        })
        .collect();
    let line = |values: Vec<String>| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(columns.iter().map(|(h, _)| h.to_string()).collect());
    for row in cells {
        out += &line(row);
    }
    out
}

/// One value as a table shows it: strings bare, lists joined, nothing as `-`.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.replace('\n', " "),
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items.iter().map(|v| cell(Some(v))).collect();
            parts.join(",")
        }
        Some(Value::Object(map)) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", cell(Some(v))))
                .collect();
            parts.join(",")
        }
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_show_missing_values_as_dashes() {
        let rows = [
            json!({"name": "a", "schedule": "@daily", "agent_id": null}),
            json!({"name": "longer-name", "schedule": "*/5 * * * *", "agent_id": "ag-1"}),
        ];
        let text = table(
            &rows,
            &[
                ("NAME", "/name"),
                ("SCHEDULE", "/schedule"),
                ("AGENT", "/agent_id"),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME         SCHEDULE     AGENT");
        assert_eq!(lines[1], "a            @daily       -");
        assert_eq!(lines[2], "longer-name  */5 * * * *  ag-1");
    }
}
