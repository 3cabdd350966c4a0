//! `GET /api/v1/openapi.json` on a real scheduler, MariaDB and etcd: it is an OpenAPI 3
//! document whose references all resolve, it lists exactly the routes of the README's API
//! table, and every operation it lists is served (a harmless call reaches its handler rather
//! than the 404 fallback or a 405).

mod common;

use std::collections::BTreeSet;

use crony_tests::{TestEnv, TestScheduler};
use reqwest::StatusCode;
use serde_json::{Value, json};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(s: &TestScheduler) -> anyhow::Result<Value> {
    let response = crony_tests::api_client()
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    Ok(response.json().await?)
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("$ref", Some(target)) => out.push(target),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_and_resolves() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let doc = document(&s).await?;

    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "openapi = {version:?}");
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths is an object");
    assert!(!paths.is_empty());

    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {target}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "$ref {target} does not resolve"
        );
    }

    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item is an object") {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            // Path templates and path parameters agree.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            let templated: BTreeSet<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, templated, "{method} {path}");
            // API errors are documented with their body, for every API operation.
            if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
                let errors: Vec<&Value> = responses
                    .iter()
                    .filter(|(status, _)| status.starts_with('4') || status.starts_with('5'))
                    .map(|(_, r)| r)
                    .collect();
                assert!(!errors.is_empty(), "{method} {path} documents no error");
                for error in errors {
                    assert_eq!(
                        error["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path}"
                    );
                }
            }
        }
    }
    // Every operation taking a body documents the 413 of the body limit.
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            if op.get("requestBody").is_some() {
                assert!(
                    op["responses"]["413"].is_object(),
                    "{method} {path} lacks 413"
                );
                assert!(
                    op["responses"]["415"].is_object(),
                    "{method} {path} lacks 415"
                );
            }
        }
    }
    // The async result endpoint declares its bearer token.
    let result = &doc["paths"]["/api/v1/executions/{id}/result"]["post"];
    assert_eq!(result["security"], json!([{ "report_token": [] }]));
    assert_eq!(
        doc["components"]["securitySchemes"]["report_token"]["scheme"],
        "bearer"
    );
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_route_is_served() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let doc = document(&s).await?;

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    // The routes the README documents (`common::routes`): adding a route means adding it
    // there, to the README, and (through `routes!`) to the document.
    let expected: BTreeSet<String> = common::routes::ROUTES
        .iter()
        .map(|(r, _)| r.to_string())
        .collect();
    assert_eq!(documented, expected);

    // Each documented operation, called with an unknown id and an empty body, reaches its
    // handler: never the fallback's "no API route" 404, never a 405, never a 5xx.
    let client = crony_tests::api_client();
    for route in &documented {
        let (method, path) = route.split_once(' ').expect("METHOD path");
        let url = s.url(
            &path
                .replace("{id}", "no-such-id")
                .replace("{name}", "no-such-name"),
        );
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut request = client.request(method.clone(), &url);
        if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
            request = request.json(&json!({}));
        }
        let response = request.send().await?;
        let status = response.status();
        let body = response.text().await?;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{route}");
        assert!(!status.is_server_error(), "{route}: {status} {body}");
        assert!(
            !body.contains("no API route"),
            "{route} is not served: {body}"
        );
    }
    // The fallback itself still answers JSON for what is not documented.
    let response = client.get(s.url("/api/v1/nothing-here")).send().await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await?;
    assert_eq!(body["error"]["code"], "not_found");
    s.stop().await;
    Ok(())
}

/// What `scripts/fuzz-api` found, kept fixed: input axum used to refuse in plain text (a
/// repeated query parameter, a path that is not UTF-8) is a JSON 400 naming the parameter, and
/// a body that is an array of the fields in order is refused instead of applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzer_findings_are_json_400s_naming_the_field() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let client = crony_tests::api_client();
    let cases = [
        (
            client.get(s.url("/api/v1/agents?state=online&state=offline")),
            "state",
        ),
        (client.get(s.url("/api/v1/jobs?limit=1&limit=2")), "limit"),
        (client.get(s.url("/api/v1/alerts?to=&to=")), "to"),
        (client.get(s.url("/api/v1/jobs/%FF")), "id"),
        (
            client
                .patch(s.url("/api/v1/agents/a1"))
                .header("content-type", "application/json")
                .body("[null, null]"),
            "body",
        ),
        (
            client
                .post(s.url("/api/v1/jobs"))
                .header("content-type", "application/json")
                .body("[\"x\"]"),
            "body",
        ),
        (
            client
                .post(s.url("/api/v1/alerts/test"))
                .header("content-type", "application/json")
                .body("[]"),
            "body",
        ),
    ];
    for (request, field) in cases {
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {text}");
        assert_eq!(body["error"]["code"], "invalid_argument", "{text}");
        assert_eq!(body["error"]["field"], field, "{text}");
    }
    s.stop().await;
    Ok(())
}
