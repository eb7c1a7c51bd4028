//! User documents: read a user, read and save the health profile.

use app::wire::{
    auth::UserView,
    profile::{Profile, ReadinessQuestion},
};
use mongodb::bson::{doc, oid::ObjectId};

use super::ProfileCache;
use crate::{
    db::{models::UserDoc, Db},
    error::{AppError, AppResult},
};

pub fn user_view(user: &UserDoc) -> UserView {
    UserView {
        id: user.id.to_hex(),
        email: user.email.clone(),
        name: user.name.clone(),
        email_verified: user.email_verified,
        created_at: user.created_at.to_chrono(),
    }
}

fn user_oid(user_id: &str) -> AppResult<ObjectId> {
    ObjectId::parse_str(user_id).map_err(|_| AppError::Unauthorized("Unknown user.".into()))
}

pub async fn find_user(db: &Db, user_id: &str) -> AppResult<UserDoc> {
    db.users
        .find_one(doc! { "_id": user_oid(user_id)? })
        .await?
        .ok_or_else(|| AppError::Unauthorized("The account no longer exists.".into()))
}

pub async fn load_profile(db: &Db, user_id: &str) -> AppResult<Profile> {
    Ok(find_user(db, user_id).await?.profile)
}

/// Trims, de-duplicates the readiness answers, validates (422 with every field's problem), stores and caches a profile.
pub async fn save_profile(db: &Db, cache: &ProfileCache, user_id: &str, profile: Profile) -> AppResult<Profile> {
    let mut profile = profile;
    profile.goals = profile.goals.iter().map(|g| g.trim().to_string()).collect();
    profile.health_notes = profile.health_notes.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    // A question ticked twice is still one "yes": kept once, in the questions' order.
    profile.readiness_yes = ReadinessQuestion::ALL.into_iter().filter(|q| profile.readiness_yes.contains(q)).collect();
    let fields = profile.validate();
    if !fields.is_empty() {
        return Err(AppError::Validation { message: "Some profile fields are not valid.".into(), fields });
    }
    let bson = mongodb::bson::to_bson(&profile).map_err(AppError::internal)?;
    let result = db.users.update_one(doc! { "_id": user_oid(user_id)? }, doc! { "$set": { "profile": bson } }).await?;
    if result.matched_count == 0 {
        return Err(AppError::Unauthorized("The account no longer exists.".into()));
    }
    cache.put(user_id, profile.clone());
    Ok(profile)
}
