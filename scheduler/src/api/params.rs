//! Query-string and path extractors whose rejections are API errors naming the parameter
//! (`{"error": {"code": "invalid_argument", "field": "limit"}}`) instead of axum's plain-text
//! 400: the fuzzer found `?limit=1&limit=2` answered in a content type the API does not speak.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(e) => {
                let message = e.body_text();
                Err(ApiError::invalid(
                    named_field(&message).unwrap_or("query"),
                    message.clone(),
                ))
            }
        }
    }
}

pub struct ValidPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ValidPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            // Every path of this API has one parameter, `{id}`.
            Err(e) => Err(ApiError::invalid("id", e.body_text())),
        }
    }
}

/// The field serde names in backticks (``duplicate field `limit` ``), if any.
fn named_field(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    let (field, _) = rest.split_once('`')?;
    (!field.is_empty()).then_some(field)
}

#[cfg(test)]
mod tests {
    use super::named_field;

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(
            named_field("Failed to deserialize query string: duplicate field `state`"),
            Some("state")
        );
        assert_eq!(named_field("Failed to deserialize query string"), None);
    }
}
