//! One error vocabulary for the whole scheduler: every module's error maps to an [`ErrorCode`],
//! which decides the HTTP status and the gRPC code alike.

use axum::http::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidArgument,
    NotFound,
    Conflict,
    /// An async result for an execution whose agent report has not arrived yet (retry soon).
    NotRecordedYet,
    /// An async result for an execution that already has another final status.
    AlreadySettled,
    Unauthenticated,
    PermissionDenied,
    /// A change sent with a session cookie but without its CSRF token.
    CsrfFailed,
    /// Too many failed sign-ins; wait as `Retry-After` says.
    TooManyRequests,
    Unavailable,
    /// A test alert the channel refused or could not take (HTTP only: 502).
    DeliveryFailed,
    /// A request body over the API's size limit (413).
    PayloadTooLarge,
    /// A body that is not declared `application/json` (415): browsers send forms
    /// cross-site without asking, JSON only after a CORS preflight we never grant.
    UnsupportedMediaType,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::NotRecordedYet => "not_recorded_yet",
            ErrorCode::AlreadySettled => "already_settled",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::CsrfFailed => "csrf_failed",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::DeliveryFailed => "delivery_failed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict | ErrorCode::NotRecordedYet | ErrorCode::AlreadySettled => {
                StatusCode::CONFLICT
            }
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::PermissionDenied | ErrorCode::CsrfFailed => StatusCode::FORBIDDEN,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::DeliveryFailed => StatusCode::BAD_GATEWAY,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn grpc_code(self) -> tonic::Code {
        match self {
            ErrorCode::InvalidArgument => tonic::Code::InvalidArgument,
            ErrorCode::NotFound => tonic::Code::NotFound,
            ErrorCode::Conflict => tonic::Code::AlreadyExists,
            ErrorCode::NotRecordedYet => tonic::Code::Unavailable,
            ErrorCode::AlreadySettled => tonic::Code::FailedPrecondition,
            ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
            ErrorCode::PermissionDenied | ErrorCode::CsrfFailed => tonic::Code::PermissionDenied,
            ErrorCode::TooManyRequests => tonic::Code::ResourceExhausted,
            ErrorCode::Unavailable | ErrorCode::DeliveryFailed => tonic::Code::Unavailable,
            ErrorCode::PayloadTooLarge => tonic::Code::ResourceExhausted,
            ErrorCode::UnsupportedMediaType => tonic::Code::InvalidArgument,
            ErrorCode::Internal => tonic::Code::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API serializes the code with serde and logs it with `as_str`: they must agree.
    #[test]
    fn serde_names_match_as_str() {
        for code in [
            ErrorCode::InvalidArgument,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::NotRecordedYet,
            ErrorCode::AlreadySettled,
            ErrorCode::Unauthenticated,
            ErrorCode::PermissionDenied,
            ErrorCode::CsrfFailed,
            ErrorCode::TooManyRequests,
            ErrorCode::Unavailable,
            ErrorCode::DeliveryFailed,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::Internal,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }
}
