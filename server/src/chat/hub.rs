//! Per-user fan-out of session events (`session_created` / `_updated` / `_deleted`) to every
//! open socket of that user on this instance, so a second tab's list stays current.
//!
//! Only the change-stream watcher (`chat::events`) publishes: every instance learns every
//! session change from MongoDB, its own included, so each socket gets each event once,
//! whichever instance made the change.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::wire::chat::ServerFrame;
use mongodb::bson::DateTime;
use tokio::sync::{broadcast, Notify};

/// The longest a new turn waits for its session event to come back through the change
/// stream (normally a few ms). Past it the turn goes on; the event still follows.
pub const ECHO_WAIT: Duration = Duration::from_secs(1);
/// Newest published `updated_at` per session, kept this long for turns that wait on it.
const SEEN_FOR: Duration = Duration::from_secs(30);

#[derive(Clone, Default)]
pub struct Hub {
    users: Arc<Mutex<HashMap<String, broadcast::Sender<ServerFrame>>>>,
    seen: Arc<Seen>,
}

/// What was published lately, for [`Hub::wait_for_event`].
#[derive(Default)]
struct Seen {
    sessions: Mutex<HashMap<String, SeenSession>>,
}

/// One session's newest published `updated_at` (ms), when it was last touched, and what its
/// waiting turns wait on: per session, so a publish wakes only the turns of that session,
/// not every waiting turn of the instance.
struct SeenSession {
    updated_at: i64,
    touched: Instant,
    published: Arc<Notify>,
}

impl Seen {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SeenSession>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session's entry, made if missing (old entries make room first; a waiter's entry
    /// is fresh, so it stays for as long as anyone waits on it).
    fn entry<'a>(sessions: &'a mut HashMap<String, SeenSession>, session_id: &str) -> &'a mut SeenSession {
        if sessions.len() >= 256 && !sessions.contains_key(session_id) {
            sessions.retain(|_, s| s.touched.elapsed() < SEEN_FOR);
        }
        sessions.entry(session_id.to_string()).or_insert_with(|| SeenSession {
            updated_at: i64::MIN,
            touched: Instant::now(),
            published: Arc::default(),
        })
    }

    fn record(&self, session_id: &str, updated_at: i64) {
        let mut sessions = self.lock();
        let seen = Self::entry(&mut sessions, session_id);
        seen.updated_at = seen.updated_at.max(updated_at);
        seen.touched = Instant::now();
        seen.published.notify_waiters();
    }

    /// Whether `updated_at` was reached, else what to wait on.
    fn reached_or_wait(&self, session_id: &str, updated_at: i64) -> Result<(), Arc<Notify>> {
        let mut sessions = self.lock();
        let seen = Self::entry(&mut sessions, session_id);
        if seen.updated_at >= updated_at {
            return Ok(());
        }
        seen.touched = Instant::now();
        Err(seen.published.clone())
    }
}

impl Hub {
    /// A receiver of this user's events; dropped receivers clean themselves up lazily.
    pub fn subscribe(&self, user_id: &str) -> broadcast::Receiver<ServerFrame> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.retain(|_, tx| tx.receiver_count() > 0);
        users.entry(user_id.to_string()).or_insert_with(|| broadcast::channel(64).0).subscribe()
    }

    /// This user's open sockets on this instance (each holds one receiver).
    pub fn sockets(&self, user_id: &str) -> usize {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.get(user_id).map_or(0, |tx| tx.receiver_count())
    }

    /// Sends `frame` to this user's sockets on this instance. Called by the change-stream
    /// watcher only; a change made here reaches the sockets through it like any other.
    pub fn publish(&self, user_id: &str, frame: ServerFrame) {
        let session = match &frame {
            ServerFrame::SessionCreated { session } | ServerFrame::SessionUpdated { session } => {
                Some((session.session_id.clone(), session.updated_at.timestamp_millis()))
            }
            _ => None,
        };
        let sent = {
            let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
            users.get(user_id).is_some_and(|tx| tx.send(frame).is_ok())
        };
        if let (true, Some((session_id, updated_at))) = (sent, session) {
            self.seen.record(&session_id, updated_at);
        }
    }

    /// Waits until an event for `session_id` with an `updated_at` of at least `updated_at`
    /// has been published to this user's sockets here, or [`ECHO_WAIT`] has passed; returns
    /// the time waited. A turn calls it after its first write, so the socket that sent the
    /// message gets `session_created`/`_updated` before the answer's first frame. Returns at
    /// once when the user has no socket on this instance.
    pub async fn wait_for_event(&self, user_id: &str, session_id: &str, updated_at: DateTime) -> Duration {
        let started = tokio::time::Instant::now();
        if self.sockets(user_id) == 0 {
            return Duration::ZERO;
        }
        let at = updated_at.timestamp_millis();
        let seen = async {
            loop {
                let Err(notify) = self.seen.reached_or_wait(session_id, at) else { return };
                let published = notify.notified();
                tokio::pin!(published);
                // Registered, then checked again: a publish in between is not missed.
                published.as_mut().enable();
                if self.seen.reached_or_wait(session_id, at).is_ok() {
                    return;
                }
                published.await;
            }
        };
        if tokio::time::timeout(ECHO_WAIT, seen).await.is_err() {
            tracing::debug!(session_id, "the session event has not come back from the change stream yet");
        }
        started.elapsed()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use app::wire::chat::SessionSummary;

    use super::*;

    fn updated(session_id: &str, millis: i64) -> ServerFrame {
        let at = DateTime::from_millis(millis).to_chrono();
        ServerFrame::SessionUpdated {
            session: SessionSummary {
                session_id: session_id.into(),
                title: "t".into(),
                created_at: at,
                updated_at: at,
                is_active: true,
            },
        }
    }

    #[tokio::test]
    async fn a_turn_waits_for_its_own_event_and_no_longer() {
        let hub = Hub::default();
        // No socket here: nothing to wait for.
        assert_eq!(hub.wait_for_event("u", "s", DateTime::from_millis(5)).await, Duration::ZERO);

        let mut socket = hub.subscribe("u");
        let waiter = {
            let hub = hub.clone();
            tokio::spawn(async move { hub.wait_for_event("u", "s", DateTime::from_millis(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // An older event of the session, and another session's, do not end the wait.
        hub.publish("u", updated("s", 4));
        hub.publish("u", updated("other", 9));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        hub.publish("u", updated("s", 6));
        let waited = waiter.await.unwrap();
        assert!(waited >= Duration::from_millis(40) && waited < ECHO_WAIT, "{waited:?}");
        for expected in [4, 9, 6] {
            match socket.recv().await.unwrap() {
                ServerFrame::SessionUpdated { session } => {
                    assert_eq!(session.updated_at.timestamp_millis(), expected)
                }
                other => panic!("{other:?}"),
            }
        }
        // Already seen: no wait at all.
        assert!(hub.wait_for_event("u", "s", DateTime::from_millis(6)).await < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_lost_event_holds_a_turn_back_at_most_the_echo_wait() {
        let hub = Hub::default();
        let _socket = hub.subscribe("u");
        let waited = hub.wait_for_event("u", "s", DateTime::from_millis(5)).await;
        assert!(waited >= ECHO_WAIT && waited < ECHO_WAIT + Duration::from_millis(500), "{waited:?}");
    }
}
