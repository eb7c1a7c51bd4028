//! Per-user fan-out of session events (`session_created` / `_updated` / `_deleted`) to every
//! open socket of that user on this instance, so a second tab's list stays current. An event
//! goes straight into each socket's frame queue, as a turn's frames do: no task in between to
//! wake (BENCHMARKS.md, round 12).
//!
//! Only the change-stream watcher (`chat::events`) publishes: every instance learns every
//! session change from MongoDB, its own included, so each socket gets each event once,
//! whichever instance made the change.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use app::wire::chat::ServerFrame;
use tokio::sync::{mpsc::error::TrySendError, Notify};

use crate::chat::turns::FrameSender;

/// The longest a new turn waits for its session event to come back through the change
/// stream (normally a few ms). Past it the turn goes on; the event still follows.
pub const ECHO_WAIT: Duration = Duration::from_secs(1);
/// Newest published turn (`last_seq`) per session, kept this long for turns that wait on it.
const SEEN_FOR: Duration = Duration::from_secs(30);

/// Each user's open sockets here: their subscription numbers and frame queues.
type Sockets = HashMap<String, Vec<(u64, FrameSender)>>;

#[derive(Clone, Default)]
pub struct Hub {
    users: Arc<Mutex<Sockets>>,
    next_id: Arc<AtomicU64>,
    seen: Arc<Seen>,
}

/// A socket's subscription to its user's events; dropping it ends them.
pub struct Subscription {
    hub: Hub,
    user_id: String,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut users = self.hub.lock_users();
        if let Some(sockets) = users.get_mut(&self.user_id) {
            sockets.retain(|(id, _)| *id != self.id);
            if sockets.is_empty() {
                users.remove(&self.user_id);
            }
        }
    }
}

/// What was published lately, for [`Hub::wait_for_event`].
#[derive(Default)]
struct Seen {
    sessions: Mutex<HashMap<String, SeenSession>>,
}

/// One session's newest published turn, when it was last touched, and what its waiting turns
/// wait on: per session, so a publish wakes only the turns of that session, not every waiting
/// turn of the instance.
struct SeenSession {
    /// The `last_seq` the change itself wrote (not the document looked up later, which may
    /// already show a newer turn): so the event of turn `n` is seen only once the stream
    /// reached that turn's own write.
    seq: i64,
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
            seq: i64::MIN,
            touched: Instant::now(),
            published: Arc::default(),
        })
    }

    fn record(&self, session_id: &str, seq: i64) {
        let mut sessions = self.lock();
        let seen = Self::entry(&mut sessions, session_id);
        seen.seq = seen.seq.max(seq);
        seen.touched = Instant::now();
        seen.published.notify_waiters();
    }

    /// Whether turn `seq` was reached, else what to wait on.
    fn reached_or_wait(&self, session_id: &str, seq: i64) -> Result<(), Arc<Notify>> {
        let mut sessions = self.lock();
        let seen = Self::entry(&mut sessions, session_id);
        if seen.seq >= seq {
            return Ok(());
        }
        seen.touched = Instant::now();
        Err(seen.published.clone())
    }
}

impl Hub {
    fn lock_users(&self) -> std::sync::MutexGuard<'_, Sockets> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends this user's events into `out` (a socket's frame queue) until the subscription
    /// is dropped.
    pub fn subscribe(&self, user_id: &str, out: FrameSender) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock_users().entry(user_id.to_string()).or_default().push((id, out));
        Subscription { hub: self.clone(), user_id: user_id.to_string(), id }
    }

    /// This user's open sockets on this instance (each holds one subscription).
    pub fn sockets(&self, user_id: &str) -> usize {
        self.lock_users().get(user_id).map_or(0, Vec::len)
    }

