//! A client for any server speaking OpenAI's streaming chat-completions protocol.
//!
//! Failures become `AgentEvent::Error` with a stable code:
//! `provider_http_error` (non-2xx status), `provider_unreachable` (no connection),
//! `provider_timeout` (no first token, or silence mid-answer), `provider_malformed` (a chunk
//! that is not JSON or not a chunk), `provider_disconnected` (the stream ended before a
//! finish reason or `[DONE]`) and `provider_error` (an error object inside the stream).
//! Messages name the status or the condition, never the key or the provider's body.

use std::{borrow::Cow, sync::Arc, time::Duration};

use app::wire::ErrorCode;
use axum::body::Bytes;
use futures::FutureExt;
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::{
    body::Incoming,
    header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE},
    Request, Response, StatusCode, Uri,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::{
    sync::mpsc,
    time::{timeout, timeout_at, Instant},
};

use super::{
    ensure_terminal,
    joiner::Joiner,
    prompt::{build_messages, clean_title, title_messages, ChatMessage, HISTORY_BUDGET_TOKENS},
    sse::{SseError, SseReader},
    transport::{self, Gather, Transport},
    Agent, AgentEvent, AgentRequest, EventStream,
};

/// Timeouts and retries; the defaults suit a hosted provider, tests shrink them.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    pub connect_timeout: Duration,
    /// From sending the request to the first piece of text, retries included.
    pub first_token_timeout: Duration,
    /// Longest silence between chunks once text is flowing.
    pub idle_timeout: Duration,
    /// Extra attempts after a connection error, a 5xx or a 429, made only before any text
    /// was streamed (afterwards a retry would repeat text the user already saw).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
    /// Whole-request limit for a title, which nobody waits on.
    pub title_timeout: Duration,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            first_token_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_retries: 2,
            retry_backoff: Duration::from_millis(300),
            title_timeout: Duration::from_secs(15),
        }
    }
}

/// Cheap to clone: the HTTP client (and its connection pool) is built once and shared.
#[derive(Clone)]
pub struct OpenAiAgent {
    inner: Arc<Inner>,
}

struct Inner {
    client: Transport,
    /// `{base_url}/chat/completions`, parsed once.
    url: Uri,
    api_key: Option<SecretString>,
    model: String,
    max_tokens: u32,
    settings: OpenAiSettings,
}

impl OpenAiAgent {
    pub fn new(
        base_url: &str,
        api_key: Option<SecretString>,
        model: &str,
        max_tokens: u32,
    ) -> Result<Self, InvalidUrl> {
        Self::with_settings(base_url, api_key, model, max_tokens, OpenAiSettings::default())
    }

    pub fn with_settings(
        base_url: &str,
        api_key: Option<SecretString>,
        model: &str,
        max_tokens: u32,
        settings: OpenAiSettings,
    ) -> Result<Self, InvalidUrl> {
        // No overall request timeout: an answer may stream for minutes. The first-token and
        // idle limits below bound every wait instead. Redirects are not followed: a
        // provider's API answers where it is, and a redirect would carry the request (and
        // its key) somewhere else.
        let client = transport::client(settings.connect_timeout, Duration::from_secs(90));
        let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        let url: Uri = url.parse().map_err(|_| InvalidUrl(url.clone()))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(InvalidUrl(url.to_string()));
        }
        Ok(Self { inner: Arc::new(Inner { client, url, api_key, model: model.to_string(), max_tokens, settings }) })
    }
}

/// The provider's address is not an `http` or `https` URL.
#[derive(Debug, thiserror::Error)]
#[error("not an http(s) URL: {0}")]
pub struct InvalidUrl(String);

fn error(code: ErrorCode, message: impl Into<String>) -> AgentEvent {
    AgentEvent::Error { code, message: message.into() }
}

/// Sends the text `joiner` holds, now; false once the answer is no longer wanted.
async fn send_held(joiner: &mut Joiner, tx: &mpsc::Sender<AgentEvent>) -> bool {
    match joiner.take(std::time::Instant::now()) {
        Some(text) => tx.send(AgentEvent::Delta(text)).await.is_ok(),
        None => true,
    }
}

