//! API errors as `{"error": {"code", "message", "field"?}}` with the status of their code.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ErrorCode;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidArgument,
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

impl From<crate::domain::job::FieldError> for ApiError {
    fn from(e: crate::domain::job::FieldError) -> Self {
        Self::invalid(e.field, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        (self.code.http_status(), Json(json!({ "error": error }))).into_response()
    }
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no API route for {}", uri.path()),
    )
}