    /// Sends `frame` to this user's sockets on this instance. Called by the change-stream
    /// watcher only; a change made here reaches the sockets through it like any other.
    /// `written_seq` is the session's `last_seq` as the change wrote it, if it wrote one.
    pub fn publish(&self, user_id: &str, frame: ServerFrame, written_seq: Option<i64>) {
        let session_id = match &frame {
            ServerFrame::SessionCreated { session } | ServerFrame::SessionUpdated { session } => {
                Some(session.session_id.clone())
            }
            _ => None,
        };
        let sent = match self.lock_users().get(user_id) {
            Some(sockets) => {
                let frame = Arc::new(frame);
                for (_, out) in sockets {
                    // A socket this far behind misses the event; its list catches up on reload.
                    if let Err(TrySendError::Full(_)) = out.try_send(frame.clone()) {
                        tracing::warn!("a socket fell behind on session events; one was dropped");
                    }
                }
                true
            }
            None => false,
        };
        if let (true, Some(session_id), Some(seq)) = (sent, session_id, written_seq) {
            self.seen.record(&session_id, seq);
        }
    }

    /// Waits until the event of turn `seq` of `session_id` (or a later turn's) has been
    /// published to this user's sockets here, or [`ECHO_WAIT`] has passed. A turn calls it
    /// after its first write, so the socket that sent the message gets
    /// `session_created`/`_updated` before the answer's first frame, and so that every change
    /// made before that write has been handled (`memory::cache` relies on it). Returns at
    /// once, not seen, when the user has no socket on this instance.
    pub async fn wait_for_event(&self, user_id: &str, session_id: &str, seq: i64) -> Echo {
        let started = tokio::time::Instant::now();
        if self.sockets(user_id) == 0 {
            return Echo { waited: Duration::ZERO, seen: false };
        }
        let seen = async {
            loop {
                let Err(notify) = self.seen.reached_or_wait(session_id, seq) else { return };
                let published = notify.notified();
                tokio::pin!(published);
                // Registered, then checked again: a publish in between is not missed.
                published.as_mut().enable();
                if self.seen.reached_or_wait(session_id, seq).is_ok() {
                    return;
                }
                published.await;
            }
        };
        let seen = tokio::time::timeout(ECHO_WAIT, seen).await.is_ok();
        if !seen {
            tracing::debug!(session_id, "the session event has not come back from the change stream yet");
        }
        Echo { waited: started.elapsed(), seen }
    }
}

/// How a wait for a turn's own session event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub waited: Duration,
    /// The event came back: the stream has handled every change made before the turn's write.
    pub seen: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use app::wire::chat::SessionSummary;
    use mongodb::bson::DateTime;

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
        // No socket here: nothing to wait for, and nothing seen.
        assert_eq!(hub.wait_for_event("u", "s", 5).await, Echo { waited: Duration::ZERO, seen: false });

        let (out, mut socket) = tokio::sync::mpsc::channel(16);
        let _subscribed = hub.subscribe("u", out);
        let waiter = {
            let hub = hub.clone();
            tokio::spawn(async move { hub.wait_for_event("u", "s", 5).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // An older turn of the session, another session's, and a change that wrote no turn
        // (a rename) do not end the wait.
        hub.publish("u", updated("s", 4), Some(4));
        hub.publish("u", updated("other", 9), Some(9));
        hub.publish("u", updated("s", 10), None);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        hub.publish("u", updated("s", 6), Some(5));
        let echo = waiter.await.unwrap();
        assert!(echo.seen);
        assert!(echo.waited >= Duration::from_millis(40) && echo.waited < ECHO_WAIT, "{echo:?}");
        for expected in [4, 9, 10, 6] {
            match &*socket.recv().await.unwrap() {
                ServerFrame::SessionUpdated { session } => {
                    assert_eq!(session.updated_at.timestamp_millis(), expected)
                }
                other => panic!("{other:?}"),
            }
        }
        // Already seen: no wait at all.
        let echo = hub.wait_for_event("u", "s", 5).await;
        assert!(echo.seen && echo.waited < Duration::from_millis(50), "{echo:?}");
    }

    #[tokio::test]
    async fn a_lost_event_holds_a_turn_back_at_most_the_echo_wait() {
        let hub = Hub::default();
        let (out, _socket) = tokio::sync::mpsc::channel(16);
        let _subscribed = hub.subscribe("u", out);
        let echo = hub.wait_for_event("u", "s", 5).await;
        assert!(!echo.seen);
        assert!(echo.waited >= ECHO_WAIT && echo.waited < ECHO_WAIT + Duration::from_millis(500), "{echo:?}");
    }
}
