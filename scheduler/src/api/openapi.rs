//! `GET /api/v1/openapi.json`: the OpenAPI document of the HTTP API, generated from the
//! handlers' `#[utoipa::path]` attributes and the request and response types, so it cannot
//! drift from what the router serves (see `super::documented`).

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};
use crate::error::ErrorCode;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Crony scheduler API",
        description = "Jobs, executions, agents, alerts and health of a Crony cluster. Errors are \
            `{\"error\": {\"code\", \"message\", \"field\"?}}`; a 400 names the request field at fault."
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    modifiers(&Credentials),
    tags(
        (name = "jobs", description = "Job definitions and control"),
        (name = "executions", description = "History, kill, async results"),
        (name = "agents", description = "The fleet"),
        (name = "cron", description = "Schedule preview"),
        (name = "alerts", description = "Alert history and test alerts"),
        (name = "stats", description = "Dashboard figures"),
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "auth", description = "Sign in and out, who am I, first setup"),
        (name = "users", description = "Accounts and roles (admins)"),
        (name = "tokens", description = "API tokens (admins)"),
        (name = "audit", description = "Who changed what"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The credentials the API takes. Each operation's `security` lists the least role it needs
/// as the requirement's scope (viewer < operator < admin).
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`crony_…`) made by an admin with `POST /api/v1/tokens`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "crony_session",
                "The dashboard's session cookie from `POST /api/v1/auth/login`; every change \
                 also needs the `X-CSRF-Token` header",
            ))),
        );
        components.add_security_scheme(
            "report_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The execution's report token, sent to the job as `X-Crony-Report-Token` \
                         (HTTP) or `x-crony-report-token` (gRPC); valid for that execution only",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as served, serialized once at start-up.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses(
    (status = 200, description = "The OpenAPI 3.1 document of this API", body = serde_json::Value),
))]
pub async fn document(Extension(doc): Extension<Document>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
}

/// The generated document as JSON, with every `allOf` of a component schema merged into one
/// object. utoipa renders `#[serde(flatten)]` as `allOf`, and a flattened request type with
/// `deny_unknown_fields` (`JobSpec`) carries `additionalProperties: false`, which would make
/// every answer that adds fields to it (`Job`: `id`, `agent_id`…) invalid against its own schema.
pub fn render(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or(Value::Null);
    let Some(schemas) = value
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
    else {
        return value;
    };
    let merged: Map<String, Value> = schemas
        .iter()
        .map(|(name, schema)| (name.clone(), merge_all_of(schema, &schemas, 0)))
        .collect();
    if let Some(slot) = value.pointer_mut("/components/schemas") {
        *slot = Value::Object(merged);
    }
    allow_empty_optional_queries(&mut value);
    add_common_errors(&mut value);
    value
}

/// Answers every operation of a kind may give, said once here rather than in each handler's
/// attribute: 401 (no credentials, or an unknown, revoked or expired one) and 403 (role too
/// low, or a session change without its CSRF token) wherever an API token or session is
/// needed, and 413 (over 1 MiB) and 415 (not `application/json`) wherever a body is taken.
fn add_common_errors(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let error = |description: &str| {
        serde_json::json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        })
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        // Operations open to API tokens and sessions (not the report token's own endpoint).
        let secured = operation
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|r| r.get("token").is_some()));
        let takes_body = operation.get("requestBody").is_some();
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if secured {
            responses
                .entry("401")
                .or_insert_with(|| error("No credentials, or an unknown, revoked or expired one"));
            responses.entry("403").or_insert_with(|| {
                error("The role is too low, or a session change lacks X-CSRF-Token")
            });
        }
        if takes_body {
            responses
                .entry("413")
                .or_insert_with(|| error("The body is over 1 MiB (`field` = `body`)"));
            responses.entry("415").or_insert_with(|| {
                error("The body is not sent as `Content-Type: application/json` (`field` = `content-type`)")
            });
        }
    }
}

/// Every handler reads an empty optional query parameter as absent (`?state=`, as HTML forms
/// send it); utoipa's `IntoParams` cannot say so per field, so it is said here for all of them.
fn allow_empty_optional_queries(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for parameter in parameters.iter_mut().filter_map(Value::as_object_mut) {
            let optional = parameter.get("required") != Some(&Value::Bool(true));
            if parameter.get("in") == Some(&Value::from("query")) && optional {
                parameter.insert("allowEmptyValue".into(), Value::Bool(true));
            }
        }
    }
}

/// Flattens one schema: an `allOf` of objects (references or inline) becomes one object with
/// the union of their properties and required fields, and no `additionalProperties`.
fn merge_all_of(schema: &Value, schemas: &Map<String, Value>, depth: usize) -> Value {
    // Flatten chains are a few levels deep; the bound only guards against a reference cycle.
    let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
        return schema.clone();
    };
    if depth > 8 {
        return schema.clone();
    }
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for part in parts {
        let resolved = match part.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                match schemas.get(name) {
                    Some(target) => merge_all_of(target, schemas, depth + 1),
                    None => return schema.clone(),
                }
            }
            None => merge_all_of(part, schemas, depth + 1),
        };
        // Only plain objects can be merged (an internally tagged enum is a `oneOf`).
        let Some(props) = resolved.get("properties").and_then(Value::as_object) else {
            return schema.clone();
        };
        properties.extend(props.clone());
        if let Some(names) = resolved.get("required").and_then(Value::as_array) {
            for name in names {
                if !required.contains(name) {
                    required.push(name.clone());
                }
            }
        }
    }
    let mut object = Map::new();
    object.insert("type".into(), Value::from("object"));
    if let Some(description) = schema.get("description") {
        object.insert("description".into(), description.clone());
    }
    object.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        object.insert("required".into(), Value::Array(required));
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn flattened_answers_are_single_objects() {
        let doc = super::super::openapi_document();
        if std::env::var_os("CRONY_PRINT_OPENAPI").is_some() {
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
        let job = &doc["components"]["schemas"]["JobView"];
        assert_eq!(job["type"], "object", "{job}");
        for field in ["id", "name", "target", "agent_id", "next_fires"] {
            assert!(
                job["properties"][field].is_object(),
                "JobView lacks {field}"
            );
        }
        assert_eq!(job.get("additionalProperties"), None);
        // The request keeps refusing unknown fields.
        let spec = &doc["components"]["schemas"]["JobSpec"];
        assert_eq!(spec["additionalProperties"], Value::Bool(false));
    }
}
