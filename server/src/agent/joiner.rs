//! Joining a streamed model's pieces: the first goes out at once, later ones wait until
//! `DELTA_EVERY` after the last sent and go out together. Each delta wakes the turn, writes a
//! frame to every socket following it and redraws the answer on a phone, while a hosted
//! model sends a piece every 10-30 ms.

use std::time::{Duration, Instant};

/// Below what a reader notices, above a fast model's gap between tokens.
pub const DELTA_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug, Default)]
pub struct Joiner {
    /// Text received but not sent yet.
    held: String,
    sent_at: Option<Instant>,
}

impl Joiner {
    /// Holds a piece until it is sent.
    pub fn push(&mut self, piece: &str) {
        self.held.push_str(piece);
    }

    /// Whether text waits to be sent.
    pub fn holds_text(&self) -> bool {
        !self.held.is_empty()
    }

    /// When the next delta may go, once one went.
    pub fn next_at(&self) -> Option<Instant> {
        self.sent_at.map(|sent| sent + DELTA_EVERY)
    }

    /// The held text, if it may go now: nothing went yet, or `DELTA_EVERY` has passed.
    pub fn take_if_due(&mut self, now: Instant) -> Option<String> {
        match self.next_at() {
            Some(at) if now < at => None,
            _ => self.take(now),
        }
    }

    /// The held text, now (at its due time, or before the answer ends).
    pub fn take(&mut self, now: Instant) -> Option<String> {
        if self.held.is_empty() {
            return None;
        }
        self.sent_at = Some(now);
        Some(std::mem::take(&mut self.held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_piece_goes_at_once_and_close_ones_wait_together() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut joiner = Joiner::default();
        assert_eq!(joiner.next_at(), None);
        joiner.push("One");
        assert_eq!(joiner.take_if_due(at(0)).as_deref(), Some("One"));
        assert!(!joiner.holds_text());
        assert_eq!(joiner.next_at(), Some(at(50)));
        joiner.push(" two");
        assert_eq!(joiner.take_if_due(at(10)), None);
        joiner.push(" three");
        assert_eq!(joiner.take_if_due(at(20)), None);
        assert!(joiner.holds_text());
        assert_eq!(joiner.take(at(50)).as_deref(), Some(" two three"));
        // A piece after a longer gap than the interval goes at once.
        joiner.push(" four");
        assert_eq!(joiner.take_if_due(at(130)).as_deref(), Some(" four"));
        joiner.push(" five");
        assert_eq!(joiner.take_if_due(at(140)), None);
        joiner.push(" six");
        assert_eq!(joiner.take_if_due(at(185)).as_deref(), Some(" five six"), "due by the time it came");
        assert_eq!(joiner.take(at(186)), None);
    }
}
