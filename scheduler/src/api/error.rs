//! API errors as `{"error": {"code", "message", "field"?}}` with the status of their code.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ErrorCode;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header (throttled logins).
    pub retry_after: Option<u64>,
}

/// Every error answer of the API (the body of each 4xx and 5xx).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What went wrong, in words meant for the person who sent the request.
    pub message: String,
    /// The request field at fault (`target.url`, `limit`, `body`…), for 400s and name clashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The alert recorded for a failed test delivery (`delivery_failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidArgument,
            message: message.into(),
            field: Some(field.into()),
            retry_after: None,
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
        // A 500's cause (a database error text, a path) is for the operator, not the caller:
        // it is logged with a reference the opaque answer repeats.
        let message = if self.code == ErrorCode::Internal {
            let reference = uuid::Uuid::now_v7().simple().to_string();
            tracing::error!(%reference, cause = %self.message, "internal error answered as 500");
            format!("internal error (reference {reference}; the cause is in the scheduler's log)")
        } else {
            self.message
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message,
                field: self.field,
                id: None,
            },
        };
        let mut response = (self.code.http_status(), Json(body)).into_response();
        let headers = response.headers_mut();
        if self.code == ErrorCode::Unauthenticated {
            headers.insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"crony\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no API route for {}", uri.path()),
    )
}
