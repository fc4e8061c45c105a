//! The one error type of the API and its wire format:
//! `{"status":"error","message","error_code","details","timestamp"}`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::http::Response;

/// Machine-readable error codes: the API reference's, plus routing,
/// transport and rate-limit ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    /// The client may not use this endpoint at all (`WEBHOOK_SOURCE_IPS`).
    Forbidden,
    InvalidSignature,
    InvalidJson,
    MissingRequiredField,
    InvalidDateFormat,
    InvalidFieldValue,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimitExceeded,
    SyncInProgress,
    CaldavConnectionError,
    /// The CalDAV server holds the item's UID somewhere the service cannot
    /// write it (another calendar of the account, an href it did not name).
    CaldavConflict,
    PlaneApiError,
    /// The state store (the host's, or Redis behind it) cannot be used now.
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::InvalidSignature,
        ErrorCode::InvalidJson,
        ErrorCode::MissingRequiredField,
        ErrorCode::InvalidDateFormat,
        ErrorCode::InvalidFieldValue,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimitExceeded,
        ErrorCode::SyncInProgress,
        ErrorCode::CaldavConnectionError,
        ErrorCode::CaldavConflict,
        ErrorCode::PlaneApiError,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::InvalidSignature => "INVALID_SIGNATURE",
            ErrorCode::InvalidJson => "INVALID_JSON",
            ErrorCode::MissingRequiredField => "MISSING_REQUIRED_FIELD",
            ErrorCode::InvalidDateFormat => "INVALID_DATE_FORMAT",
            ErrorCode::InvalidFieldValue => "INVALID_FIELD_VALUE",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            ErrorCode::SyncInProgress => "SYNC_IN_PROGRESS",
            ErrorCode::CaldavConnectionError => "CALDAV_CONNECTION_ERROR",
            ErrorCode::CaldavConflict => "CALDAV_CONFLICT",
            ErrorCode::PlaneApiError => "PLANE_API_ERROR",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Unauthorized | ErrorCode::InvalidSignature => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::InvalidJson => 400,
            ErrorCode::MissingRequiredField
            | ErrorCode::InvalidDateFormat
            | ErrorCode::InvalidFieldValue => 422,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimitExceeded => 429,
            ErrorCode::SyncInProgress | ErrorCode::CaldavConflict => 409,
            ErrorCode::CaldavConnectionError | ErrorCode::PlaneApiError => 502,
            ErrorCode::ServiceUnavailable => 503,
            ErrorCode::InternalError => 500,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Map<String, Value>,
    /// Extra response headers, e.g. `Allow` on a 405.
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn into_response(self, now: DateTime<Utc>) -> Response {
        let body = json!({
            "status": "error",
            "message": self.message,
            "error_code": self.code.as_str(),
            "details": self.details,
            "timestamp": crate::time::rfc3339(now),
        });
        self.headers.into_iter().fold(
            Response::json(self.code.status(), &body),
            |response, (name, value)| response.with_header(&name, value),
        )
    }
}

/// A request whose store call fails is not acknowledged: 503, so the client
/// may retry. Whatever it wrote to a calendar first carries its own version
/// and content hash, so the retry or the next sync adopts it instead of
/// writing it twice.
impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The state store is unavailable; retry shortly",
        )
        .detail("reason", err.to_string())
        .header("retry-after", "5")
    }
}
