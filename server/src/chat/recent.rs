//! What the next turn of a session needs (its title, its last `seq` and the last few
//! exchanges), kept in memory so that a follow-up turn reads nothing from the database.
//!
//! The database stays the truth: a turn that uses an entry writes with the entry's
//! `last_seq` as a condition, so an entry made stale by another server instance is caught
//! by that write and reloaded.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use mongodb::bson::DateTime;

use crate::agent::PastTurn;

/// Past this many sessions an old entry makes room (each holds at most `keep` exchanges).
const MAX_SESSIONS: usize = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    pub title: String,
    pub created_at: DateTime,
    /// The `seq` of the newest turn begun.
    pub last_seq: i64,
    /// The newest stored exchanges, oldest first.
    pub exchanges: VecDeque<PastTurn>,
}

struct Entry {
    user_id: String,
    recent: Recent,
    /// When it was last used, for eviction.
    tick: u64,
}

#[derive(Clone)]
pub struct RecentCache {
    inner: Arc<Mutex<(HashMap<String, Entry>, u64)>>,
    keep: usize,
}

impl RecentCache {
    /// A cache keeping up to `keep` exchanges per session.
    pub fn new(keep: usize) -> Self {
        RecentCache { inner: Arc::default(), keep }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<String, Entry>, u64)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This user's entry for the session, if there is one.
    pub fn get(&self, user_id: &str, session_id: &str) -> Option<Recent> {
        let mut guard = self.lock();
        let (map, clock) = &mut *guard;
        *clock += 1;
        let entry = map.get_mut(session_id).filter(|e| e.user_id == user_id)?;
        entry.tick = *clock;
        Some(entry.recent.clone())
    }

    pub fn put(&self, user_id: &str, session_id: &str, mut recent: Recent) {
        while recent.exchanges.len() > self.keep {
            recent.exchanges.pop_front();
        }
        let mut guard = self.lock();
        let (map, clock) = &mut *guard;
        *clock += 1;
        if map.len() >= MAX_SESSIONS && !map.contains_key(session_id) {
            if let Some(oldest) = map.iter().min_by_key(|(_, e)| e.tick).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(session_id.to_string(), Entry { user_id: user_id.to_string(), recent, tick: *clock });
    }

    /// Moves the entry to turn `seq`, as that turn's first write goes out (a write that fails
    /// drops the entry).
    pub fn begun(&self, session_id: &str, seq: i64) {
        if let Some(entry) = self.lock().0.get_mut(session_id) {
            entry.recent.last_seq = seq;
        }
    }

    /// Adds the stored exchange of turn `seq`; an entry that has moved on is dropped
    /// instead, since it can no longer say which exchanges it holds.
    pub fn stored(&self, session_id: &str, seq: i64, exchange: PastTurn) {
        let mut guard = self.lock();
        let map = &mut guard.0;
        let Some(entry) = map.get_mut(session_id) else { return };
        if entry.recent.last_seq != seq {
            map.remove(session_id);
            return;
        }
        entry.recent.exchanges.push_back(exchange);
        if entry.recent.exchanges.len() > self.keep {
            entry.recent.exchanges.pop_front();
        }
    }

    /// Drops the entry if the session has moved past it (a turn through another instance).
    pub fn seen_seq(&self, session_id: &str, last_seq: i64) {
        let mut guard = self.lock();
        if guard.0.get(session_id).is_some_and(|e| e.recent.last_seq < last_seq) {
            guard.0.remove(session_id);
        }
    }

    /// Drops the entry (the session was renamed, deleted or retitled).
    pub fn forget(&self, session_id: &str) {
        self.lock().0.remove(session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(i: i64) -> PastTurn {
        PastTurn { user: format!("q{i}").into(), assistant: format!("a{i}").into() }
    }

    fn recent(last_seq: i64) -> Recent {
        Recent { title: "t".into(), created_at: DateTime::from_millis(0), last_seq, exchanges: VecDeque::new() }
    }

    #[test]
    fn follows_the_turns_of_a_session_and_keeps_the_newest() {
        let cache = RecentCache::new(2);
        cache.put("u1", "s1", recent(1));
        cache.stored("s1", 1, turn(1));
        for i in 2..=3 {
            cache.begun("s1", i);
            cache.stored("s1", i, turn(i));
        }
        let got = cache.get("u1", "s1").map(|r| (r.last_seq, r.exchanges));
        assert_eq!(got, Some((3, VecDeque::from([turn(2), turn(3)]))));
    }

    #[test]
    fn a_turn_elsewhere_drops_the_entry_and_its_own_does_not() {
        let cache = RecentCache::new(2);
        cache.put("u1", "s1", recent(3));
        cache.seen_seq("s1", 3);
        assert!(cache.get("u1", "s1").is_some(), "its own turn");
        cache.seen_seq("s1", 4);
        assert_eq!(cache.get("u1", "s1"), None, "another instance's turn");
    }

    #[test]
    fn is_private_to_its_user() {
        let cache = RecentCache::new(2);
        cache.put("u1", "s1", recent(1));
        assert_eq!(cache.get("u2", "s1"), None);
    }

    #[test]
    fn an_answer_for_an_older_turn_drops_the_entry() {
        let cache = RecentCache::new(2);
        cache.put("u1", "s1", recent(5));
        cache.stored("s1", 4, turn(4));
        assert_eq!(cache.get("u1", "s1"), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = RecentCache::new(1);
        for i in 0..MAX_SESSIONS + 10 {
            cache.put("u", &format!("s{i}"), recent(1));
        }
        assert_eq!(cache.lock().0.len(), MAX_SESSIONS);
        assert!(cache.get("u", &format!("s{}", MAX_SESSIONS + 9)).is_some(), "the newest stays");
    }
}
