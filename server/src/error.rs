//! The server's one error type: every failure a handler, server function or socket frame
//! can meet, mapped to a wire [`ErrorCode`], a status and the shared `{"error", "message"}`
//! body. Internal details are logged, never sent.

use app::wire::{ApiError, ErrorCode, FieldError};
use axum::{
    extract::{rejection::JsonRejection, FromRequest, Request},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{de::DeserializeOwned, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    Validation { message: String, fields: Vec<FieldError> },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many requests; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// A 503 the client should retry after `retry_after_secs` (sent as `Retry-After`).
    #[error("{message}")]
    Overloaded { message: String, retry_after_secs: u64 },
    /// A refusal with its own code (mostly on the chat socket: `busy`, `empty_message` …).
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    #[error("database error")]
    Database(#[from] mongodb::error::Error),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }

    /// Shorthand for a refusal with its own code.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::Refused { code, message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::BadRequest(_) => ErrorCode::BadRequest,
            AppError::Validation { .. } => ErrorCode::ValidationFailed,
            AppError::Unauthorized(_) => ErrorCode::Unauthorized,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::RateLimited { .. } => ErrorCode::RateLimited,
            AppError::Unavailable(_) | AppError::Overloaded { .. } => ErrorCode::Unavailable,
            AppError::Refused { code, .. } => *code,
            AppError::Database(e) if is_duplicate_key(e) => ErrorCode::Conflict,
            AppError::Database(_) | AppError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// The client-safe form: internal causes are logged and replaced by a generic sentence.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        if e.status().is_server_error() {
            tracing::error!(error = ?e, "request failed");
        }
        let code = e.code();
        match e {
            AppError::Validation { message, fields } => ApiError::invalid(message, fields),
            AppError::Database(e) if is_duplicate_key(&e) => ApiError::new(code, "That already exists."),
            AppError::Database(_) | AppError::Internal(_) => ApiError::new(code, "Something went wrong on our side."),
            other => ApiError::new(code, other.to_string()),
        }
    }
}

/// One field's problem found by the shared rules in `app::validation`: a 422.
impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Validation { message: e.message.clone(), fields: vec![e] }
    }
}

/// Field errors gathered by `app::validation::Checks`.
impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        match e.error {
            ErrorCode::ValidationFailed => AppError::Validation { message: e.message, fields: e.fields },
            code => AppError::Refused { code, message: e.message },
        }
    }
}

/// MongoDB's duplicate-key error (code 11000), also when it arrives inside a bulk write.
pub fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::InsertMany(i) => i.write_errors.as_ref().is_some_and(|w| w.iter().any(|w| w.code == 11000)),
        ErrorKind::Command(c) => c.code == 11000,
        _ => false,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let header = match &self {
            AppError::Unauthorized(_) => Some((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))),
            AppError::RateLimited { retry_after_secs } | AppError::Overloaded { retry_after_secs, .. } => {
                HeaderValue::from_str(&retry_after_secs.to_string()).ok().map(|v| (header::RETRY_AFTER, v))
            }
            _ => None,
        };
        let mut response = (status, Json(ApiError::from(self))).into_response();
        if let Some((name, value)) = header {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// `Json` whose rejection (bad JSON, wrong fields, wrong content type) uses our error body,
/// and which takes only a JSON object (serde would otherwise read `["x"]` as a struct).
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state).await?;
        object(value).map(AppJson)
    }
}

/// A body that must be a JSON object of `T`'s shape.
pub fn object<T: DeserializeOwned>(value: serde_json::Value) -> AppResult<T> {
    if !value.is_object() {
        return Err(AppError::BadRequest("The body must be a JSON object.".into()));
    }
    serde_json::from_value(value).map_err(|e| AppError::BadRequest(format!("Invalid body: {e}")))
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        AppError::BadRequest(rejection.body_text())
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

pub type AppResult<T> = Result<T, AppError>;
