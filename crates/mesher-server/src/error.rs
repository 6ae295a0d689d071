//! The one error type every HTTP handler returns, and its one mapping to a response.
//!
//! Every error body has the same shape: `{"error": {"code": "...", "message": "..."}}`.
//! Server-side failures (5xx) are logged at `error` with their cause and answered with a generic
//! message; client errors (4xx) are logged at `debug`. Internals never leak into a response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mesher_store::StoreError;
use serde_json::json;

use crate::accounts::AccountError;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credentials were given.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the credentials do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// 408: the client sent its request too slowly.
    #[error("{0}")]
    RequestTimeout(String),
    /// 409: the resource already exists.
    #[error("{0}")]
    Conflict(String),
    /// 413: a size limit was exceeded.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 429: a rate limit was exceeded.
    #[error("{message}")]
    RateLimited {
        /// Seconds until the client may retry.
        retry_after_secs: u64,
        /// Sentry's `X-Sentry-Rate-Limits` value.
        sentry_limits: String,
        /// What was limited.
        message: String,
    },
    /// 503: temporarily unable to serve (queue full, database down, shutting down).
    #[error("{message}")]
    Unavailable {
        /// Seconds until the client may retry.
        retry_after_secs: u64,
        /// Why.
        message: String,
    },
    /// 500: a bug or an unexpected failure; the cause is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The message a client may see.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal server error".into(),
            other => other.to_string(),
        }
    }

    /// The error body every error answer carries: `{"error": {"code", "message"}}`, also each
    /// refused event's entry in a bulk answer or a WebSocket reply.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code(), "message": self.public_message()}})
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Invalid { field, message } => {
                ApiError::BadRequest(format!("{field}: {message}"))
            }
            StoreError::NoReleaseData => ApiError::BadRequest(e.to_string()),
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "database unavailable");
                ApiError::Unavailable {
                    retry_after_secs: 5,
                    message: "the database is unavailable; retry later".into(),
                }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(e) => e.into(),
            AccountError::Invalid(m) => ApiError::BadRequest(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, status = status.as_u16(), "request failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "request refused");
        }
        let body = self.body();
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        // Sentry SDKs log this header when a request is refused.
        if let Ok(v) = HeaderValue::from_str(&self.public_message()) {
            headers.insert("x-sentry-error", v);
        }
        match &self {
            ApiError::RateLimited {
                retry_after_secs,
                sentry_limits,
                ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                if let Ok(v) = HeaderValue::from_str(sentry_limits) {
                    headers.insert("x-sentry-rate-limits", v);
                }
            }
            ApiError::Unavailable {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}
