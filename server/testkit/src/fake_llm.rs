//! A scripted OpenAI-compatible chat-completions server on 127.0.0.1, speaking the real
//! streaming protocol, so the provider client and the whole app can be tested (or demoed)
//! without a network.
//!
//! The script applies to every request until changed. A marker in the last user message
//! overrides it for that one request: `[[500]]`, `[[malformed]]`, `[[disconnect]]`,
//! `[[slow]]` (the scripted words, 250 ms apart) and `[[hang]]` (no token for 10 minutes).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

/// What the fake does with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    /// Streams `words` one chunk each, then `finish_reason: "stop"`, usage and `[DONE]`.
    Answer { words: Vec<String>, delay_ms_between: u64, first_token_delay_ms: u64 },
    /// Answers HTTP 500 with an OpenAI-style error body.
    Http500,
    /// One good delta, then `data: {not json`.
    MalformedJson,
    /// A few deltas, then the connection drops without a finish reason or `[DONE]`.
    DisconnectMidStream,
    /// The role chunk at once, then nothing for this many ms, then the default answer.
    SlowFirstToken(u64),
    /// `words`, then `finish_reason: "length"`: the answer hit the token limit.
    CutAtLength(Vec<String>),
}

pub const DEFAULT_ANSWER: &str = "Start with three easy 20-minute runs a week and build up slowly.";

impl Script {
    /// `text` streamed word by word (each chunk keeps its leading space), without delays.
    pub fn answer(text: &str) -> Self {
        Script::Answer { words: split_words(text), delay_ms_between: 0, first_token_delay_ms: 0 }
    }
}

impl Default for Script {
    fn default() -> Self {
        Script::answer(DEFAULT_ANSWER)
    }
}

/// Splits before each space, so joining the pieces gives back the text.
pub fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c == ' ' && !current.trim().is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub body: Value,
    /// The `Authorization` header, to check the key is sent (and how).
    pub authorization: Option<String>,
}

impl RecordedRequest {
    pub fn is_stream(&self) -> bool {
        self.body["stream"].as_bool().unwrap_or(false)
    }

    /// The content of the first `system` message.
    pub fn system_prompt(&self) -> Option<&str> {
        self.body["messages"].as_array()?.iter().find(|m| m["role"] == "system")?["content"].as_str()
    }

    /// The content of the last `user` message.
    pub fn last_user_message(&self) -> Option<&str> {
        self.body["messages"].as_array()?.iter().rev().find(|m| m["role"] == "user")?["content"].as_str()
    }
}

/// Requests kept for tests to inspect: the newest ones only, so a benchmark's hundreds of
/// thousands of prompts do not pile up in memory.
const KEEP_REQUESTS: usize = 1_000;

struct Shared {
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Every request received, including those no longer kept.
    received: std::sync::atomic::AtomicUsize,
    /// Every streamed (chat answer) request received.
    streamed: std::sync::atomic::AtomicUsize,
    /// Returned for non-streaming requests (titles), whatever the script.
    title: Mutex<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not take every later assertion down with it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake; it stops when dropped.
pub struct FakeLlm {
    /// Pass as the OpenAI base URL (ends in `/v1`).
    pub base_url: String,
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeLlm {
    /// Binds 127.0.0.1 on a free port and serves `script` in the background.
    pub async fn start(script: Script) -> std::io::Result<FakeLlm> {
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
            received: Default::default(),
            streamed: Default::default(),
            title: Mutex::new("Beginner Running Plan".into()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route("/chat/completions", post(completions))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(
                axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                }),
                app,
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "fake LLM server stopped");
            }
        });
        Ok(FakeLlm { base_url: format!("http://{addr}/v1"), addr, shared, shutdown: Some(shutdown) })
    }

    pub fn set_script(&self, script: Script) {
        *lock(&self.shared.script) = script;
    }

    /// The title returned by non-streaming requests.
    pub fn set_title(&self, title: &str) {
        *lock(&self.shared.title) = title.to_string();
    }

    /// Requests received so far, streaming or not.
    pub fn request_count(&self) -> usize {
        self.shared.received.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Streamed requests (answers, not titles) received so far.
    pub fn streamed_count(&self) -> usize {
        self.shared.streamed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The newest requests received (up to 1,000), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.shared.requests).last().cloned()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn script_for(shared: &Shared, request: &RecordedRequest) -> Script {
    let script = lock(&shared.script).clone();
    let message = request.last_user_message().unwrap_or_default();
    let words = match &script {
        Script::Answer { words, .. } => words.clone(),
        _ => split_words(DEFAULT_ANSWER),
    };
    if message.contains("[[500]]") {
        Script::Http500
    } else if message.contains("[[malformed]]") {
        Script::MalformedJson
    } else if message.contains("[[disconnect]]") {
        Script::DisconnectMidStream
    } else if message.contains("[[slow]]") {
        Script::Answer { words, delay_ms_between: 250, first_token_delay_ms: 0 }
    } else if message.contains("[[hang]]") {
        Script::SlowFirstToken(600_000)
    } else if message.contains("[[length]]") {
        Script::CutAtLength(words)
    } else {
        script
    }
}

async fn completions(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "body is not JSON", "type": "invalid_request_error"}})),
        )
            .into_response();
    };
    let request = RecordedRequest {
        body,
        authorization: headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string),
    };
    {
        let mut kept = lock(&shared.requests);
        if kept.len() == KEEP_REQUESTS {
            kept.drain(..KEEP_REQUESTS / 2);
        }
        kept.push(request.clone());
    }
    shared.received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if request.is_stream() {
        shared.streamed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let script = script_for(&shared, &request);
    let model = request.body["model"].as_str().unwrap_or("fake-model").to_string();
    if script == Script::Http500 {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "the fake upstream failed", "type": "server_error"}})),
        )
            .into_response();
    }
    if !request.is_stream() {
        let title = lock(&shared.title).clone();
        return Json(json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": unix_now(),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": title}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24},
        }))
        .into_response();
    }
    let prompt_tokens = request.body["messages"].to_string().len().div_ceil(4) as u64;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(play(script, model, prompt_tokens, tx));
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Builds the SSE frames of one chunk, in the shape real providers send.
struct Chunker {
    model: String,
    created: u64,
}

