//! The embedded demo model (SmolLM2-135M-Instruct, gguf) run in-process with llama.cpp.
//!
//! One worker thread owns the model and its context and answers one request at a time from a
//! bounded queue: llama.cpp contexts are not shareable, a second context would double the
//! memory, and on a small machine two generations in parallel are no faster than two in a
//! row. Tokens travel to the async side over a channel; a reader that goes away (the user
//! stopped) ends the generation at the next token.
//!
//! Without the `local-model` cargo feature the engine is not compiled and `load` says so.

use std::{path::Path, time::Duration};

use app::wire::ErrorCode;
use tokio::sync::mpsc;

use super::{ensure_terminal, guidance::Guideline, Agent, AgentEvent, AgentRequest, EventStream};

pub const LOCAL_MODEL_NAME: &str = "SmolLM2-135M-Instruct (offline demo)";

/// Tokens of context: prompt plus answer. The demo model was trained on 8k, but 2k keeps the
/// KV cache small (~50 MB) and the trimmed history fits in it.
#[cfg_attr(not(feature = "local-model"), allow(dead_code))]
const CONTEXT_TOKENS: u32 = 2048;
/// Requests allowed to wait for the worker; beyond that answers fail fast with `local_busy`
/// instead of piling up minutes of latency.
const QUEUE_CAPACITY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum LocalLoadError {
    #[error("this server was built without the `local-model` feature; set LLM_BASE_URL to use a remote model")]
    FeatureOff,
    #[error("model file {0} not found (see TOOLCHAIN.md for how to fetch it)")]
    Missing(String),
    #[error("llama.cpp failed: {0}")]
    Engine(String),
    #[error("the model thread failed: {0}")]
    Thread(String),
}

/// One queued answer.
#[cfg_attr(not(feature = "local-model"), allow(dead_code))]
struct Job {
    request: AgentRequest,
    /// Unbounded so the worker never blocks on a slow reader; an answer is at most
    /// `max_tokens` small messages.
    events: mpsc::UnboundedSender<AgentEvent>,
}

pub struct LocalAgent {
    jobs: mpsc::Sender<Job>,
    load_time: Duration,
}

impl LocalAgent {
    /// Loads the gguf at `path` on a new worker thread and waits until it is ready.
    /// Blocks while loading (a fraction of a second for the demo model): call it at start-up.
    pub fn load(path: &Path, max_tokens: u32) -> Result<Self, LocalLoadError> {
        if !cfg!(feature = "local-model") {
            return Err(LocalLoadError::FeatureOff);
        }
        if !path.is_file() {
            return Err(LocalLoadError::Missing(path.display().to_string()));
        }
        let started = std::time::Instant::now();
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        engine::spawn(path.to_path_buf(), max_tokens, queue)?;
        let load_time = started.elapsed();
        tracing::info!(?load_time, path = %path.display(), "local model loaded");
        Ok(Self { jobs, load_time })
    }

    /// How long loading took (reported in start-up logs and tests).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
}

fn failed(code: ErrorCode, message: &str) -> EventStream {
    let event = AgentEvent::Error { code, message: message.into() };
    Box::pin(futures::stream::iter([event]))
}

#[async_trait::async_trait]
impl Agent for LocalAgent {
    fn model_name(&self) -> String {
        LOCAL_MODEL_NAME.into()
    }

    fn is_local_demo(&self) -> bool {
        true
    }

    /// Its 2,048-token context has room for one entry.
    fn guidance_limit(&self) -> usize {
        1
    }

    async fn answer(&self, request: AgentRequest) -> EventStream {
        // The demo model is too small to restate facts reliably: a question the library
        // answers clearly is answered from the entry.
        if let Some(strong) = request.guidance.first().filter(|g| g.strong) {
            return Box::pin(futures::stream::iter(answer_from_entry(strong, &request)));
        }
        let (events, mut rx) = mpsc::unbounded_channel();
        match self.jobs.try_send(Job { request, events }) {
            Ok(()) => ensure_terminal(futures::stream::poll_fn(move |cx| rx.poll_recv(cx))),
            Err(mpsc::error::TrySendError::Full(_)) => {
                failed(ErrorCode::LocalBusy, "the offline demo model is busy; try again in a moment")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                failed(ErrorCode::LocalUnavailable, "the offline demo model is not running")
            }
        }
    }

    /// The demo model's titles are poor and making one would hold up the answer queue: the
    /// title is made from the message's key words instead.
    async fn title(&self, first_message: &str, _first_answer: &str) -> Option<String> {
        keyword_title(first_message)
    }
}

