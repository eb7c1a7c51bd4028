//! The chat page's client state: answers streaming in over the socket ("live turns") and
//! the session list as the server rendered it plus what changed since. The merge and frame
//! rules are plain functions so they can be unit-tested without a browser.

use std::collections::HashSet;

use crate::wire::{
    chat::{MessageStatus, MessageType, MessageView, SessionSummary},
    guidance::Source,
};

/// Where a live turn stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Sent (or queued while the socket reconnects); no answer text yet.
    Sending,
    /// Answer text is arriving.
    Streaming,
    /// The final `response` frame arrived.
    Done {
        status: MessageStatus,
        response_time_ms: u64,
    },
    Failed {
        message: String,
    },
}

/// One question asked from this page and its answer as it arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTurn {
    /// Stable key for rendering, assigned by the page.
    pub local_id: u64,
    /// `None` until the server creates the session for a message sent from a new chat.
    pub session_id: Option<String>,
    /// Known from the `typing` frame on; needed to resume after a reconnect.
    pub message_id: Option<String>,
    pub message: String,
    pub message_type: MessageType,
    pub text: String,
    /// The last delta applied, so replayed deltas after a resume are not shown twice.
    pub last_seq: Option<u64>,
    /// Whether the message left on a socket (false while queued for a reconnect).
    pub delivered: bool,
    /// A failed turn that was asked again (its Retry is spent).
    pub retried: bool,
    pub phase: Phase,
    /// Regenerate or edit: the turn this one replaces once its answer completes.
    pub replaces: Option<String>,
    /// The guideline entries the answer drew on (from its final frame).
    pub sources: Vec<Source>,
}

impl LiveTurn {
    pub fn new(local_id: u64, session_id: Option<String>, message: String, message_type: MessageType) -> Self {
        LiveTurn {
            local_id,
            session_id,
            message_id: None,
            message,
            message_type,
            text: String::new(),
            last_seq: None,
            delivered: false,
            retried: false,
            phase: Phase::Sending,
            replaces: None,
            sources: Vec::new(),
        }
    }

    pub fn in_flight(&self) -> bool {
        matches!(self.phase, Phase::Sending | Phase::Streaming)
    }

    /// Appends a delta unless it was already seen; returns whether it was new.
    pub fn apply_delta(&mut self, seq: u64, text: &str) -> bool {
        if self.last_seq.is_some_and(|last| seq <= last) || !self.in_flight() {
            return false;
        }
        self.text.push_str(text);
        self.last_seq = Some(seq);
        self.phase = Phase::Streaming;
        true
    }

    /// The `after_seq` of a resume: everything after the last delta shown.
    pub fn resume_after(&self) -> u64 {
        self.last_seq.unwrap_or(0)
    }
}

/// "1.2 s" (or "850 ms" under a second).
pub fn format_response_time(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// The list the sidebar shows: the server's pages, then live changes on top (newer
/// versions of a session replace older ones; deleted ones go), newest first.
pub fn merge_sessions(pages: &[SessionSummary], upserts: &[SessionSummary], deleted: &[String]) -> Vec<SessionSummary> {
    let mut out: Vec<SessionSummary> = Vec::with_capacity(pages.len() + upserts.len());
    for s in pages.iter().chain(upserts) {
        match out.iter_mut().find(|o| o.session_id == s.session_id) {
            Some(existing) => *existing = s.clone(),
            None => out.push(s.clone()),
        }
    }
    let deleted: HashSet<&str> = deleted.iter().map(String::as_str).collect();
    out.retain(|s| s.is_active && !deleted.contains(s.session_id.as_str()));
    out.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
    out
}

/// What of a live turn decides whether a stored message duplicates it (not the streaming
/// text, so a delta does not re-render the stored history).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveKey {
    pub message_id: Option<String>,
    /// Sent, id not known yet.
    pub awaiting: bool,
    pub message: String,
}

impl LiveTurn {
    pub fn key(&self) -> LiveKey {
        LiveKey {
            message_id: self.message_id.clone(),
            awaiting: self.message_id.is_none() && self.in_flight(),
            message: self.message.clone(),
        }
    }
}

/// Whether a stored message is already shown by a live turn on this page (same id, or a
/// still-pending copy of a message this page is streaming right now).
pub fn shown_live(stored: &MessageView, live: &[LiveKey]) -> bool {
    live.iter().any(|k| {
        k.message_id.as_deref() == Some(stored.message_id.as_str())
            || (k.awaiting && stored.status == MessageStatus::Pending && stored.message == k.message)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn session(id: &str, title: &str, minute: u32) -> SessionSummary {
        let at = Utc.with_ymd_and_hms(2025, 1, 1, 12, minute, 0).unwrap();
        SessionSummary { session_id: id.into(), title: title.into(), created_at: at, updated_at: at, is_active: true }
    }

    #[test]
    fn live_changes_win_and_the_newest_comes_first() {
        let pages = [session("a", "A", 1), session("b", "B", 2)];
        let upserts = [session("c", "C", 3), session("a", "A renamed", 1)];
        let merged = merge_sessions(&pages, &upserts, &["b".into()]);
        let titles: Vec<_> = merged.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["C", "A renamed"]);
    }

    #[test]
    fn an_inactive_update_removes_the_session() {
        let mut gone = session("a", "A", 1);
        gone.is_active = false;
        assert!(merge_sessions(&[session("a", "A", 1)], &[gone], &[]).is_empty());
    }

    #[test]
    fn replayed_deltas_are_not_shown_twice() {
        let mut t = LiveTurn::new(1, None, "hi".into(), MessageType::General);
        assert!(t.apply_delta(1, "Hello"));
        assert!(t.apply_delta(2, " there"));
        assert!(!t.apply_delta(2, " there"));
        assert!(!t.apply_delta(1, "Hello"));
        assert!(t.apply_delta(3, "!"));
        assert_eq!(t.text, "Hello there!");
        assert_eq!(t.resume_after(), 3);
        assert_eq!(t.phase, Phase::Streaming);
    }

    #[test]
    fn response_times_read_naturally() {
        assert_eq!(format_response_time(1234), "1.2 s");
        assert_eq!(format_response_time(850), "850 ms");
    }

    #[test]
    fn stored_copies_of_live_turns_are_hidden() {
        let at = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
        let stored = |id: &str, status: MessageStatus| MessageView {
            message_id: id.into(),
            session_id: "s".into(),
            message: "hi".into(),
            response: String::new(),
            message_type: MessageType::General,
            created_at: at,
            response_time_ms: None,
            status,
            sources: Vec::new(),
        };
        let mut known = LiveTurn::new(1, Some("s".into()), "hi".into(), MessageType::General);
        known.message_id = Some("m1".into());
        let waiting = LiveTurn::new(2, Some("s".into()), "hi".into(), MessageType::General);
        let all = [
            stored("m0", MessageStatus::Complete),
            stored("m1", MessageStatus::Complete),
            stored("m2", MessageStatus::Pending),
        ];
        let keys = [known.key(), waiting.key()];
        let shown: Vec<_> = all.iter().filter(|m| !shown_live(m, &keys)).map(|m| m.message_id.clone()).collect();
        assert_eq!(shown, ["m0"]);
    }
}
