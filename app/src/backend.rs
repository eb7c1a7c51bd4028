//! The seam between server functions (compiled into `app`) and the server's services:
//! `app` declares what it needs, `server` implements it and provides it through Leptos
//! context. This keeps MongoDB and the auth code out of `app`, with no dependency cycle.

use std::sync::Arc;

use axum::http::request::Parts;

use crate::wire::{
    auth::UserView,
    chat::{ModelInfo, SessionDetail, SessionPage, SessionSummary},
    memory::{Memory, MemoryInput},
    profile::Profile,
    ApiError, ErrorCode,
};

#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// The signed-in user from the request's cookie (or bearer header); 401 otherwise.
    async fn current_user(&self, parts: &Parts) -> Result<UserView, ApiError>;
    async fn list_sessions(&self, user_id: &str, cursor: Option<String>, limit: u32) -> Result<SessionPage, ApiError>;
    async fn session(
        &self,
        user_id: &str,
        session_id: &str,
        before: Option<String>,
        limit: u32,
    ) -> Result<SessionDetail, ApiError>;
    async fn rename_session(&self, user_id: &str, session_id: &str, title: &str) -> Result<SessionSummary, ApiError>;
    async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<(), ApiError>;
    async fn restore_session(&self, user_id: &str, session_id: &str) -> Result<SessionSummary, ApiError>;
    async fn profile(&self, user_id: &str) -> Result<Profile, ApiError>;
    async fn save_profile(&self, user_id: &str, profile: Profile) -> Result<Profile, ApiError>;
    async fn memories(&self, user_id: &str) -> Result<Vec<Memory>, ApiError>;
    /// Adds a fact (`memory_id` absent) or rewrites one.
    async fn save_memory(
        &self,
        user_id: &str,
        memory_id: Option<String>,
        input: MemoryInput,
    ) -> Result<Memory, ApiError>;
    async fn delete_memory(&self, user_id: &str, memory_id: &str) -> Result<(), ApiError>;
    /// Deletes the account and all its data, if `password` is right.
    async fn delete_account(&self, user_id: &str, password: String) -> Result<(), ApiError>;
    fn model_info(&self) -> ModelInfo;
}

pub type SharedBackend = Arc<dyn Backend>;

/// The backend from context; an error, never a panic, when it is missing.
pub fn backend() -> Result<SharedBackend, ApiError> {
    leptos::prelude::use_context::<SharedBackend>()
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "The server is not set up to answer this request."))
}

/// The request's parts, for reading cookies.
pub fn request_parts() -> Result<Parts, ApiError> {
    leptos::prelude::use_context::<Parts>().ok_or_else(|| ApiError::new(ErrorCode::Internal, "No request in context."))
}

/// The signed-in user, or a 401-style error.
pub async fn require_user() -> Result<(SharedBackend, UserView), ApiError> {
    let backend = backend()?;
    let user = backend.current_user(&request_parts()?).await?;
    Ok((backend, user))
}
