//! What a change to a job would change, field by field: the answer of every `dry_run` and of
//! `crony apply`'s plan. Pure: two specs in, a list of changed fields out.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::job::JobSpec;

/// One field that differs, by its dotted path (`timeout_secs`, `target.url`, `target.env.KEY`).
/// Lists are compared whole. Values are shown with secrets redacted.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldChange {
    pub field: String,
    /// Absent when the field is new.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// Absent when the field goes away.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    /// A secret changed: `before` and `after` show only the placeholder.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// The fields that differ between `before` and `after` (`None`: the job does not exist on that
/// side), in path order. Empty when nothing would change.
pub fn diff(before: Option<&JobSpec>, after: Option<&JobSpec>) -> Vec<FieldChange> {
    let raw_before = leaves(before);
    let raw_after = leaves(after);
    let shown_before = leaves(before.map(JobSpec::redacted).as_ref());
    let shown_after = leaves(after.map(JobSpec::redacted).as_ref());
    let mut fields: Vec<&String> = raw_before.keys().chain(raw_after.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|field| raw_before.get(*field) != raw_after.get(*field))
        .map(|field| {
            let shown = (shown_before.get(field), shown_after.get(field));
            FieldChange {
                field: field.clone(),
                before: shown.0.cloned(),
                after: shown.1.cloned(),
                // The real values differ while what may be shown does not: only a secret did.
                secret: shown.0 == shown.1,
            }
        })
        .collect()
}

/// A spec as `path → value`, objects flattened and everything else (lists included) kept whole.
fn leaves(spec: Option<&JobSpec>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(spec) = spec {
        let value = serde_json::to_value(spec).expect("job spec serialises");
        flatten("", value, &mut out);
    }
    out
}

fn flatten(prefix: &str, value: Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() || prefix.is_empty() => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, value, out);
            }
        }
        // An empty map has no fields: `{}` and no map are the same job.
        Value::Object(_) => {}
        other => {
            out.insert(prefix.to_owned(), other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: Value) -> JobSpec {
        serde_json::from_value(json).unwrap()
    }

    fn http(extra: Value) -> JobSpec {
        let mut base = serde_json::json!({
            "name": "ping", "schedule": "@every 1m",
            "target": {"kind": "http", "url": "http://127.0.0.1:9/a",
                       "headers": {"Authorization": "Bearer one"},
                       "secret_headers": ["Authorization"]},
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        spec(base)
    }

    #[test]
    fn equal_specs_have_no_changes() {
        assert!(
            diff(
                Some(&http(serde_json::json!({}))),
                Some(&http(serde_json::json!({})))
            )
            .is_empty()
        );
    }

    #[test]
    fn changed_fields_are_named_by_path() {
        let after = http(serde_json::json!({"timeout_secs": 5, "description": "nightly"}));
        let changes = diff(Some(&http(serde_json::json!({}))), Some(&after));
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["description", "timeout_secs"]);
        assert_eq!(changes[1].before, Some(Value::from(60)));
        assert_eq!(changes[1].after, Some(Value::from(5)));
        assert!(!changes[1].secret);
    }

    #[test]
    fn a_secret_change_never_shows_the_secret() {
        let mut after = http(serde_json::json!({}));
        if let crate::domain::job::Target::Http { headers, .. } = &mut after.target {
            headers.insert("Authorization".into(), "Bearer two".into());
        }
        let changes = diff(Some(&http(serde_json::json!({}))), Some(&after));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "target.headers.Authorization");
        assert!(changes[0].secret);
        let shown = serde_json::to_string(&changes).unwrap();
        assert!(!shown.contains("one") && !shown.contains("two"), "{shown}");
    }

    #[test]
    fn creation_and_deletion_list_every_field() {
        let job = http(serde_json::json!({}));
        let created = diff(None, Some(&job));
        assert!(
            created
                .iter()
                .all(|c| c.before.is_none() && c.after.is_some())
        );
        assert!(created.iter().any(|c| c.field == "target.url"));
        let deleted = diff(Some(&job), None);
        assert_eq!(deleted.len(), created.len());
        assert!(deleted.iter().all(|c| c.after.is_none()));
    }
}
