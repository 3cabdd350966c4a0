//! A JSON body extractor whose errors are API errors naming the offending field
//! (`target.url`, `retry.backoff`…) instead of axum's plain-text 422.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::MAX_BODY;
use super::error::ApiError;
use crate::error::ErrorCode;

pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        require_json(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse(&bytes).map(Self)
    }
}

/// Every body must be declared JSON. A page on another site can make a browser POST a form
/// (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`) with our cookies
/// and without a CORS preflight; a JSON body needs a preflight, which this API never grants.
/// So refusing other types closes cross-site posts even where no CSRF token is asked (login).
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if given.as_deref().is_some_and(is_json) {
        return Ok(());
    }
    let mut error = ApiError::new(
        ErrorCode::UnsupportedMediaType,
        match given {
            Some(t) => {
                format!("the body must be JSON with Content-Type: application/json, not {t:?}")
            }
            None => "the body must be JSON with Content-Type: application/json (none was sent)"
                .to_owned(),
        },
    );
    error.field = Some("content-type".to_owned());
    Err(error)
}

/// `application/json` or a `+json` type, with any parameters (`; charset=utf-8`).
/// Hand-written: the one rule needs no media-type parser crate.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// Why a body could not be read: over the size limit is a 413 (axum's own answer would be
/// plain text), anything else a 400; both name `body`.
pub fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let mut error = ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than the limit of {MAX_BODY} bytes"),
        );
        error.field = Some("body".to_owned());
        return error;
    }
    ApiError::invalid(
        "body",
        format!("cannot read the body: {}", rejection.body_text()),
    )
}

/// Parses a JSON body; an error names the offending field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of this API is an object, but serde's derived structs also take an array of
    // their fields in order: the fuzzer's `[null, null]` reset an agent's weight override.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => Ok(value),
        Err(e) => {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            let parent = if path == "." || path.is_empty() {
                None
            } else {
                Some(path)
            };
            // serde reports an unknown or missing field at its parent's path; name the field.
            let unknown = message
                .strip_prefix("unknown field `")
                .or_else(|| message.strip_prefix("missing field `"))
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned);
            let field = match (parent, unknown) {
                (Some(p), Some(u)) if p == u || p.ends_with(&format!(".{u}")) => p,
                (Some(p), Some(u)) => format!("{p}.{u}"),
                (None, Some(u)) => u,
                (Some(p), None) => p,
                (None, None) => "body".to_owned(),
            };
            Err(ApiError::invalid(field, message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_json, parse};
    use crate::domain::agent::AgentPatch;

    #[test]
    fn only_json_content_types_pass() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json("multipart/form-data; boundary=x"));
        assert!(!is_json("application/jsonp"));
        assert!(!is_json(""));
    }

    #[test]
    fn a_body_must_be_an_object_not_the_fields_in_order() {
        let error = parse::<AgentPatch>(b" [null, null]").unwrap_err();
        assert_eq!(error.field.as_deref(), Some("body"));
        let patch = parse::<AgentPatch>(b"{\"weight\": null}").unwrap();
        assert_eq!(patch.weight, Some(None));
    }
}
