//! `/users/me` and the health profile the coach uses.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

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

pub async fn save_profile(state: &AppState, user_id: &str, profile: Profile) -> AppResult<Profile> {
    let mut profile = profile;
    profile.goals = profile.goals.iter().map(|g| g.trim().to_string()).collect();
    profile.health_notes = profile.health_notes.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let fields = profile.validate();
    if !fields.is_empty() {
        return Err(AppError::Validation { message: "Some profile fields are not valid.".into(), fields });
    }
    let oid = ObjectId::parse_str(user_id).map_err(|_| AppError::Unauthorized("Unknown user.".into()))?;
    let bson = mongodb::bson::to_bson(&profile).map_err(AppError::internal)?;
    let result = state.db.users.update_one(doc! { "_id": oid }, doc! { "$set": { "profile": bson } }).await?;
    if result.matched_count == 0 {
        return Err(AppError::Unauthorized("The account no longer exists.".into()));
    }
    state.profiles.put(user_id, profile.clone());
    Ok(profile)
}

/// The profiles the coach reads on every turn, kept in memory so that a turn does not read
/// the user document. A save on this server updates its entry at once; entries expire, so
/// a save made through another server instance shows within `PROFILE_TTL`.
#[derive(Clone, Default)]
pub struct ProfileCache {
    inner: Arc<Mutex<HashMap<String, (Instant, Profile)>>>,
}

const PROFILE_TTL: Duration = Duration::from_secs(60);
/// Past this many users the cache starts over rather than grow without bound.
const PROFILE_CACHE_MAX: usize = 50_000;

impl ProfileCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Profile)>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn get(&self, db: &Db, user_id: &str) -> AppResult<Profile> {
        let cached = self.lock().get(user_id).filter(|(at, _)| at.elapsed() < PROFILE_TTL).map(|(_, p)| p.clone());
        match cached {
            Some(profile) => Ok(profile),
            None => {
                let profile = load_profile(db, user_id).await?;
                self.put(user_id, profile.clone());
                Ok(profile)
            }
        }
    }

    pub fn put(&self, user_id: &str, profile: Profile) {
        let mut cache = self.lock();
        if cache.len() >= PROFILE_CACHE_MAX {
            cache.clear();
        }
        cache.insert(user_id.to_string(), (Instant::now(), profile));
    }
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
    Ok(Json(save_profile(&state, &user.user_id, profile).await?))
}
