//! Who is known to have no remembered facts, so their turns skip the read. Only emptiness is
//! cached: a cached list could hold a fact deleted through another instance, and a deleted
//! fact must never reach a prompt, while missing a fact learned elsewhere for a few seconds
//! costs nothing. A leaf: no app state, no database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// How long "has none" is trusted (a fact learned through another instance shows after this).
const NONE_TTL: Duration = Duration::from_secs(30);
/// Past this many users the cache starts over rather than grow without bound.
const MAX_USERS: usize = 100_000;

#[derive(Clone, Default)]
pub struct NoneCache {
    inner: Arc<Mutex<HashMap<String, Instant>>>,
}

impl NoneCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `user_id` had no facts a moment ago.
    pub fn has_none(&self, user_id: &str) -> bool {
        self.lock().get(user_id).is_some_and(|at| at.elapsed() < NONE_TTL)
    }

    pub fn set_none(&self, user_id: &str) {
        let mut users = self.lock();
        if users.len() >= MAX_USERS {
            users.clear();
        }
        users.insert(user_id.to_string(), Instant::now());
    }

    /// The user has facts now (one was added or learned here).
    pub fn forget(&self, user_id: &str) {
        self.lock().remove(user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_emptiness_is_remembered_until_a_fact_arrives() {
        let cache = NoneCache::default();
        assert!(!cache.has_none("u"));
        cache.set_none("u");
        assert!(cache.has_none("u"));
        cache.forget("u");
        assert!(!cache.has_none("u"));
    }
}
