//! Turns the agent events of one answer into ADK-style `RawEvent`s (stored with the message
//! and sent in the final `response` frame), and accumulates the answer's text.
//!
//! Stored events stay small: the streamed pieces of up to two seconds go into one partial
//! event (with their count and the time of the last), and the final event carries no copy of
//! the text (the message's `response` holds it). A stored answer is then its text twice (the
//! response and the partials) plus about 120 bytes per two seconds of streaming, against one
//! event per token and the text a third time before.

use std::time::Instant;

use app::wire::{
    chat::{Content, MessageStatus, Part, RawEvent, Timings, TriageRecord, Usage},
    guidance::Source,
    ErrorCode,
};

use super::AgentEvent;

/// The `author` of every event the coach produces.
pub const AUTHOR: &str = "coach";
/// The `author` of the event that records which library entries the prompt carried.
pub const GUIDANCE_AUTHOR: &str = "guidance";

/// The longest span of streaming one partial event covers.
const PARTIAL_SPAN_MS: u64 = 2_000;

pub struct Recorder {
    model: String,
    /// When the user's message arrived: every `at_ms` and timing counts from here.
    started: Instant,
    events: Vec<RawEvent>,
    text: String,
    first_token_ms: Option<u64>,
    usage: Option<Usage>,
    /// Set by the first terminal event; later ones are ignored so a turn has one final event.
    outcome: Option<MessageStatus>,
    /// Time spent waiting for the database and the model, to tell the server's own share.
    waited: std::time::Duration,
    /// The library entries the answer drew on, in the order the prompt numbered them.
    sources: Vec<Source>,
}

impl Recorder {
    pub fn new(model_name: impl Into<String>, started: Instant) -> Self {
        Self {
            model: model_name.into(),
            started,
            events: Vec::new(),
            text: String::new(),
            first_token_ms: None,
            usage: None,
            outcome: None,
            waited: std::time::Duration::ZERO,
            sources: Vec::new(),
        }
    }

