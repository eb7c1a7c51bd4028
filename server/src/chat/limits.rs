//! Per-user limits on the chat, so one user cannot take the model (a local one's queue, a
//! paid one's bill) or the server from everyone else: messages and resumes per minute here,
//! in sliding windows; answers at once in the turn registry; open sockets in the hub.
//! Counted per instance, in memory: behind N instances a user gets at most N times these.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

const WINDOW: Duration = Duration::from_secs(60);
/// Past this many tracked users the windows start over rather than grow without bound.
const MAX_TRACKED: usize = 100_000;

/// What a window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Message,
    Resume,
}

/// When each user last did each action, within the window.
type Seen = HashMap<(String, Action), VecDeque<Instant>>;

#[derive(Clone, Default)]
pub struct Windows {
    seen: Arc<Mutex<Seen>>,
}

impl Windows {
    /// Counts one `action` of `user_id` if fewer than `max` happened in the last minute;
    /// otherwise how long until one more is allowed.
    pub fn take(&self, user_id: &str, action: Action, max: usize) -> Result<(), Duration> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_TRACKED {
            seen.clear();
        }
        let times = seen.entry((user_id.to_string(), action)).or_default();
        let now = Instant::now();
        while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            times.pop_front();
        }
        if times.len() >= max {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_window_allows_max_per_minute_per_user_and_action() {
        let windows = Windows::default();
        for _ in 0..3 {
            assert!(windows.take("u1", Action::Message, 3).is_ok());
        }
        let wait = windows.take("u1", Action::Message, 3).unwrap_err();
        assert!(wait > Duration::from_secs(59) && wait <= WINDOW, "{wait:?}");
        assert!(windows.take("u2", Action::Message, 3).is_ok(), "another user");
        assert!(windows.take("u1", Action::Resume, 3).is_ok(), "another action");
    }
}
