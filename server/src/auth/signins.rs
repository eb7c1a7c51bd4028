//! Sign-ins as server-side things that can end at once. Each sign-in is a document; access
//! tokens carry its id (`sid`) and every check of a token asks whether its sign-in is still
//! on. The answer is cached per instance for a few seconds, so ending a sign-in (sign-out,
//! refresh-token reuse, account deletion) takes effect everywhere within `CACHE_FOR`, and at
//! once on the instance that ended it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use mongodb::bson::{doc, DateTime};

use crate::{
    db::{models::SigninDoc, Db},
    error::{AppError, AppResult},
};

/// How long an instance trusts its last answer about a sign-in.
pub const CACHE_FOR: Duration = Duration::from_secs(3);
/// Past this many entries the cache starts over rather than grow without bound.
const CACHE_MAX: usize = 100_000;

pub fn ended() -> AppError {
    AppError::Unauthorized("The session has ended; sign in again.".into())
}

/// Starts a sign-in for `user_id`; returns its id and its absolute end.
pub async fn start(db: &Db, user_id: &str, max_days: i64) -> AppResult<(String, DateTime)> {
    let now = chrono::Utc::now();
    let expires_at = DateTime::from_millis(now.timestamp_millis() + max_days * 86_400_000);
    let id = uuid::Uuid::new_v4().to_string();
    db.signins
        .insert_one(SigninDoc {
            id: id.clone(),
            user_id: user_id.into(),
            created_at: DateTime::from_chrono(now),
            expires_at,
            revoked: false,
        })
        .await?;
    Ok((id, expires_at))
}

/// Whether each sign-in is still on, as last read, per instance.
#[derive(Clone, Default)]
pub struct Signins {
    cache: Arc<Mutex<HashMap<String, (Instant, bool)>>>,
}

impl Signins {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, bool)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, id: &str, active: bool) {
        let mut cache = self.lock();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(id.to_string(), (Instant::now(), active));
    }

    /// The sign-in's document if it is on (not ended, not past its absolute end).
    pub async fn active(&self, db: &Db, id: &str) -> AppResult<bool> {
        if let Some((at, active)) = self.lock().get(id).copied() {
            // An ended sign-in never comes back: no need to ask again.
            if !active || at.elapsed() < CACHE_FOR {
                return Ok(active);
            }
        }
        let found =
            db.signins.find_one(doc! { "_id": id, "revoked": false, "expires_at": { "$gt": DateTime::now() } }).await?;
        self.remember(id, found.is_some());
        Ok(found.is_some())
    }

    /// Ends one sign-in: its tokens stop working (here at once, elsewhere within
    /// `CACHE_FOR`) and its refresh tokens are revoked.
    pub async fn end(&self, db: &Db, id: &str) -> AppResult<()> {
        db.signins.update_one(doc! { "_id": id }, doc! { "$set": { "revoked": true } }).await?;
        db.refresh_tokens.update_many(doc! { "family_id": id }, doc! { "$set": { "revoked": true } }).await?;
        self.remember(id, false);
        Ok(())
    }

    /// Ends every sign-in of a user (account deletion).
    pub async fn end_all(&self, db: &Db, user_id: &str) -> AppResult<()> {
        let ids: Vec<String> = {
            use futures::TryStreamExt;
            db.signins.find(doc! { "user_id": user_id }).await?.map_ok(|s| s.id).try_collect().await?
        };
        for id in ids {
            self.end(db, &id).await?;
        }
        Ok(())
    }
}
