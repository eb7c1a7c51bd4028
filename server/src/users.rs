//! `/users/me` and the health profile the coach uses.

use app::wire::{auth::UserView, profile::Profile};
use axum::{extract::State, routing::get, Json, Router};
use mongodb::bson::{doc, oid::ObjectId};

use crate::{
    auth::AuthUser,
    db::{models::UserDoc, Db},
    error::{AppError, AppJson, AppResult},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/me", get(me))
        .route("/users/me/profile", get(get_profile).put(put_profile))
}

pub fn user_view(user: &UserDoc) -> UserView {
    UserView {
        id: user.id.to_hex(),
        email: user.email.clone(),
        name: user.name.clone(),
        email_verified: user.email_verified,
        created_at: user.created_at.to_chrono(),
    }
}

pub async fn find_user(db: &Db, user_id: &str) -> AppResult<UserDoc> {
    let oid = ObjectId::parse_str(user_id).map_err(|_| AppError::Unauthorized("Unknown user.".into()))?;
    db.users
        .find_one(doc! { "_id": oid })
        .await?
        .ok_or_else(|| AppError::Unauthorized("The account no longer exists.".into()))
}

pub async fn load_profile(db: &Db, user_id: &str) -> AppResult<Profile> {
    Ok(find_user(db, user_id).await?.profile)
}

pub async fn save_profile(db: &Db, user_id: &str, profile: Profile) -> AppResult<Profile> {
    let mut profile = profile;
    profile.goals = profile.goals.iter().map(|g| g.trim().to_string()).collect();
    profile.health_notes = profile.health_notes.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let fields = profile.validate();
    if !fields.is_empty() {
        return Err(AppError::Validation { message: "Some profile fields are not valid.".into(), fields });
    }
    let oid = ObjectId::parse_str(user_id).map_err(|_| AppError::Unauthorized("Unknown user.".into()))?;
    let bson = mongodb::bson::to_bson(&profile).map_err(AppError::internal)?;
    let result = db.users.update_one(doc! { "_id": oid }, doc! { "$set": { "profile": bson } }).await?;
    if result.matched_count == 0 {
        return Err(AppError::Unauthorized("The account no longer exists.".into()));
    }
    Ok(profile)
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
    Ok(Json(save_profile(&state.db, &user.user_id, profile).await?))
}
