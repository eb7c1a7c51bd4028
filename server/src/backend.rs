//! The server's implementation of `app::backend::Backend`: what server functions call.

use app::{
    backend::Backend,
    wire::{
        auth::UserView,
        chat::{ModelInfo, SessionDetail, SessionPage, SessionSummary},
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
        let user = AuthUser::from_headers(&self.0, &parts.headers, &parts.uri).map_err(|e| e.to_api())?;
        let doc = users::find_user(&self.0.db, &user.user_id).await.map_err(|e| e.to_api())?;
        Ok(users::user_view(&doc))
    }

    async fn list_sessions(&self, user_id: &str, cursor: Option<String>, limit: u32) -> Result<SessionPage, ApiError> {
        service::list_sessions(&self.0, user_id, cursor.as_deref(), limit).await.map_err(|e| e.to_api())
    }

    async fn session(
        &self,
        user_id: &str,
        session_id: &str,
        before: Option<String>,
        limit: u32,
    ) -> Result<SessionDetail, ApiError> {
        service::session_detail(&self.0, user_id, session_id, before.as_deref(), limit).await.map_err(|e| e.to_api())
    }

    async fn rename_session(&self, user_id: &str, session_id: &str, title: &str) -> Result<SessionSummary, ApiError> {
        service::rename(&self.0, user_id, session_id, title).await.map_err(|e| e.to_api())
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<(), ApiError> {
        service::delete(&self.0, user_id, session_id).await.map_err(|e| e.to_api())
    }

    async fn restore_session(&self, user_id: &str, session_id: &str) -> Result<SessionSummary, ApiError> {
        service::restore(&self.0, user_id, session_id).await.map_err(|e| e.to_api())
    }

    async fn profile(&self, user_id: &str) -> Result<Profile, ApiError> {
        users::load_profile(&self.0.db, user_id).await.map_err(|e| e.to_api())
    }

    async fn save_profile(&self, user_id: &str, profile: Profile) -> Result<Profile, ApiError> {
        users::save_profile(&self.0, user_id, profile).await.map_err(|e| {
            let mut api = e.to_api();
            if let crate::error::AppError::Validation { fields, .. } = &e {
                // The form shows each field's problem; carry them in the message as JSON.
                api.message = serde_json::to_string(fields).unwrap_or(api.message);
            }
            api
        })
    }

    fn model_info(&self) -> ModelInfo {
        ModelInfo { name: self.0.agent.model_name(), is_local_demo: self.0.agent.is_local_demo() }
    }
}