/// The body of a streamed chat completion.
#[derive(Serialize)]
struct StreamRequest<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    max_tokens: u32,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// One streamed chunk; its text is borrowed from the event where it has no escapes.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Option<Vec<Choice<'a>>>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// Our finish reasons are `stop`, `length` and `safety`; others pass through unchanged.
fn finish_reason(provider: &str) -> String {
    match provider {
        "content_filter" => "safety".into(),
        other => other.into(),
    }
}

impl Inner {
    /// A POST of `body`, JSON already serialised (once per answer, however many tries).
    fn post(&self, body: &Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::post(self.url.clone()).header(CONTENT_TYPE, "application/json");
        let key = self.api_key.as_ref().map(|key| HeaderValue::from_str(&format!("Bearer {}", key.expose_secret())));
        if let Some(Ok(mut value)) = key {
            // Sensitive: kept out of debug output.
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        // Only fixed, valid parts went in (a key that is not a header value is left out, and
        // the provider refuses the request), so building cannot fail.
        request.body(Full::new(body.clone())).unwrap_or_default()
    }

    /// Logs a failed response's body for operators, minus the key, and returns the short
    /// error type the provider gave (`invalid_request_error`, `rate_limit_exceeded`…).
    async fn describe_failure(&self, response: Response<Incoming>) -> Option<String> {
        let body = timeout(Duration::from_secs(2), response.into_body().collect()).await.ok()?.ok()?.to_bytes();
        let text = String::from_utf8_lossy(&body);
        let mut logged: String = text.chars().take(500).collect();
        if let Some(key) = &self.api_key {
            if !key.expose_secret().is_empty() {
                logged = logged.replace(key.expose_secret(), "[redacted]");
            }
        }
        tracing::warn!(body = %logged, "model provider refused the request");
        let body: Value = serde_json::from_str(&text).ok()?;
        let kind = body["error"]["type"].as_str().or_else(|| body["error"]["code"].as_str())?;
        // Only a short identifier goes into the message; free text could echo anything.
        (kind.len() <= 40 && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .then(|| kind.to_string())
    }

    /// Sends the request, retrying what is safe to retry, until the response headers arrive
    /// or `deadline` passes.
    async fn connect(&self, body: &Bytes, deadline: Instant) -> Result<Response<Incoming>, AgentEvent> {
        let limit = self.settings.first_token_timeout.as_secs_f32();
        let mut attempt = 0;
        loop {
            let failure = match timeout_at(deadline, self.client.request(self.post(body))).await {
                Err(_) => {
                    return Err(error(
                        ErrorCode::ProviderTimeout,
                        format!("the model provider sent no answer within {limit:.0} s"),
                    ))
                }
                Ok(Ok(response)) if response.status().is_success() => return Ok(response),
                Ok(Ok(response)) => {
                    let status = response.status();
                    let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    let kind = self.describe_failure(response).await;
                    let detail = kind.map(|k| format!(" ({k})")).unwrap_or_default();
                    (
                        retryable,
                        error(
                            ErrorCode::ProviderHttpError,
                            format!("the model provider answered HTTP {status}{detail}"),
                        ),
                    )
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, attempt, "could not reach the model provider");
                    (true, error(ErrorCode::ProviderUnreachable, "could not reach the model provider"))
                }
            };
            let (retryable, event) = failure;
            let backoff = self.settings.retry_backoff.saturating_mul(2u32.saturating_pow(attempt));
            if !retryable || attempt >= self.settings.max_retries || Instant::now() + backoff >= deadline {
                return Err(event);
            }
            attempt += 1;
            tracing::info!(attempt, ?backoff, "retrying the model provider");
            tokio::time::sleep(backoff).await;
        }
    }

    /// Streams one answer into `tx`, ending with exactly one `Finish` or `Error`.
    async fn stream_answer(&self, body: Bytes, tx: &mpsc::Sender<AgentEvent>) {
        let deadline = Instant::now() + self.settings.first_token_timeout;
        let response = match self.connect(&body, deadline).await {
            Ok(response) => response,
            Err(event) => {
                let _ = tx.send(event).await;
                return;
            }
        };
        let mut joiner = Joiner::default();
        let terminal = self.read_stream(response, deadline, tx, &mut joiner).await;
        // Text still held goes before the end, however the answer ended.
        send_held(&mut joiner, tx).await;
        let _ = tx.send(terminal).await;
    }

    /// Forwards deltas as they come (joined by `joiner`) and returns the terminal event.
    ///
    /// After each delta the connection's socket is told to hold small reads (`Gather`):
    /// pieces arriving before the next delta is due gather in the kernel instead of waking
    /// the server one by one. At the due time whatever gathered is read and goes out as
    /// one delta; if nothing came, the socket wakes the reader for the next piece again,
    /// which then goes at once.
    async fn read_stream(
        &self,
        response: Response<Incoming>,
        deadline: Instant,
        tx: &mpsc::Sender<AgentEvent>,
        joiner: &mut Joiner,
    ) -> AgentEvent {
        // However the answer ends, the pooled connection must wake its next reader at once.
        let gather = Released(response.extensions().get::<Gather>().cloned());
        let mut events = SseReader::new(BodyDataStream::new(response.into_body()));
        let mut answer = Answer::default();
        // Two timers for the whole answer, moved rather than made anew: the silence limit
        // (the first token's deadline, then the idle limit after each read) and when the
        // next delta is due while the socket holds.
        let silence = tokio::time::sleep_until(deadline);
        let due = tokio::time::sleep_until(deadline);
        tokio::pin!(silence, due);
        let mut holding = false;
        // Released at the due time because bytes had gathered: read them all before sending.
        let mut gathered = false;
        let mut due_at = None;
        loop {
            let want = if holding { joiner.next_at() } else { None };
            if want != due_at {
                if let Some(at) = want {
                    due.as_mut().reset(at.into());
                }
                due_at = want;
            }
            let next = tokio::select! {
                biased;
                next = events.next() => next,
                () = &mut silence => {
                    if answer.finished.is_some() {
                        break;
                    }
                    return answer.silence_error(&self.settings);
                }
                () = &mut due, if due_at.is_some() => {
                    if gather.waiting() > 0 {
                        // Read what gathered first: it wakes the reader at once, and it is due.
                        gather.release();
                        holding = false;
                        gathered = true;
                    } else if let Some(text) = joiner.take(std::time::Instant::now()) {
                        if tx.send(AgentEvent::Delta(text)).await.is_err() {
                            return cancelled();
                        }
                    } else {
                        gather.release();
                        holding = false;
                    }
                    continue;
                }
            };
            let mut step = answer.step(next, joiner);
            // Whatever else has already arrived joins this piece, so the rest of an answer
            // that came whole is one delta, with its end. After a gather, the connection's
            // task hands the body over a chunk at a time, so it gets a turn before a last look.
            while matches!(step, Step::Go) {
                let mut ready = events.next().now_or_never();
                if ready.is_none() && gathered {
                    tokio::task::yield_now().await;
                    ready = events.next().now_or_never();
                }
                match ready {
                    Some(next) => step = answer.step(next, joiner),
                    None => break,
                }
            }
            match step {
                Step::Go => {}
                Step::Done => break,
                Step::Fail(event) => return event,
            }
            if answer.text_seen {
                silence.as_mut().reset(Instant::now() + self.settings.idle_timeout);
            }
            gathered = false;
            if let Some(text) = joiner.take_if_due(std::time::Instant::now()) {
                if tx.send(AgentEvent::Delta(text)).await.is_err() {
                    return cancelled();
                }
                if !holding {
                    gather.hold();
                    holding = true;
                }
            }
        }
        send_held(joiner, tx).await;
        if let Some(usage) = answer.usage {
            let _ = tx.send(usage).await;
        }
        // `[DONE]` without a finish reason: the provider ended the answer normally.
        AgentEvent::Finish { reason: answer.finished.unwrap_or_else(|| "stop".into()) }
    }
}

fn cancelled() -> AgentEvent {
    error(ErrorCode::Cancelled, "the answer was no longer wanted")
}

/// A connection's `Gather`, if it has one, released when dropped.
struct Released(Option<Gather>);

impl Released {
    fn hold(&self) {
        if let Some(gather) = &self.0 {
            gather.hold();
        }
    }

