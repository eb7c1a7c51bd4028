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
    hash::{DefaultHasher, Hash, Hasher},
    sync::{Arc, Mutex},
};

/// Past this many people the cache starts over rather than grow without bound.
const MAX_PEOPLE: usize = 50_000;
/// Changes are counted in this many groups of people: a change refuses the reads that
/// overlapped it in its person's group only, not everyone's, in bounded memory.
const GROUPS: usize = 32;

#[derive(Clone, Default)]
pub struct MemoryCache {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    facts: HashMap<String, Arc<[String]>>,
    /// Changes handled whose person is unknown: facts read while this moved may predate one.
    everyone: u64,
    /// Changes handled per group of people (see [`group`]).
    groups: [u64; GROUPS],
}

/// Where a read of one person's facts started, for [`MemoryCache::keep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    everyone: u64,
    group: u64,
}

fn group(user_id: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    user_id.hash(&mut hasher);
    (hasher.finish() % GROUPS as u64) as usize
}

impl MemoryCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The person's facts, if kept.
    pub fn get(&self, user_id: &str) -> Option<Arc<[String]>> {
        self.lock().facts.get(user_id).cloned()
    }

    /// Taken before reading a person's facts from the database.
    pub fn generation(&self, user_id: &str) -> Generation {
        let inner = self.lock();
        Generation { everyone: inner.everyone, group: inner.groups[group(user_id)] }
    }

    /// Keeps facts read from the database, unless a change that may be theirs was handled
    /// since the read began (the read may have missed it, and its event has come and gone).
    pub fn keep(&self, user_id: &str, read_from: Generation, facts: &[String]) {
        let mut inner = self.lock();
        if read_from != (Generation { everyone: inner.everyone, group: inner.groups[group(user_id)] }) {
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
        match user_id {
            Some(user_id) => {
                inner.groups[group(user_id)] += 1;
                inner.facts.remove(user_id);
            }
            None => {
                inner.everyone += 1;
                inner.facts.clear();
            }
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
        cache.keep("ann", cache.generation("ann"), &facts(&["I run."]));
        cache.keep("bob", cache.generation("bob"), &facts(&["I swim."]));
        assert_eq!(cache.get("ann").as_deref(), Some(&facts(&["I run."])[..]));

        cache.changed(Some("ann"));
        assert!(cache.get("ann").is_none());
        assert!(cache.get("bob").is_some(), "another person's entry stays");

        cache.changed(None);
        assert!(cache.get("bob").is_none());
    }

    #[test]
    fn facts_read_while_a_change_of_theirs_came_in_are_not_kept() {
        let cache = MemoryCache::default();
        for change in [Some("ann"), None] {
            let read_from = cache.generation("ann");
            // The change lands after the read began; the read may or may not include it.
            cache.changed(change);
            cache.keep("ann", read_from, &facts(&["I have asthma."]));
            assert!(cache.get("ann").is_none(), "{change:?}");
        }
        // A read that began after it is kept.
        cache.keep("ann", cache.generation("ann"), &facts(&[]));
        assert_eq!(cache.get("ann").as_deref(), Some(&[][..]));

        // Another person's change refuses only the reads of their group.
        let other = (0..1000).map(|i| format!("user{i}")).find(|u| group(u) != group("bob")).unwrap_or_default();
        let read_from = cache.generation("bob");
        cache.changed(Some(&other));
        cache.keep("bob", read_from, &facts(&["I swim."]));
        assert!(cache.get("bob").is_some());
    }
}
