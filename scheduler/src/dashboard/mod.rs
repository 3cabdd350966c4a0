//! The admin dashboard: static files from `web/`, embedded into the binary at compile time
//! (debug builds too, so tests see exactly what ships), served at `/` and `/static/…`.
//!
//! The dashboard is a single page with hash routes (`/#/jobs/…`), so the server needs no
//! route per page: `/` is `index.html` and everything else it loads lives under `/static/`.
//! Files are not fingerprinted, so they are revalidated on every use (`no-cache` + ETag):
//! a new scheduler version is picked up at the next page load, and an unchanged file costs
//! a 304.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../web/"]
#[exclude = "README.md"]
struct Assets;

/// `GET /` and `GET /static/{*path}`; no other path, so the API, health and metrics routes
/// and the API's JSON 404s are untouched.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/static/{*path}", get(asset))
        // Alerts link to `{dashboard}/executions/{id}`, `/jobs/{id}` and `/agents/{id}`
        // (plain paths, readable in an email): send them to the page's hash route.
        .route("/jobs/{id}", get(|Path(id): Path<String>| page("jobs", id)))
        .route(
            "/executions/{id}",
            get(|Path(id): Path<String>| page("executions", id)),
        )
        .route("/agents/{id}", get(|| async { Redirect::to("/#/agents") }))
}

async fn page(kind: &str, id: String) -> Redirect {
    // Ids are ours (UUIDs, ULIDs); anything else is escaped so it stays inside the fragment.
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    Redirect::to(&format!("/#/{kind}/{id}"))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("static/{path}"), &headers)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(path))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Everything the dashboard loads comes from this server; nothing inline, nothing remote.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_has_a_known_type() {
        let files: Vec<String> = Assets::iter().map(|f| f.to_string()).collect();
        assert!(files.iter().any(|f| f == "index.html"), "{files:?}");
        for f in files {
            assert_ne!(content_type(&f), "application/octet-stream", "{f}");
        }
    }
}