    fn release(&self) {
        if let Some(gather) = &self.0 {
            gather.release();
        }
    }

    fn waiting(&self) -> usize {
        self.0.as_ref().map_or(0, Gather::waiting)
    }
}

impl Drop for Released {
    fn drop(&mut self) {
        self.release();
    }
}

/// What reading one event did to the answer.
enum Step {
    /// More is to come.
    Go,
    /// The answer is complete (`[DONE]`, or the stream closed after the finish reason).
    Done,
    /// The answer failed with this event.
    Fail(AgentEvent),
}

/// The answer so far, as its events tell it.
#[derive(Default)]
struct Answer {
    text_seen: bool,
    finished: Option<String>,
    usage: Option<AgentEvent>,
}

/// An event's data, or why there is none (`None`: the stream closed).
type NextEvent<'a> = Option<Result<&'a str, SseError<hyper::Error>>>;

impl Answer {
    /// Takes one event of the stream (`None`: it closed); text goes into `joiner`.
    fn step(&mut self, next: NextEvent<'_>, joiner: &mut Joiner) -> Step {
        // After the finish reason only usage and `[DONE]` are missing, so a stream that
        // closes or breaks there still completes the answer.
        let event = match (next, &self.finished) {
            (Some(Ok(data)), _) => data,
            (_, Some(_)) => return Step::Done,
            (None, None) => {
                return Step::Fail(error(
                    ErrorCode::ProviderDisconnected,
                    "the model provider closed the stream before the answer finished",
                ))
            }
            (Some(Err(SseError::Transport(e))), None) => {
                tracing::warn!(error = %e, "model provider stream broke");
                return Step::Fail(error(
                    ErrorCode::ProviderDisconnected,
                    "the connection to the model provider broke mid-answer",
                ));
            }
            (Some(Err(e)), None) => {
                tracing::warn!(error = %e, "model provider sent an unreadable stream");
                return Step::Fail(error(ErrorCode::ProviderMalformed, "the model provider sent an unreadable stream"));
            }
        };
        let data = event.trim();
        if data.is_empty() {
            return Step::Go;
        }
        if data == "[DONE]" {
            return Step::Done;
        }
        let chunk = match serde_json::from_str::<Chunk>(data) {
            Ok(chunk) if chunk.choices.is_some() || chunk.usage.is_some() || chunk.error.is_some() => chunk,
            Ok(_) => {
                return Step::Fail(error(
                    ErrorCode::ProviderMalformed,
                    "the model provider sent a chunk of unexpected shape",
                ))
            }
            Err(e) if e.is_data() => {
                return Step::Fail(error(
                    ErrorCode::ProviderMalformed,
                    "the model provider sent a chunk of unexpected shape",
                ))
            }
            Err(_) => {
                return Step::Fail(error(
                    ErrorCode::ProviderMalformed,
                    "the model provider sent a chunk that is not valid JSON",
                ))
            }
        };
        if let Some(err) = chunk.error {
            tracing::warn!(error = %err.to_string().chars().take(300).collect::<String>(), "model provider reported an error mid-stream");
            return Step::Fail(error(ErrorCode::ProviderError, "the model provider reported an error mid-answer"));
        }
        for choice in chunk.choices.unwrap_or_default().into_iter().filter(|c| c.index == 0) {
            if let Some(content) = choice.delta.and_then(|d| d.content).filter(|c| !c.is_empty()) {
                self.text_seen = true;
                joiner.push(&content);
            }
            if let Some(reason) = choice.finish_reason {
                self.finished = Some(finish_reason(&reason));
            }
        }
        if let Some(u) = chunk.usage {
            self.usage =
                Some(AgentEvent::Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens });
        }
        Step::Go
    }