impl Chunker {
    fn frame(&self, choices: Value, usage: Value) -> Bytes {
        let chunk = json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": usage,
        });
        Bytes::from(format!("data: {chunk}\n\n"))
    }

    fn role(&self) -> Bytes {
        self.frame(
            json!([{"index": 0, "delta": {"role": "assistant", "content": null}, "finish_reason": null}]),
            Value::Null,
        )
    }

    fn delta(&self, text: &str) -> Bytes {
        self.frame(json!([{"index": 0, "delta": {"content": text}, "finish_reason": null}]), Value::Null)
    }

    fn finish(&self, reason: &str) -> Bytes {
        self.frame(json!([{"index": 0, "delta": {}, "finish_reason": reason}]), Value::Null)
    }

    fn usage(&self, prompt: u64, completion: u64) -> Bytes {
        self.frame(
            json!([]),
            json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}),
        )
    }
}

/// Writes the scripted frames; stops early when the client goes away.
async fn play(script: Script, model: String, prompt_tokens: u64, tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let c = Chunker { model, created: unix_now() };
    let send = |b: Bytes| {
        let tx = tx.clone();
        async move { tx.send(Ok(b)).await.is_ok() }
    };
    let sleep = |ms: u64| tokio::time::sleep(Duration::from_millis(ms));
    let (words, between, first_delay, reason) = match script {
        Script::Answer { words, delay_ms_between, first_token_delay_ms } => {
            (words, delay_ms_between, first_token_delay_ms, "stop")
        }
        Script::SlowFirstToken(ms) => (split_words(DEFAULT_ANSWER), 0, ms, "stop"),
        Script::CutAtLength(words) => (words, 0, 0, "length"),
        Script::MalformedJson => {
            let _ =
                send(c.role()).await && send(c.delta("Hello")).await && send(Bytes::from("data: {not json\n\n")).await;
            return;
        }
        Script::DisconnectMidStream => {
            if send(c.role()).await && send(c.delta("Start")).await && send(c.delta(" slowly")).await {
                // Hyper drops unflushed frames when it aborts, so let them reach the client.
                sleep(100).await;
                // An error from the body stream makes hyper abort the connection mid-body.
                let _ = tx.send(Err(std::io::Error::other("scripted disconnect"))).await;
            }
            return;
        }
        Script::Http500 => return,
    };
    if !send(c.role()).await {
        return;
    }
    sleep(first_delay).await;
    for (i, word) in words.iter().enumerate() {
        if i > 0 && between > 0 {
            sleep(between).await;
        }
        if !send(c.delta(word)).await {
            return;
        }
    }
    let _ = send(c.finish(reason)).await
        && send(c.usage(prompt_tokens, words.len() as u64)).await
        && send(Bytes::from("data: [DONE]\n\n")).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn words_join_back_into_the_text() {
        let words = split_words("Hi  there, friend");
        assert_eq!(words, ["Hi", "  there,", " friend"]);
        assert_eq!(words.concat(), "Hi  there, friend");
    }

    #[tokio::test]
    async fn a_streamed_answer_follows_the_openai_chunk_format() {
        let fake = FakeLlm::start(Script::answer("Hi there")).await.unwrap();
        let body = reqwest::Client::new()
            .post(format!("{}/chat/completions", fake.base_url))
            .json(&json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hey"}]}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let frames: Vec<&str> = body.split("\n\n").filter(|f| !f.is_empty()).collect();
        assert_eq!(frames.len(), 6, "{body}");
        let first: Value = serde_json::from_str(frames[0].trim_start_matches("data: ")).unwrap();
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["choices"][0]["delta"]["content"], Value::Null);
        assert_eq!(frames[5], "data: [DONE]");
        assert_eq!(fake.request_count(), 1);
        assert_eq!(fake.last_request().unwrap().last_user_message(), Some("hey"));
    }
}
