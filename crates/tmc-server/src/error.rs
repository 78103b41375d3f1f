//! One error type for handlers. Its response is rendered by the guard, which knows whether the
//! request was for a page (HTML error page) or the API (JSON `{"error": {...}}`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tmc_store::StoreError;

#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `forbidden`, `validation`, `conflict`.
    pub code: &'static str,
    pub message: String,
    /// Extra JSON for API clients (validation problems, the changes behind a 409).
    pub details: Option<serde_json::Value>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> AppError {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    pub fn not_found(what: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, "not-found", what)
    }

    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unauthenticated() -> AppError {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in (or send an API token as `Authorization: Bearer ...`)",
        )
    }

    pub fn too_large(limit: usize) -> AppError {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("the request is larger than the limit of {limit} bytes; nothing was stored"),
        )
    }

    pub fn internal(message: impl Into<String>) -> AppError {
        let message = message.into();
        eprintln!("tmc-server: internal error: {message}");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NotFound(what) => AppError::not_found(format!("{what} not found")),
            StoreError::Duplicate(what) => AppError::new(
                StatusCode::CONFLICT,
                "duplicate",
                format!("{what} already exists"),
            ),
            StoreError::Invalid(msg) => AppError::new(StatusCode::BAD_REQUEST, "invalid", msg),
            StoreError::Conflict { expected, current } => AppError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "decisions changed: you edited version {expected}, the current version is {current}"
                ),
            ),
            other => AppError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    /// A bare status; the guard finds the error in the extensions and renders the body.
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}