    /// The timeout for a silent provider: before any text, or mid-answer.
    fn silence_error(&self, settings: &OpenAiSettings) -> AgentEvent {
        if self.text_seen {
            let secs = settings.idle_timeout.as_secs_f32();
            error(ErrorCode::ProviderTimeout, format!("the model provider went silent for {secs:.0} s"))
        } else {
            let secs = settings.first_token_timeout.as_secs_f32();
            error(ErrorCode::ProviderTimeout, format!("the model provider sent no text within {secs:.0} s"))
        }
    }
}

#[async_trait::async_trait]
impl Agent for OpenAiAgent {
    fn model_name(&self) -> String {
        self.inner.model.clone()
    }

    fn is_local_demo(&self) -> bool {
        false
    }

    async fn answer(&self, request: AgentRequest) -> EventStream {
        let body = StreamRequest {
            model: &self.inner.model,
            messages: build_messages(&request, HISTORY_BUDGET_TOKENS),
            stream: true,
            stream_options: StreamOptions { include_usage: true },
            max_tokens: self.inner.max_tokens,
        };
        // Straight to bytes, without a `serde_json::Value` in between.
        let body = match serde_json::to_vec(&body) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                let failed = error(ErrorCode::AgentFailed, format!("could not write the model request: {e}"));
                return Box::pin(futures::stream::iter([failed]));
            }
        };
        let (tx, rx) = mpsc::channel(64);
        let inner = self.inner.clone();
        // Dropping the stream (the user stopped, the socket closed) aborts the request too,
        // which closes the connection and stops the provider's billing.
        let producer = async move { inner.stream_answer(body, &tx).await };
        ensure_terminal(super::spawned(producer, rx))
    }

    async fn title(&self, first_message: &str, first_answer: &str) -> Option<String> {
        let body = json!({
            "model": self.inner.model,
            "messages": title_messages(first_message, first_answer),
            "stream": false,
            "max_tokens": 24,
            "temperature": 0.2,
        });
        let body = Bytes::from(serde_json::to_vec(&body).ok()?);
        let result = async {
            let response = self.inner.client.request(self.inner.post(&body)).await.ok()?;
            if !response.status().is_success() {
                tracing::debug!(status = %response.status(), "title request refused");
                return None;
            }
            let body = response.into_body().collect().await.ok()?.to_bytes();
            let reply: Value = serde_json::from_slice(&body).ok()?;
            clean_title(reply["choices"][0]["message"]["content"].as_str()?)
        };
        let title = timeout(self.inner.settings.title_timeout, result).await.ok().flatten();
        if title.is_none() {
            tracing::debug!("no title from the model provider");
        }
        title
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Instant as StdInstant;

    use app::wire::profile::Profile;
    use futures::StreamExt;

    use super::*;
    use app::wire::chat::MessageType;
    use testkit::{FakeLlm, Script};

    fn fast_settings() -> OpenAiSettings {
        OpenAiSettings {
            connect_timeout: Duration::from_secs(2),
            first_token_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            max_retries: 2,
            retry_backoff: Duration::from_millis(10),
            title_timeout: Duration::from_secs(5),
        }
    }

    fn agent(fake: &FakeLlm, settings: OpenAiSettings) -> OpenAiAgent {
        let key = Some(SecretString::from("sk-test-secret-key"));
        OpenAiAgent::with_settings(&fake.base_url, key, "fake-model", 64, settings).unwrap()
    }

    fn request(message: &str) -> AgentRequest {
        AgentRequest {
            profile: Profile {
                age: Some(35),
                fitness_level: Some("intermediate".into()),
                goals: vec!["run a half marathon".into()],
                units: "metric".into(),
                ..Default::default()
            },
            history: vec![],
            message: message.into(),
            message_type: MessageType::FitnessPlan,
            answer_tokens: 256,
            ..Default::default()
        }
    }

    async fn collect(agent: &OpenAiAgent, message: &str) -> (String, Vec<AgentEvent>) {
        let events: Vec<AgentEvent> = agent.answer(request(message)).await.collect().await;
        let text = events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Delta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        (text, events)
    }

    fn error_code(events: &[AgentEvent]) -> Option<ErrorCode> {
        match events.last() {
            Some(AgentEvent::Error { code, .. }) => Some(*code),
            _ => None,
        }
    }

    fn terminal_count(events: &[AgentEvent]) -> usize {
        events.iter().filter(|e| matches!(e, AgentEvent::Finish { .. } | AgentEvent::Error { .. })).count()
    }

    #[tokio::test]
    async fn a_streamed_answer_arrives_as_deltas_then_usage_then_stop() {
        let fake = FakeLlm::start(Script::answer("Run easy three times a week.")).await.unwrap();

        let (text, events) = collect(&agent(&fake, fast_settings()), "plan my week").await;

        assert_eq!(text, "Run easy three times a week.");
        assert!(matches!(events[events.len() - 2], AgentEvent::Usage { completion_tokens: 6, .. }), "{events:?}");
        assert_eq!(events.last(), Some(&AgentEvent::Finish { reason: "stop".into() }));
        assert_eq!(terminal_count(&events), 1);
        let sent = fake.last_request().unwrap();
        assert_eq!(sent.body["stream"], true);
        assert_eq!(sent.body["stream_options"]["include_usage"], true);
        assert_eq!(sent.body["max_tokens"], 64);
        assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-test-secret-key"));
    }

    fn paced(pieces: usize, ms: u64) -> Script {
        Script::Answer {
            words: (0..pieces).map(|i| format!(" w{i}")).collect(),
            delay_ms_between: ms,
            first_token_delay_ms: 0,
        }
    }

    fn deltas(events: &[AgentEvent]) -> Vec<&str> {
        events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Delta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn close_pieces_go_out_together_and_the_first_at_once() {
        let fake = FakeLlm::start(paced(30, 10)).await.unwrap();

        let (text, events) = collect(&agent(&fake, fast_settings()), "hi").await;

        let expected: String = (0..30).map(|i| format!(" w{i}")).collect();
        assert_eq!(text, expected);
        let sent = deltas(&events);
        assert_eq!(sent[0], " w0", "the first piece is not held back");
        // About 300 ms of pieces, a delta per beat (25-75 ms apart): 7 or so, never one per piece.
        assert!((2..=12).contains(&sent.len()), "{sent:?}");
        assert_eq!(events.last(), Some(&AgentEvent::Finish { reason: "stop".into() }));
    }

    #[tokio::test]
    async fn pieces_further_apart_than_a_delta_each_go_at_once() {
        let fake = FakeLlm::start(paced(4, 120)).await.unwrap();

        let (_, events) = collect(&agent(&fake, fast_settings()), "hi").await;

        assert_eq!(deltas(&events), [" w0", " w1", " w2", " w3"]);
    }

    #[tokio::test]
    async fn the_next_answer_on_a_pooled_connection_is_not_held_back() {
        // An instant answer: its end is read while the socket holds, after the first delta.
        let fake = FakeLlm::start(Script::answer("One two three four five six.")).await.unwrap();
        let a = agent(&fake, fast_settings());
        collect(&a, "first").await;

        // The same connection again: an answer shorter than the socket's gathering size
        // must still arrive at once, not at the first-token deadline (5 s).
        fake.set_script(Script::answer("Quick one."));
        let started = StdInstant::now();
        let (text, events) = collect(&a, "second").await;

        assert_eq!(text, "Quick one.");
        assert_eq!(terminal_count(&events), 1);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn the_system_prompt_carries_the_profile() {
        let fake = FakeLlm::start(Script::default()).await.unwrap();

        collect(&agent(&fake, fast_settings()), "how do I start?").await;

        let sent = fake.last_request().unwrap();
        let system = sent.system_prompt().unwrap();
        assert!(
            system.contains("Age: 35") && system.contains("run a half marathon") && system.contains("intermediate")
        );
        assert_eq!(sent.last_user_message(), Some("how do I start?"));
    }

    /// "hi" to a fresh fake model following `script`: the fake, the answer's text and events.
    async fn say_hi(script: Script) -> (FakeLlm, String, Vec<AgentEvent>) {
        let fake = FakeLlm::start(script).await.unwrap();
        let (text, events) = collect(&agent(&fake, fast_settings()), "hi").await;
        (fake, text, events)
    }

    #[tokio::test]
    async fn http_500_is_retried_then_reported_without_the_key() {
        let (fake, text, events) = say_hi(Script::Http500).await;

        assert_eq!(text, "");
        assert_eq!(error_code(&events), Some(ErrorCode::ProviderHttpError));
        let AgentEvent::Error { message, .. } = events.last().unwrap() else { unreachable!() };
        assert!(message.contains("500") && message.contains("server_error"), "{message}");
        assert!(!message.contains("sk-test"));
        assert_eq!(fake.request_count(), 3, "one attempt and two retries");
    }

    #[tokio::test]
    async fn a_marker_in_the_message_overrides_the_script_for_that_request() {
        let fake = FakeLlm::start(Script::default()).await.unwrap();
        let a = agent(&fake, fast_settings());

        let (_, events) = collect(&a, "[[500]] once").await;
        assert_eq!(error_code(&events), Some(ErrorCode::ProviderHttpError));
        let (text, _) = collect(&a, "normal").await;
        assert_eq!(text, testkit::fake_llm::DEFAULT_ANSWER);
        assert_eq!(fake.request_count(), 4);
    }

    #[tokio::test]
    async fn a_malformed_chunk_ends_the_answer_but_keeps_earlier_text() {
        let (fake, text, events) = say_hi(Script::MalformedJson).await;

        assert_eq!(text, "Hello");
        assert_eq!(error_code(&events), Some(ErrorCode::ProviderMalformed));
        assert_eq!(terminal_count(&events), 1);
        assert_eq!(fake.request_count(), 1, "never retried after text was streamed");
    }

    #[tokio::test]
    async fn a_dropped_connection_is_reported_as_disconnected() {
        let (fake, text, events) = say_hi(Script::DisconnectMidStream).await;

        assert_eq!(text, "Start slowly");
        assert_eq!(error_code(&events), Some(ErrorCode::ProviderDisconnected));
        assert_eq!(fake.request_count(), 1);
    }

    #[tokio::test]
    async fn a_slow_first_token_times_out() {
        let fake = FakeLlm::start(Script::SlowFirstToken(3_000)).await.unwrap();
        let settings = OpenAiSettings { first_token_timeout: Duration::from_millis(300), ..fast_settings() };
        let started = StdInstant::now();

        let (text, events) = collect(&agent(&fake, settings), "hi").await;

        assert_eq!(text, "");
        assert_eq!(error_code(&events), Some(ErrorCode::ProviderTimeout));
        assert!(started.elapsed() < Duration::from_secs(2), "gave up at the deadline, not at the token");
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_retried_then_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let a = OpenAiAgent::with_settings(&format!("http://{addr}/v1"), None, "m", 64, fast_settings()).unwrap();

        let events: Vec<_> = a.answer(request("hi")).await.collect().await;

        assert_eq!(error_code(&events), Some(ErrorCode::ProviderUnreachable));
    }

    #[tokio::test]
    async fn dropping_the_stream_stops_reading_the_answer() {
        let fake = FakeLlm::start(Script::Answer {
            words: vec!["a".into(); 50],
            delay_ms_between: 20,
            first_token_delay_ms: 0,
        })
        .await
        .unwrap();
        let a = agent(&fake, fast_settings());

        let mut stream = a.answer(request("hi")).await;
        assert_eq!(stream.next().await, Some(AgentEvent::Delta("a".into())));
        drop(stream);

        // Nothing to assert on the provider side beyond not hanging: a new answer still works.
        fake.set_script(Script::answer("ok"));
        let (text, _) = collect(&a, "again").await;
        assert_eq!(text, "ok");
    }

    #[tokio::test]
    async fn titles_come_from_a_short_non_streaming_call() {
        let fake = FakeLlm::start(Script::default()).await.unwrap();
        fake.set_title("\"Half Marathon Training Plan.\"");
        let a = agent(&fake, fast_settings());

        assert_eq!(a.title("plan my half", "Sure...").await.as_deref(), Some("Half Marathon Training Plan"));
        assert_eq!(fake.last_request().unwrap().body["stream"], false);

        fake.set_script(Script::Http500);
        assert_eq!(a.title("plan my half", "Sure...").await, None);
    }
}
