//! The coach: one interface over every model provider. Given the user's profile, the recent
//! conversation and the new message, an agent yields a stream of events.

pub mod events;
pub mod guidance;
pub mod joiner;
pub mod local;
pub mod openai;
pub mod prompt;
pub mod sse;
pub mod transport;
pub mod triage;

use std::{pin::Pin, sync::Arc};

use app::wire::{chat::MessageType, profile::Profile, ErrorCode};
use futures::{Stream, StreamExt};

pub use events::Recorder;
pub use local::LocalAgent;
pub use openai::{OpenAiAgent, OpenAiSettings};
pub use triage::{triage, GuardedAgent, SafetyLines, Triage};

use crate::config::{Config, LlmConfig};

/// One earlier exchange in the session, oldest first. Its texts are shared: every turn of a
/// session takes the cached history, and a copy of each text per turn would cost more than
/// the rest of the cache lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct PastTurn {
    pub user: Arc<str>,
    pub assistant: Arc<str>,
}

#[derive(Debug, Clone, Default)]
pub struct AgentRequest {
    pub profile: Profile,
    /// Recent turns, oldest first; the agent trims them to its token budget.
    pub history: Vec<PastTurn>,
    pub message: String,
    /// One of `app::wire::chat::MESSAGE_TYPES`.
    pub message_type: MessageType,
    /// The answer's token limit, which the prompt states so the model can finish in time.
    pub answer_tokens: u32,
    /// What the user told the coach in earlier chats (their memory), oldest first.
    pub memory: Vec<String>,
    /// Library entries for this question, best first (filled in by `GroundedAgent`).
    pub guidance: Vec<guidance::Guideline>,
}

/// What a model produces while it answers.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// New text (only the new part).
    Delta(String),
    Usage {
        prompt_tokens: u64,
        completion_tokens: u64,
    },
    /// The answer ended normally; `reason` is `stop`, `length` or `safety`.
    Finish {
        reason: String,
    },
    /// The answer ended with an error; text already streamed stays valid.
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The library entries put into the prompt (before any text).
    Guidance(Vec<guidance::Guideline>),
    /// How the message was sorted before any model saw it (first, from the triage).
    Triage {
        tier: app::wire::chat::TriageTier,
        rule: Option<String>,
    },
}

pub type EventStream = Pin<Box<dyn Stream<Item = AgentEvent> + Send>>;

#[async_trait::async_trait]
pub trait Agent: Send + Sync {
    /// The model name recorded in `raw_events` (`model_version`).
    fn model_name(&self) -> String;
    /// True for the embedded demo model, which the UI labels as such.
    fn is_local_demo(&self) -> bool;
    /// How many library entries this provider's prompt has room for.
    fn guidance_limit(&self) -> usize {
        guidance::MAX_ENTRIES
    }
    /// Starts an answer. The stream always ends with exactly one `Finish` or `Error`.
    async fn answer(&self, request: AgentRequest) -> EventStream;
    /// A short title (at most ~6 words) for a session, or `None` when unavailable.
    async fn title(&self, first_message: &str, first_answer: &str) -> Option<String>;
}

pub type SharedAgent = Arc<dyn Agent>;

/// Builds the configured provider, wrapped in the triage.
///
/// Loading the local model blocks for a moment (about 0.2 s for the demo model), so call
/// this at start-up, not per request.
pub fn build(config: &Config, library: Arc<guidance::Library>) -> Result<SharedAgent, AgentBuildError> {
    let provider: SharedAgent = match &config.llm {
        LlmConfig::OpenAi { base_url, api_key, model } => {
            Arc::new(OpenAiAgent::new(base_url, api_key.clone(), model, config.max_answer_tokens)?)
        }
        LlmConfig::Local { model_path } => Arc::new(LocalAgent::load(model_path, config.max_answer_tokens)?),
    };
    let grounded: SharedAgent = Arc::new(guidance::GroundedAgent::new(provider, library));
    Ok(Arc::new(GuardedAgent::new(grounded, config.safety_lines.clone())))
}

#[derive(Debug, thiserror::Error)]
pub enum AgentBuildError {
    #[error("the model provider's address: {0}")]
    Provider(#[from] openai::InvalidUrl),
    #[error("could not load the local model: {0}")]
    Local(#[from] local::LocalLoadError),
}

/// The events a `producer` task sends into `rx`. The task reads the model as its pieces
/// arrive, so whoever reads the stream finds them all waiting when it comes back for them;
/// dropping the stream aborts the task (and with it the model's request).
pub(crate) fn spawned<F>(producer: F, mut rx: tokio::sync::mpsc::Receiver<AgentEvent>) -> impl Stream<Item = AgentEvent>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let task = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(producer));
    futures::stream::poll_fn(move |cx| {
        let _owned = &task;
        rx.poll_recv(cx)
    })
}

/// Passes events through until the first `Finish` or `Error`, and adds an `Error` if the
/// source ends without one, so every consumer can rely on exactly one terminal event.
pub(crate) fn ensure_terminal<S>(events: S) -> EventStream
where
    S: Stream<Item = AgentEvent> + Send + 'static,
{
    let events: EventStream = Box::pin(events);
    Box::pin(futures::stream::unfold((events, false), |(mut events, done)| async move {
        if done {
            return None;
        }
        match events.next().await {
            Some(event) => {
                let terminal = matches!(event, AgentEvent::Finish { .. } | AgentEvent::Error { .. });
                Some((event, (events, terminal)))
            }
            None => {
                let event = AgentEvent::Error {
                    code: ErrorCode::AgentFailed,
                    message: "the model stopped without finishing the answer".into(),
                };
                Some((event, (events, true)))
            }
        }
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_that_ends_early_gets_an_error_and_nothing_follows_a_terminal() {
        let cut: Vec<_> = ensure_terminal(futures::stream::iter(vec![AgentEvent::Delta("a".into())])).collect().await;
        assert!(matches!(cut.last(), Some(AgentEvent::Error { code, .. }) if *code == ErrorCode::AgentFailed));

        let extra =
            futures::stream::iter(vec![AgentEvent::Finish { reason: "stop".into() }, AgentEvent::Delta("late".into())]);
        let events: Vec<_> = ensure_terminal(extra).collect().await;
        assert_eq!(events, vec![AgentEvent::Finish { reason: "stop".into() }]);
    }
}
