//! The facts each person's prompts quote, kept by this instance so that a turn need not read
//! them. A leaf: it knows facts and users, not the database or the change stream.
//!
//! Why a kept entry is never stale when a turn uses it: every change to `memories`, made
//! through any instance, comes through this instance's change stream (`chat::events`) and
//! drops the person's entry; the stream carries changes in the order the database made them;
//! and a turn uses an entry only after the event of its own claim came back through that
//! stream (`Hub::wait_for_event`), so every change made before the turn began has been
//! handled by then. A turn that did not see its event, or a stream that had to reopen, reads
//! the database instead.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// Past this many people the cache starts over rather than grow without bound.
const MAX_PEOPLE: usize = 50_000;

#[derive(Clone, Default)]
pub struct MemoryCache {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    facts: HashMap<String, Arc<[String]>>,
    /// Counts the changes handled: facts read while it moved may predate one of them.
    generation: u64,
}

/// Where a read of the database started, for [`MemoryCache::keep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl MemoryCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The person's facts, if kept.
    pub fn get(&self, user_id: &str) -> Option<Arc<[String]>> {
        self.lock().facts.get(user_id).cloned()
    }

    /// Taken before reading a person's facts from the database.
    pub fn generation(&self) -> Generation {
        Generation(self.lock().generation)
    }

    /// Keeps facts read from the database, unless a change was handled since the read began
    /// (the read may have missed it, and its event has come and gone).
    pub fn keep(&self, user_id: &str, read_from: Generation, facts: &[String]) {
        let mut inner = self.lock();
        if inner.generation != read_from.0 {
            return;
        }
        if inner.facts.len() >= MAX_PEOPLE && !inner.facts.contains_key(user_id) {
            inner.facts.clear();
        }
        inner.facts.insert(user_id.to_string(), facts.into());
    }

    /// A change to this person's facts (`None`: someone's, unknown whose, or the stream
    /// reopened and may have missed changes): their entry, or every entry, goes.
    pub fn changed(&self, user_id: Option<&str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        match user_id {
            Some(user_id) => {
                inner.facts.remove(user_id);
            }
            None => inner.facts.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn a_change_drops_the_entry_of_its_person_or_of_everyone() {
        let cache = MemoryCache::default();
        cache.keep("ann", cache.generation(), &facts(&["I run."]));
        cache.keep("bob", cache.generation(), &facts(&["I swim."]));
        assert_eq!(cache.get("ann").as_deref(), Some(&facts(&["I run."])[..]));

        cache.changed(Some("ann"));
        assert!(cache.get("ann").is_none());
        assert!(cache.get("bob").is_some(), "another person's entry stays");

        cache.changed(None);
        assert!(cache.get("bob").is_none());
    }

    #[test]
    fn facts_read_while_a_change_came_in_are_not_kept() {
        let cache = MemoryCache::default();
        let read_from = cache.generation();
        // The change lands after the read began; the read may or may not include it.
        cache.changed(Some("someone else"));
        cache.keep("ann", read_from, &facts(&["I have asthma."]));
        assert!(cache.get("ann").is_none());
        // A read that began after it is kept.
        cache.keep("ann", cache.generation(), &facts(&[]));
        assert_eq!(cache.get("ann").as_deref(), Some(&[][..]));
    }
}