/// The events of an answer restated from a library entry: its text, its number for the
/// source shown under the answer, and its source in words. Where the profile says strenuous
/// exercise needs a doctor's clearance first, an activity entry opens with that.
fn answer_from_entry(guideline: &Guideline, request: &AgentRequest) -> Vec<AgentEvent> {
    let entry = &guideline.entry;
    let mut text = String::new();
    if !request.profile.readiness_yes.is_empty() && entry.topic.is_exercise() {
        text.push_str(
            "Because of your answers to the readiness questions, check with your doctor before you \
             start anything strenuous; walking is fine meanwhile.\n\n",
        );
    }
    // The entry is general guidance; what the person told us about their health may change
    // how it applies, which a small model cannot judge reliably.
    let notes = request.profile.health_notes.as_deref().is_some_and(|n| !n.trim().is_empty());
    if notes || !request.memory.is_empty() {
        text.push_str(
            "This is the general guidance; given what you have told me about your health, check \
             with a doctor or physiotherapist how it applies to you.\n\n",
        );
    }
    text.push_str(&format!("{} [1]\n\nSource: {}.", entry.text.trim(), entry.citation()));
    let mut events: Vec<AgentEvent> = text.split_inclusive(' ').map(|w| AgentEvent::Delta(w.to_string())).collect();
    events.push(AgentEvent::Finish { reason: "stop".into() });
    events
}

/// Words that say little about what a chat is about.
const TITLE_STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "best", "but", "by", "can", "could", "do",
    "does", "for", "from", "get", "give", "good", "have", "hello", "help", "hey", "hi", "how", "i", "i'm", "if", "in",
    "into", "is", "it", "just", "know", "like", "many", "me", "much", "my", "need", "of", "on", "or", "please",
    "should", "so", "some", "tell", "thanks", "that", "the", "there", "this", "to", "want", "was", "way", "what",
    "when", "which", "why", "will", "with", "would", "you", "your",
];

/// A title from the message's first key words: stop words dropped, at most five words, the
/// first capitalised; `None` when nothing is left.
pub fn keyword_title(message: &str) -> Option<String> {
    let words: Vec<String> = message
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .map(|w| w.trim_matches(|c: char| c == '\'' || c == '-'))
        // Single letters are mostly markup or typos ("<b>", "u").
        .filter(|w| {
            !w.is_empty()
                && (w.chars().count() > 1 || w.chars().all(|c| c.is_ascii_digit()))
                && !TITLE_STOP_WORDS.contains(&w.to_lowercase().as_str())
        })
        .take(5)
        .map(str::to_string)
        .collect();
    let title = words.join(" ");
    let mut chars = title.chars();
    let first = chars.next()?;
    Some(first.to_uppercase().chain(chars).collect())
}

/// Decodes a byte stream that may split UTF-8 characters across tokens: complete characters
/// come out at once, a partial one waits for the next piece.
#[derive(Default)]
#[cfg_attr(not(feature = "local-model"), allow(dead_code))]
struct Utf8Stream {
    pending: Vec<u8>,
}

#[cfg_attr(not(feature = "local-model"), allow(dead_code))]
impl Utf8Stream {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // An incomplete character at the end: keep it for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left when the answer ends.
    fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(not(feature = "local-model"))]
mod engine {
    use std::path::PathBuf;

    use super::{Job, LocalLoadError};

    pub(super) fn spawn(
        _path: PathBuf,
        _max_tokens: u32,
        _jobs: tokio::sync::mpsc::Receiver<Job>,
    ) -> Result<(), LocalLoadError> {
        Err(LocalLoadError::FeatureOff)
    }
}

#[cfg(feature = "local-model")]
mod engine {
    use std::{num::NonZeroU32, path::PathBuf, sync::OnceLock};

    use llama_cpp_2::{
        context::{params::LlamaContextParams, LlamaContext},
        llama_backend::LlamaBackend,
        llama_batch::LlamaBatch,
        model::{params::LlamaModelParams, LlamaChatMessage, LlamaChatTemplate, LlamaModel},
        sampling::LlamaSampler,
        token::LlamaToken,
    };
    use tokio::sync::mpsc;

    use super::{Job, LocalLoadError, Utf8Stream, CONTEXT_TOKENS};
    use crate::agent::{
        prompt::{build_messages, HISTORY_BUDGET_TOKENS},
        AgentEvent, AgentRequest,
    };

    const TEMPERATURE: f32 = 0.7;
    const TOP_P: f32 = 0.9;
    const TOP_K: i32 = 40;
    /// A mild repeat penalty: tiny models otherwise loop on the same sentence.
    const REPEAT_PENALTY: f32 = 1.1;
    const REPEAT_WINDOW: i32 = 64;

