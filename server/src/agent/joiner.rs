//! Joining a streamed model's pieces: the first goes out at once, later ones that come
//! within `DELTA_EVERY` of the last sent wait and go out together. Each delta wakes the turn,
//! writes a frame to every socket following it and redraws the answer on a phone, while a
//! hosted model sends a piece every 10-30 ms.

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
    /// Takes a piece; returns the text to send now, if it is time.
    pub fn push(&mut self, piece: &str, now: Instant) -> Option<String> {
        self.held.push_str(piece);
        match self.sent_at {
            Some(sent) if now < sent + DELTA_EVERY => None,
            _ => self.take(now),
        }
    }

    /// When the held text is due, if any is held.
    pub fn due(&self) -> Option<Instant> {
        match (&self.sent_at, self.held.is_empty()) {
            (Some(sent), false) => Some(*sent + DELTA_EVERY),
            _ => None,
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
        assert_eq!(joiner.due(), None);
        assert_eq!(joiner.push("One", at(0)).as_deref(), Some("One"));
        assert_eq!(joiner.due(), None, "nothing held");
        assert_eq!(joiner.push(" two", at(10)), None);
        assert_eq!(joiner.push(" three", at(20)), None);
        assert_eq!(joiner.due(), Some(at(50)));
        assert_eq!(joiner.take(at(50)).as_deref(), Some(" two three"));
        // A piece after a longer gap than the interval goes at once.
        assert_eq!(joiner.push(" four", at(130)).as_deref(), Some(" four"));
        assert_eq!(joiner.push(" five", at(140)), None);
        assert_eq!(joiner.push(" six", at(185)).as_deref(), Some(" five six"), "due by the time it came");
        assert_eq!(joiner.take(at(186)), None);
    }
}
