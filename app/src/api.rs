//! Server functions: what the pages call on the server, authorised by the session cookie.
//! Each one is a thin call into the server's services through [`crate::backend`].

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::require_user;
use crate::wire::{
    auth::UserView,
    chat::{ModelInfo, SessionDetail, SessionPage, SessionSummary},
    memory::{Memory, MemoryInput},
    profile::Profile,
    ApiError,
};

/// The signed-in user, or `None` when signed out (not an error: pages use it to redirect).
#[server(endpoint = "me")]
pub async fn current_user() -> Result<Option<UserView>, ApiError> {
    match require_user().await {
        Ok((_, user)) => Ok(Some(user)),
        Err(e) if e.error == crate::wire::ErrorCode::Unauthorized => Ok(None),
        Err(e) => Err(e),
    }
}

#[server(endpoint = "coach_model")]
pub async fn coach_model() -> Result<ModelInfo, ApiError> {
    Ok(crate::backend::backend()?.model_info())
}

#[server(endpoint = "list_sessions")]
pub async fn list_sessions(cursor: Option<String>) -> Result<SessionPage, ApiError> {
    let (backend, user) = require_user().await?;
    backend.list_sessions(&user.id, cursor, 30).await
}

#[server(endpoint = "get_session")]
pub async fn get_session(session_id: String, before: Option<String>) -> Result<SessionDetail, ApiError> {
    let (backend, user) = require_user().await?;
    backend.session(&user.id, &session_id, before, 30).await
}

#[server(endpoint = "rename_session")]
pub async fn rename_session(session_id: String, title: String) -> Result<SessionSummary, ApiError> {
    let (backend, user) = require_user().await?;
    backend.rename_session(&user.id, &session_id, &title).await
}

#[server(endpoint = "delete_session")]
pub async fn delete_session(session_id: String) -> Result<(), ApiError> {
    let (backend, user) = require_user().await?;
    backend.delete_session(&user.id, &session_id).await
}

#[server(endpoint = "restore_session")]
pub async fn restore_session(session_id: String) -> Result<SessionSummary, ApiError> {
    let (backend, user) = require_user().await?;
    backend.restore_session(&user.id, &session_id).await
}

#[server(endpoint = "get_profile")]
pub async fn get_profile() -> Result<Profile, ApiError> {
    let (backend, user) = require_user().await?;
    backend.profile(&user.id).await
}

#[server(endpoint = "save_profile")]
pub async fn save_profile(profile: Profile) -> Result<Profile, ApiError> {
    let (backend, user) = require_user().await?;
    backend.save_profile(&user.id, profile).await
}

#[server(endpoint = "list_memories")]
pub async fn list_memories() -> Result<Vec<Memory>, ApiError> {
    let (backend, user) = require_user().await?;
    backend.memories(&user.id).await
}

/// Adds a fact for the coach to remember (`memory_id` absent) or rewrites one.
#[server(endpoint = "save_memory")]
pub async fn save_memory(memory_id: Option<String>, input: MemoryInput) -> Result<Memory, ApiError> {
    let (backend, user) = require_user().await?;
    backend.save_memory(&user.id, memory_id, input).await
}

#[server(endpoint = "delete_memory")]
pub async fn delete_memory(memory_id: String) -> Result<(), ApiError> {
    let (backend, user) = require_user().await?;
    backend.delete_memory(&user.id, &memory_id).await
}

/// Deletes the signed-in user's account and everything stored about them.
#[server(endpoint = "delete_account")]
pub async fn delete_account(password: String) -> Result<(), ApiError> {
    let (backend, user) = require_user().await?;
    backend.delete_account(&user.id, password).await
}