    /// llama.cpp's backend is process-wide and may be initialised only once, so it is kept
    /// for the life of the process and shared by every model loaded.
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

    fn backend() -> Result<&'static LlamaBackend, LocalLoadError> {
        let backend = BACKEND.get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            // Its load-time chatter would drown our logs; failures still surface as errors.
            backend.void_logs();
            Ok(backend)
        });
        backend.as_ref().map_err(|e| LocalLoadError::Engine(e.clone()))
    }

    pub(super) fn spawn(path: PathBuf, max_tokens: u32, jobs: mpsc::Receiver<Job>) -> Result<(), LocalLoadError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("local-model".into())
            .spawn(move || worker(path, max_tokens, jobs, ready_tx))
            .map_err(|e| LocalLoadError::Thread(e.to_string()))?;
        ready_rx.recv().map_err(|_| LocalLoadError::Thread("it exited while loading the model".into()))?
    }

    /// One core is left to the rest of the server. llama.cpp's threads spin while they wait
    /// for each other, so when they compete with other work for every core, generation
    /// collapses (measured on 2 cores: ~40 tokens/s with 1 thread under a parallel build,
    /// 1-3 tokens/s with 2).
    fn threads() -> i32 {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        cores.saturating_sub(1).clamp(1, 8) as i32
    }

    fn worker(
        path: PathBuf,
        max_tokens: u32,
        mut jobs: mpsc::Receiver<Job>,
        ready: std::sync::mpsc::SyncSender<Result<(), LocalLoadError>>,
    ) {
        let engine = |e: &dyn std::fmt::Display| LocalLoadError::Engine(e.to_string());
        let backend = match backend() {
            Ok(b) => b,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let model = match LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default()) {
            Ok(m) => m,
            Err(e) => {
                let _ = ready.send(Err(engine(&e)));
                return;
            }
        };
        // The gguf's own template; ChatML (what SmolLM2 uses) if the file lacks one.
        let template = model.chat_template(None).or_else(|_| LlamaChatTemplate::new("chatml")).map_err(|e| engine(&e));
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(CONTEXT_TOKENS))
            .with_n_batch(CONTEXT_TOKENS)
            .with_n_threads(threads())
            .with_n_threads_batch(threads());
        let context = model.new_context(backend, params).map_err(|e| engine(&e));
        let (template, mut ctx) = match (template, context) {
            (Ok(t), Ok(c)) => (t, c),
            (Err(e), _) | (_, Err(e)) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return;
        }
        let mut cached = Vec::new();
        warm_up(&model, &mut ctx, &mut cached, &template, max_tokens);
        // Ends when the agent (the only sender) is dropped.
        while let Some(job) = jobs.blocking_recv() {
            if job.events.is_closed() {
                continue; // the reader gave up while the job was queued
            }
            let result = generate(&model, &mut ctx, &mut cached, &template, &job.request, max_tokens, &job.events);
            if let Err((code, message)) = result {
                tracing::warn!(?code, %message, "local model failed");
                let _ = job.events.send(AgentEvent::Error { code, message });
                ctx.clear_kv_cache();
                cached.clear();
            }
        }
    }

    type JobResult = Result<(), (app::wire::ErrorCode, String)>;

    fn engine_failure(e: impl std::fmt::Display) -> (app::wire::ErrorCode, String) {
        (app::wire::ErrorCode::LocalFailed, format!("the offline demo model failed: {e}"))
    }

    /// The prompt as tokens, with history halved until prompt and answer fit the context.
    fn prompt_tokens(
        model: &LlamaModel,
        template: &LlamaChatTemplate,
        request: &AgentRequest,
        room: usize,
    ) -> Result<Vec<LlamaToken>, (app::wire::ErrorCode, String)> {
        let mut budget = HISTORY_BUDGET_TOKENS;
        loop {
            let chat = build_messages(request, budget)
                .into_iter()
                // A NUL byte cannot cross into C; it carries no meaning in a chat message.
                .map(|m| LlamaChatMessage::new(m.role.to_string(), m.content.replace('\0', "")))
                .collect::<Result<Vec<_>, _>>()
                .map_err(engine_failure)?;
            let prompt = model.apply_chat_template(template, &chat, true).map_err(engine_failure)?;
            let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
            if tokens.len() <= room {
                return Ok(tokens);
            }
            if budget == 0 {
                return Err((
                    app::wire::ErrorCode::PromptTooLong,
                    "the message is too long for the offline demo model".into(),
                ));
            }
            budget = if budget > 100 { budget / 2 } else { 0 };
        }
    }

    /// Puts `prompt` in the context, reusing what is already there: every prompt starts with
    /// the same coach rules, and a follow-up repeats the whole conversation so far, so most
    /// of it is usually cached. `cached` mirrors the tokens the context holds.
    fn load_prompt(ctx: &mut LlamaContext<'_>, cached: &mut Vec<LlamaToken>, prompt: &[LlamaToken]) -> JobResult {
        // At least one token is decoded so there are fresh logits to sample from.
        let mut keep =
            cached.iter().zip(prompt).take_while(|(a, b)| a == b).count().min(prompt.len().saturating_sub(1));
        if keep < cached.len() {
            let trimmed = u32::try_from(keep).ok().and_then(|p0| ctx.clear_kv_cache_seq(Some(0), Some(p0), None).ok());
            if trimmed != Some(true) {
                ctx.clear_kv_cache();
                keep = 0;
            }
        }
        cached.truncate(keep);
        let mut batch = LlamaBatch::get_one(&prompt[keep..]).map_err(engine_failure)?;
        ctx.decode(&mut batch).map_err(engine_failure)?;
        cached.extend_from_slice(&prompt[keep..]);
        Ok(())
    }

    /// Puts the coach rules (the start of every prompt) in the context before the first
    /// question, which would otherwise wait for them: they are most of a new prompt (seconds
    /// on a small CPU). Runs after `load` has returned, so start-up does not wait.
    fn warm_up(
        model: &LlamaModel,
        ctx: &mut LlamaContext<'_>,
        cached: &mut Vec<LlamaToken>,
        template: &LlamaChatTemplate,
        max_tokens: u32,
    ) {
        let started = std::time::Instant::now();
        let request = AgentRequest {
            profile: Default::default(),
            history: Vec::new(),
            message: String::new(),
            message_type: app::wire::chat::MessageType::General,
            answer_tokens: max_tokens,
            ..Default::default()
        };
        let room = (ctx.n_ctx() as usize).saturating_sub(max_tokens as usize);
        let result =
            prompt_tokens(model, template, &request, room).and_then(|prompt| load_prompt(ctx, cached, &prompt));
        match result {
            Ok(()) => tracing::debug!(tokens = cached.len(), elapsed = ?started.elapsed(), "local model warmed up"),
            Err((_, message)) => {
                tracing::warn!(%message, "local model warm-up failed");
                ctx.clear_kv_cache();
                cached.clear();
            }
        }
    }

    fn generate(
        model: &LlamaModel,
        ctx: &mut LlamaContext<'_>,
        cached: &mut Vec<LlamaToken>,
        template: &LlamaChatTemplate,
        request: &AgentRequest,
        max_tokens: u32,
        events: &mpsc::UnboundedSender<AgentEvent>,
    ) -> JobResult {
        let vocab = model.vocab();
        let room = (ctx.n_ctx() as usize).saturating_sub(max_tokens as usize);
        let prompt = prompt_tokens(model, template, request, room)?;
        load_prompt(ctx, cached, &prompt)?;

        let mut sampler = LlamaSampler::chain_simple([
            LlamaSampler::penalties(model.n_vocab(), REPEAT_WINDOW, REPEAT_PENALTY, 0.0, 0.0),
            LlamaSampler::top_k(TOP_K),
            LlamaSampler::top_p(TOP_P, 1),
            LlamaSampler::temp(TEMPERATURE),
            LlamaSampler::dist(rand::random()),
        ]);
        let mut text = Utf8Stream::default();
        let mut started = false;
        let mut completion = 0u32;
        let mut reason = "length";
        while completion < max_tokens {
            let token = sampler.sample(ctx, -1);
            if vocab.is_eog(token) {
                reason = "stop";
                break;
            }
            completion += 1;
            let mut piece = text.push(&vocab.token_to_piece(token, false, None));
            if !started {
                // The template ends with a newline; the model often repeats it.
                piece = piece.trim_start().to_string();
                started = !piece.is_empty();
            }
            if !piece.is_empty() && events.send(AgentEvent::Delta(piece)).is_err() {
                return Ok(()); // the reader went away: stop spending CPU on it
            }
            if events.is_closed() {
                return Ok(());
            }
            let next = [token];
            let mut batch = LlamaBatch::get_one(&next).map_err(engine_failure)?;
            ctx.decode(&mut batch).map_err(engine_failure)?;
            cached.push(token);
        }
        let rest = text.finish();
        if !rest.is_empty() {
            let _ = events.send(AgentEvent::Delta(rest));
        }
        let _ =
            events.send(AgentEvent::Usage { prompt_tokens: prompt.len() as u64, completion_tokens: completion.into() });
        let _ = events.send(AgentEvent::Finish { reason: reason.into() });
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Instant;

    use futures::StreamExt;

    use app::wire::chat::MessageType;

    use super::*;

    #[test]
    fn keyword_titles_keep_the_words_that_say_what_the_chat_is_about() {
        let title = |m: &str| keyword_title(m);
        assert_eq!(
            title("How many rest days a week should a beginner take?").as_deref(),
            Some("Rest days week beginner take")
        );
        assert_eq!(title("i want to start running at 40").as_deref(), Some("Start running 40"));
        assert_eq!(title("Hi! How are you?"), None);
        assert_eq!(title("<b>knee</b> pain after squats").as_deref(), Some("Knee pain after squats"));
    }

    #[test]
    fn utf8_split_across_tokens_is_joined() {
        let bytes = "é👍".as_bytes();
        let mut d = Utf8Stream::default();
        assert_eq!(d.push(&bytes[..1]), "");
        assert_eq!(d.push(&bytes[1..3]), "é");
        assert_eq!(d.push(&bytes[3..5]), "");
        assert_eq!(d.push(&bytes[5..]), "👍");
        assert_eq!(d.push(b"\xffok"), "\u{FFFD}ok");
        assert_eq!(d.push(&bytes[..1]), "");
        assert_eq!(d.finish(), "\u{FFFD}");
    }

    #[test]
    fn a_missing_model_file_is_a_clear_error() {
        let err = LocalAgent::load(Path::new("/nonexistent/model.gguf"), 64).err().unwrap();
        if cfg!(feature = "local-model") {
            assert!(err.to_string().contains("/nonexistent/model.gguf"));
        } else {
            assert!(err.to_string().contains("`local-model` feature"));
        }
    }

    fn model_path() -> std::path::PathBuf {
        std::env::var_os("LOCAL_MODEL_PATH")
            .map(Into::into)
            .unwrap_or_else(|| crate::config::default_cache_dir().join("model/SmolLM2-135M-Instruct.Q4_1.gguf"))
    }

    /// Runs the real model when its file is present (it is not in the repository).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_local_model_streams_an_answer() {
        let path = model_path();
        if !path.is_file() {
            eprintln!("skipping: no model at {} (see TOOLCHAIN.md)", path.display());
            return;
        }
        if !cfg!(feature = "local-model") {
            assert!(matches!(LocalAgent::load(&path, 64), Err(LocalLoadError::FeatureOff)));
            return;
        }
        let agent = LocalAgent::load(&path, 96).unwrap();
        eprintln!("local model: loaded in {} ms", agent.load_time().as_millis());

        // Round 0 waits for the warm-up (as a question sent right at start-up would); round 1
        // reuses its profile (a follow-up); round 2 is another user, sharing only the rules.
        let profile =
            |age| app::wire::profile::Profile { age: Some(age), units: "metric".into(), ..Default::default() };
        let questions = [
            ("How many days a week should I lift weights?", MessageType::FitnessPlan, profile(30)),
            ("What should I eat after a workout?", MessageType::General, profile(30)),
            ("How can I sleep better before a race?", MessageType::Sleep, profile(52)),
        ];
        for (round, (message, message_type, profile)) in questions.into_iter().enumerate() {
            let request = AgentRequest {
                profile,
                message: message.into(),
                message_type,
                answer_tokens: 256,
                ..Default::default()
            };
            let started = Instant::now();
            let mut stream = agent.answer(request).await;
            let mut first_token = None;
            let mut deltas = 0;
            let mut tokens = 0;
            let mut prompt = 0;
            let mut last = None;
            while let Some(event) = stream.next().await {
                match &event {
                    AgentEvent::Delta(t) if !t.is_empty() => {
                        first_token.get_or_insert_with(|| started.elapsed());
                        deltas += 1;
                    }
                    AgentEvent::Usage { prompt_tokens, completion_tokens } => {
                        tokens = *completion_tokens;
                        prompt = *prompt_tokens;
                    }
                    _ => {}
                }
                last = Some(event);
            }
            let total = started.elapsed();
            let first = first_token.unwrap();
            let rate = tokens as f64 / (total - first).as_secs_f64().max(1e-3);
            eprintln!(
                "local model round {round}: {prompt} prompt tokens, first token {} ms, {tokens} tokens in {} ms, {rate:.0} tokens/s after the first",
                first.as_millis(),
                total.as_millis()
            );
            assert!(deltas >= 1);
            assert!(matches!(last, Some(AgentEvent::Finish { .. })), "{last:?}");
        }
    }
}
