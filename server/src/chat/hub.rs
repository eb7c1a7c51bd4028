//! Per-user fan-out of session events (`session_created` / `_updated` / `_deleted`) to every
//! open socket of that user, so a second tab's list stays current.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use app::wire::chat::ServerFrame;
use tokio::sync::broadcast;

#[derive(Clone, Default)]
pub struct Hub {
    users: Arc<Mutex<HashMap<String, broadcast::Sender<ServerFrame>>>>,
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

    pub fn publish(&self, user_id: &str, frame: ServerFrame) {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = users.get(user_id) {
            let _ = tx.send(frame);
        }
    }
}
