//! The health profiles the coach reads on every turn, kept in memory so that a turn does not
//! read the user document. A leaf: it knows the database handle, not the app state.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::wire::profile::Profile;

use crate::{db::Db, error::AppResult};

/// A save on this server updates its entry at once; entries expire, so a save made through
/// another server instance shows within `PROFILE_TTL`.
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
                let profile = super::repo::load_profile(db, user_id).await?;
                self.put(user_id, profile.clone());
                Ok(profile)
            }
        }
    }

    /// Drops a user's entry (their account is gone).
    pub fn forget(&self, user_id: &str) {
        self.lock().remove(user_id);
    }

    pub fn put(&self, user_id: &str, profile: Profile) {
        let mut cache = self.lock();
        if cache.len() >= PROFILE_CACHE_MAX {
            cache.clear();
        }
        cache.insert(user_id.to_string(), (Instant::now(), profile));
    }
}
