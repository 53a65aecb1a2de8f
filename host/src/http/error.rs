//! The one error type of the HTTP API and the status code each variant maps
//! to. Messages are written for the caller; internal failures (storage, bugs)
//! are logged server side under a request id and answered with a generic 500
//! that names only that id.

use crate::client::ClientError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a request failed; each variant is answered with its own status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, an unknown orchestrator, a bad query parameter.
    #[error("{0}")]
    BadRequest(String),
    /// Keys are configured and the request carries none of them.
    #[error(
        "a valid API key is required (`code` query parameter, `x-functions-key` header or `Authorization: Bearer`)"
    )]
    Unauthorized,
    /// The request is understood and authenticated, but this server does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// No such instance or entity.
    #[error("{0}")]
    NotFound(String),
    /// The instance is in a state that forbids the operation (an unfinished
    /// instance with that id exists, or it is not suspended).
    #[error("{0}")]
    Conflict(String),
    /// The instance has already finished.
    #[error("{0}")]
    Gone(String),
    /// Rewind of an instance that did not fail.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request body, or a payload in it, is over the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Details are in the server log under `request_id`.
    #[error("internal server error (request id {request_id})")]
    Internal {
        /// The id the failure was logged under.
        request_id: String,
    },
}

impl ApiError {
    /// Logs `error` under a new request id and returns the generic 500.
    pub fn internal(error: &dyn std::fmt::Display) -> ApiError {
        let request_id = next_request_id();
        tracing::error!(%request_id, %error, "HTTP API request failed");
        ApiError::Internal { request_id }
    }

    /// The HTTP status code the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable name for the body's `error` field.
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound(_) => "NotFound",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Gone(_) => "Gone",
            ApiError::PreconditionFailed(_) => "PreconditionFailed",
            ApiError::PayloadTooLarge(_) => "PayloadTooLarge",
            ApiError::Internal { .. } => "InternalServerError",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InstanceExists(_)
            | StoreError::InstanceNotFinished(..)
            | StoreError::Conflict(_)
            | StoreError::ImportRefused(_) => ApiError::Conflict(e.to_string()),
            StoreError::InstanceNotFound(_) => ApiError::NotFound(e.to_string()),
            StoreError::InstanceFinished(..) => ApiError::Gone(e.to_string()),
            StoreError::InstanceNotFailed(..) => ApiError::PreconditionFailed(e.to_string()),
            StoreError::LeaseLost | StoreError::Backend(_) | StoreError::Corrupt(_) => {
                ApiError::internal(&e)
            }
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::UnknownOrchestrator { .. }
            | ClientError::MalformedJson { .. }
            | ClientError::InvalidRequest(_) => ApiError::BadRequest(e.to_string()),
            ClientError::PayloadTooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            ClientError::Store(e) => e.into(),
            ClientError::UnknownDeployment(message) => ApiError::NotFound(message),
            ClientError::Timeout { .. } => ApiError::internal(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        // `Message` and `ExceptionMessage` are the ASP.NET error shape the Durable Functions
        // extension answers with; its SDK clients read them (the Python client raises
        // `ExceptionMessage` on a 400).
        let body = serde_json::json!({
            "error": self.code(),
            "message": message,
            "Message": message,
            "ExceptionMessage": message,
        });
        (self.status(), Json(body)).into_response()
    }
}

/// Unique enough to find a request in the log: the process start time and
/// a counter, without an RNG.
fn next_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{start:x}-{n:06x}")
}
