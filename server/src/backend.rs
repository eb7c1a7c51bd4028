//! The server's implementation of `app::backend::Backend`: what server functions call.
//! Each method is one call into a service; `?` turns its `AppError` into the wire error.

use app::{
    backend::Backend,
    wire::{
        auth::UserView,
        chat::{ModelInfo, SessionDetail, SessionPage, SessionSummary},
        memory::{Memory, MemoryInput},
        profile::Profile,
        ApiError,
    },
};
use axum::http::request::Parts;

use crate::{auth::AuthUser, chat::service, state::AppState, users};

pub struct ServerBackend(pub AppState);

#[async_trait::async_trait]
impl Backend for ServerBackend {
    async fn current_user(&self, parts: &Parts) -> Result<UserView, ApiError> {
        let user = AuthUser::from_headers(&self.0, &parts.headers, &parts.uri).await?;
        Ok(users::user_view(&users::find_user(&self.0.db, &user.user_id).await?))
    }

    async fn list_sessions(&self, user_id: &str, cursor: Option<String>, limit: u32) -> Result<SessionPage, ApiError> {
        Ok(service::list_sessions(&self.0, user_id, cursor.as_deref(), limit).await?)
    }

    async fn session(
        &self,
        user_id: &str,
        session_id: &str,
        before: Option<String>,
        limit: u32,
    ) -> Result<SessionDetail, ApiError> {
        Ok(service::session_detail(&self.0, user_id, session_id, before.as_deref(), limit).await?)
    }

    async fn rename_session(&self, user_id: &str, session_id: &str, title: &str) -> Result<SessionSummary, ApiError> {
        Ok(service::rename(&self.0, user_id, session_id, title).await?)
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<(), ApiError> {
        Ok(service::delete(&self.0, user_id, session_id).await?)
    }

    async fn restore_session(&self, user_id: &str, session_id: &str) -> Result<SessionSummary, ApiError> {
        Ok(service::restore(&self.0, user_id, session_id).await?)
    }

    async fn profile(&self, user_id: &str) -> Result<Profile, ApiError> {
        Ok(users::load_profile(&self.0.db, user_id).await?)
    }

    async fn save_profile(&self, user_id: &str, profile: Profile) -> Result<Profile, ApiError> {
        Ok(users::save_profile(&self.0.db, &self.0.profiles, user_id, profile).await?)
    }

    async fn memories(&self, user_id: &str) -> Result<Vec<Memory>, ApiError> {
        Ok(crate::memory::list(&self.0.db, user_id).await?)
    }

    async fn save_memory(
        &self,
        user_id: &str,
        memory_id: Option<String>,
        input: MemoryInput,
    ) -> Result<Memory, ApiError> {
        Ok(match memory_id {
            Some(id) => crate::memory::update(&self.0.db, user_id, &id, input).await?,
            None => crate::memory::add(&self.0.db, user_id, input).await?,
        })
    }

    async fn delete_memory(&self, user_id: &str, memory_id: &str) -> Result<(), ApiError> {
        Ok(crate::memory::delete(&self.0.db, user_id, memory_id).await?)
    }

    async fn delete_account(&self, user_id: &str, password: String) -> Result<(), ApiError> {
        Ok(users::account::delete(&self.0, user_id, password).await?)
    }

    fn model_info(&self) -> ModelInfo {
        ModelInfo {
            name: self.0.agent.model_name(),
            is_local_demo: self.0.agent.is_local_demo(),
            safety: self.0.config.safety_lines.info(),
        }
    }
}
