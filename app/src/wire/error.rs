//! The one client-safe error shape, `{"error": CODE, "message": ..., "fields"?: [...]}`, used
//! by REST bodies, server functions and WebSocket error frames alike, and the closed set of
//! codes it may carry.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// Every machine-readable error code, as it appears on the wire (snake_case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // Any request.
    BadRequest,
    ValidationFailed,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    Unavailable,
    Internal,
    // The chat socket.
    InvalidFrame,
    BinaryNotSupported,
    EmptyMessage,
    MessageTooLong,
    InvalidMessageType,
    SessionNotFound,
    MessageNotFound,
    Busy,
    NothingToStop,
    StorageFailed,
    // The model behind the coach.
    AgentFailed,
    LocalBusy,
    LocalFailed,
    LocalUnavailable,
    /// The message (with its history) does not fit the offline model's context.
    PromptTooLong,
    ProviderTimeout,
    ProviderHttpError,
    ProviderUnreachable,
    ProviderDisconnected,
    ProviderMalformed,
    ProviderError,
    Cancelled,
    // Made in the browser, never sent by the server.
    Network,
    BadResponse,
    ServerFn,
    /// A code this build does not know (a newer server): read as a generic failure.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status a REST answer with this code carries.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | InvalidFrame | BinaryNotSupported | EmptyMessage | MessageTooLong | InvalidMessageType
            | PromptTooLong => 400,
            Unauthorized => 401,
            Forbidden => 403,
            NotFound | SessionNotFound | MessageNotFound => 404,
            Conflict | Busy | NothingToStop => 409,
            ValidationFailed => 422,
            RateLimited => 429,
            Unavailable | LocalBusy | LocalUnavailable => 503,
            LocalFailed | ProviderTimeout | ProviderHttpError | ProviderUnreachable | ProviderDisconnected
            | ProviderMalformed | ProviderError | AgentFailed => 502,
            Internal | StorageFailed | Cancelled | Network | BadResponse | ServerFn | Unknown => 500,
        }
    }
}

/// The wire name (`nothing_to_stop`), for logs and terminal clients.
impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(name)) => f.write_str(&name),
            _ => write!(f, "{self:?}"),
        }
    }
}

/// One problem with one field of a form or body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The body's field name, e.g. `email` or `age`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[error("{message}")]
pub struct ApiError {
    pub error: ErrorCode,
    /// A sentence a person can read.
    pub message: String,
    /// Per-field problems of a 422 (`validation_failed`); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl ApiError {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self { error, message: message.into(), fields: Vec::new() }
    }

    /// A 422 naming each field's problem.
    pub fn invalid(message: impl Into<String>, fields: Vec<FieldError>) -> Self {
        Self { error: ErrorCode::ValidationFailed, message: message.into(), fields }
    }

    /// The message for one field, if the error names it.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields.iter().find(|f| f.field == name).map(|f| f.message.clone())
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        // Arguments that do not decode are the caller's mistake, not ours.
        let code = match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::Deserialization(_) => ErrorCode::BadRequest,
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => ErrorCode::Network,
            _ => ErrorCode::ServerFn,
        };
        ApiError::new(code, value.to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_on_the_wire_and_unknown_ones_still_read() {
        let e = ApiError::new(ErrorCode::NothingToStop, "No answer is running.");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"error":"nothing_to_stop","message":"No answer is running."})
        );
        assert_eq!(ErrorCode::NothingToStop.to_string(), "nothing_to_stop");
        let read: ApiError = serde_json::from_str(r#"{"error":"brand_new","message":"x"}"#).unwrap();
        assert_eq!(read.error, ErrorCode::Unknown);
    }
}
