//! Joining a streamed model's pieces: the first goes out at once, later ones wait for the
//! next beat and go out together. Each delta wakes the turn, writes a frame to every socket
//! following it and redraws the answer on a phone, while a hosted model sends a piece every
//! 10-30 ms.
//!
//! The beats are shared by every answer the server streams: one wake-up then serves all the
//! answers due at that beat, instead of one per answer (BENCHMARKS.md, round 10).

use std::{
    sync::LazyLock,
    time::{Duration, Instant},
};

/// The time between two beats: below what a reader notices, above a fast model's gap
/// between tokens. Two deltas of one answer are 25 to 75 ms apart, 50 on average.
pub const DELTA_EVERY: Duration = Duration::from_millis(50);

/// The first beat; the others follow every `DELTA_EVERY`.
static FIRST_BEAT: LazyLock<Instant> = LazyLock::new(Instant::now);

/// The first beat at or after `at`.
fn beat_from(at: Instant) -> Instant {
    let first = *FIRST_BEAT;
    let since = at.saturating_duration_since(first).as_nanos();
    let beats = since.div_ceil(DELTA_EVERY.as_nanos());
    let offset = u64::try_from(beats * DELTA_EVERY.as_nanos()).unwrap_or(u64::MAX);
    first + Duration::from_nanos(offset)
}

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

    /// When the next delta may go, once one went: the first beat at least half an interval
    /// after the last delta.
    pub fn next_at(&self) -> Option<Instant> {
        self.sent_at.map(|sent| beat_from(sent + DELTA_EVERY / 2))
    }

    /// The held text, if it may go now: nothing went yet, or its beat has come.
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

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_first_piece_goes_at_once_and_close_ones_wait_together() {
        let start = Instant::now();
        let mut joiner = Joiner::default();
        assert_eq!(joiner.next_at(), None);
        joiner.push("One");
        assert_eq!(joiner.take_if_due(start).as_deref(), Some("One"));
        assert!(!joiner.holds_text());
        let due = joiner.next_at().unwrap_or(start);
        assert!(due >= start + 25 * MS && due < start + 75 * MS, "{:?}", due - start);
        joiner.push(" two");
        assert_eq!(joiner.take_if_due(due - MS), None);
        joiner.push(" three");
        assert_eq!(joiner.take_if_due(due - MS), None);
        assert!(joiner.holds_text());
        assert_eq!(joiner.take_if_due(due).as_deref(), Some(" two three"));
        // A piece after a longer gap than the interval goes at once.
        joiner.push(" four");
        let later = due + 80 * MS;
        assert_eq!(joiner.take_if_due(later).as_deref(), Some(" four"));
        joiner.push(" five");
        assert_eq!(joiner.take_if_due(later + 10 * MS), None);
        let due = joiner.next_at().unwrap_or(later);
        assert_eq!(joiner.take(due).as_deref(), Some(" five"));
        assert_eq!(joiner.take(due + MS), None);
    }

    #[test]
    fn answers_streaming_at_once_share_their_beats() {
        let start = Instant::now();
        let (mut a, mut b) = (Joiner::default(), Joiner::default());
        a.push("a");
        a.take(start);
        b.push("b");
        b.take(start + 13 * MS);
        let (due_a, due_b) = (a.next_at().unwrap_or(start), b.next_at().unwrap_or(start));
        let apart = if due_a > due_b { due_a - due_b } else { due_b - due_a };
        assert_eq!(apart.as_nanos() % DELTA_EVERY.as_nanos(), 0, "{apart:?}");
    }
}
