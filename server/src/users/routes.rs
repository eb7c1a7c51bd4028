//! `/users/me` and `/users/me/profile` (Bearer token or cookie).

use app::wire::{auth::UserView, profile::Profile};
use axum::{extract::State, routing::get, Json, Router};

use super::repo::{find_user, load_profile, save_profile, user_view};
use crate::{
    auth::AuthUser,
    error::{AppJson, AppResult},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/me", get(me))
        .route("/users/me/profile", get(get_profile).put(put_profile))
}

async fn me(State(state): State<AppState>, user: AuthUser) -> AppResult<Json<UserView>> {
    Ok(Json(user_view(&find_user(&state.db, &user.user_id).await?)))
}

async fn get_profile(State(state): State<AppState>, user: AuthUser) -> AppResult<Json<Profile>> {
    Ok(Json(load_profile(&state.db, &user.user_id).await?))
}

async fn put_profile(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(profile): AppJson<Profile>,
) -> AppResult<Json<Profile>> {
    Ok(Json(save_profile(&state.db, &state.profiles, &user.user_id, profile).await?))
}