    /// Counts time spent waiting for the database or the model.
    pub fn waited(&mut self, d: std::time::Duration) {
        self.waited += d;
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn content(text: &str) -> Content {
        Content { role: "model".into(), parts: vec![Part { text: text.to_string() }] }
    }

    pub fn record(&mut self, event: &AgentEvent) {
        if self.outcome.is_some() {
            return;
        }
        let at_ms = self.now_ms();
        match event {
            AgentEvent::Delta(delta) => {
                if delta.is_empty() {
                    return;
                }
                self.first_token_ms.get_or_insert(at_ms);
                self.text.push_str(delta);
                if let Some(open) =
                    self.events.last_mut().filter(|e| e.partial && at_ms.saturating_sub(e.at_ms) < PARTIAL_SPAN_MS)
                {
                    if let Some(part) = open.content.as_mut().and_then(|c| c.parts.first_mut()) {
                        part.text.push_str(delta);
                    }
                    open.pieces = Some(open.pieces.unwrap_or(1) + 1);
                    open.until_ms = Some(at_ms);
                    return;
                }
                self.events.push(RawEvent {
                    author: AUTHOR.into(),
                    content: Some(Self::content(delta)),
                    partial: true,
                    at_ms,
                    pieces: Some(1),
                    until_ms: Some(at_ms),
                    ..Default::default()
                });
            }
            AgentEvent::Usage { prompt_tokens, completion_tokens } => {
                let usage = Usage {
                    prompt_token_count: *prompt_tokens,
                    candidates_token_count: *completion_tokens,
                    total_token_count: prompt_tokens + completion_tokens,
                };
                self.usage = Some(usage.clone());
                self.events.push(RawEvent {
                    author: AUTHOR.into(),
                    usage_metadata: Some(usage),
                    at_ms,
                    ..Default::default()
                });
            }
            // Nothing retrieved: nothing to record.
            AgentEvent::Guidance(found) if found.is_empty() => {}
            AgentEvent::Guidance(found) => {
                self.sources = found.iter().map(|g| g.entry.source()).collect();
                self.events.push(RawEvent {
                    author: GUIDANCE_AUTHOR.into(),
                    guidelines: Some(found.iter().map(|g| g.usage()).collect()),
                    at_ms,
                    ..Default::default()
                });
            }
            AgentEvent::Triage { tier, rule } => self.events.push(RawEvent {
                author: "triage".into(),
                triage: Some(TriageRecord { tier: *tier, rule: rule.clone() }),
                at_ms,
                ..Default::default()
            }),
            AgentEvent::Finish { reason } => {
                // The provider's token limit: the answer ends mid-thought, and says so.
                let status = if reason == "length" { MessageStatus::CutOff } else { MessageStatus::Complete };
                self.push_final(at_ms, status, Some(reason.clone()), None)
            }
            AgentEvent::Error { code, message } => {
                self.push_final(at_ms, MessageStatus::Failed, None, Some((*code, message.clone())))
            }
        }
    }

    /// Ends the turn because the user pressed stop (no-op if it already ended).
    pub fn finish_stopped(&mut self) {
        if self.outcome.is_none() {
            let at_ms = self.now_ms();
            self.push_final(at_ms, MessageStatus::Stopped, Some("stopped".into()), None);
        }
    }

    /// Ends the turn because the server is going away (no-op if it already ended).
    pub fn finish_interrupted(&mut self) {
        if self.outcome.is_none() {
            let at_ms = self.now_ms();
            self.push_final(at_ms, MessageStatus::Interrupted, Some("interrupted".into()), None);
        }
    }

    fn push_final(
        &mut self,
        at_ms: u64,
        outcome: MessageStatus,
        finish_reason: Option<String>,
        error: Option<(ErrorCode, String)>,
    ) {
        let (error_code, error_message) = error.unzip();
        self.events.push(RawEvent {
            author: AUTHOR.into(),
            // Not the whole text again: the stored message's `response` and the frame's
            // `message` carry it.
            content: None,
            partial: false,
            turn_complete: true,
            finish_reason,
            usage_metadata: self.usage.clone(),
            model_version: Some(self.model.clone()),
            timings: Some(Timings {
                time_to_first_token_ms: self.first_token_ms,
                total_ms: at_ms,
                server_us: u64::try_from(self.started.elapsed().saturating_sub(self.waited).as_micros()).ok(),
            }),
            error_code,
            error_message,
            at_ms,
            ..Default::default()
        });
        self.outcome = Some(outcome);
    }

    /// The answer so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `None` while the answer is still streaming.
    pub fn outcome(&self) -> Option<MessageStatus> {
        self.outcome
    }

    pub fn time_to_first_token_ms(&self) -> Option<u64> {
        self.first_token_ms
    }

    /// The error of a failed answer, as `(code, message)`.
    pub fn error(&self) -> Option<(ErrorCode, &str)> {
        let last = self.events.last().filter(|_| self.outcome == Some(MessageStatus::Failed))?;
        Some((last.error_code?, last.error_message.as_deref()?))
    }

    /// The library entries the answer drew on.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    pub fn into_events(self) -> Vec<RawEvent> {
        self.events
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn delta(s: &str) -> AgentEvent {
        AgentEvent::Delta(s.into())
    }

    #[test]
    fn a_complete_answer_has_partials_usage_and_one_final_event() {
        let mut r = Recorder::new("m1", Instant::now());
        for e in [
            delta("Hello"),
            delta(" there"),
            AgentEvent::Usage { prompt_tokens: 10, completion_tokens: 2 },
            AgentEvent::Finish { reason: "stop".into() },
            delta("ignored after the end"),
        ] {
            r.record(&e);
        }
        assert_eq!(r.text(), "Hello there");
        assert_eq!(r.outcome(), Some(MessageStatus::Complete));
        assert!(r.time_to_first_token_ms().is_some());
        let events = r.into_events();
        assert_eq!(events.len(), 3, "{events:?}");
        // Both pieces came within a second: one partial event.
        assert!(events[0].partial);
        assert_eq!(events[0].author, "coach");
        assert_eq!(events[0].content.as_ref().unwrap().role, "model");
        assert_eq!(events[0].content.as_ref().unwrap().parts[0].text, "Hello there");
        assert_eq!(events[0].pieces, Some(2));
        assert_eq!(events[1].usage_metadata.as_ref().unwrap().total_token_count, 12);
        let last = &events[2];
        assert!(last.turn_complete && !last.partial);
        assert_eq!(last.finish_reason.as_deref(), Some("stop"));
        assert_eq!(last.model_version.as_deref(), Some("m1"));
        assert!(last.content.is_none(), "the text is not stored a second time");
        assert_eq!(last.usage_metadata.as_ref().unwrap().prompt_token_count, 10);
        let timings = last.timings.as_ref().unwrap();
        assert!(timings.time_to_first_token_ms.unwrap() <= timings.total_ms);
    }

    #[test]
    fn an_error_keeps_the_text_and_names_the_code() {
        let mut r = Recorder::new("m", Instant::now());
        r.record(&delta("partial"));
        r.record(&AgentEvent::Error { code: ErrorCode::ProviderMalformed, message: "bad chunk".into() });
        assert_eq!(r.outcome(), Some(MessageStatus::Failed));
        assert_eq!(r.error(), Some((ErrorCode::ProviderMalformed, "bad chunk")));
        let events = r.into_events();
        let last = events.last().unwrap();
        assert_eq!(last.error_code, Some(ErrorCode::ProviderMalformed));
        assert_eq!(last.finish_reason, None);
        assert_eq!(events[0].content.as_ref().unwrap().parts[0].text, "partial");
    }

    #[test]
    fn pieces_more_than_two_seconds_apart_start_a_new_partial_event() {
        let started = Instant::now() - std::time::Duration::from_secs(5);
        let mut r = Recorder::new("m", started);
        r.record(&delta("one "));
        // As if the first event began 2.5 s earlier.
        r.events[0].at_ms = r.events[0].at_ms.saturating_sub(2_500);
        r.record(&delta("two "));
        r.record(&delta("three"));
        let events = r.into_events();
        let texts: Vec<&str> = events.iter().map(|e| e.content.as_ref().unwrap().parts[0].text.as_str()).collect();
        assert_eq!(texts, ["one ", "two three"]);
        assert_eq!(events.iter().map(|e| e.pieces).collect::<Vec<_>>(), [Some(1), Some(2)]);
    }

    #[test]
    fn stopping_adds_a_final_event_once() {
        let mut r = Recorder::new("m", Instant::now());
        r.finish_stopped();
        r.finish_stopped();
        r.finish_interrupted();
        let events = r.into_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].finish_reason.as_deref(), Some("stopped"));
        assert_eq!(events[0].timings.as_ref().unwrap().time_to_first_token_ms, None);
        assert!(events[0].content.is_none());
    }
}
