//! Test doubles for the Playwright run, in one process: an SMTP sink that keeps every
//! mail, the scripted OpenAI-compatible model, and a small HTTP API the tests use to read
//! the codes that were mailed.
//!
//! Ports (environment, with defaults): `STUBS_SMTP_PORT` 2525, `STUBS_LLM_PORT` 8026,
//! `STUBS_API_PORT` 8025. `STUBS_LLM_DELAY_MS` (60) is the pause between streamed words.
//!
//! API: `GET /health`; `GET /mail/latest?to=EMAIL[&after=N&wait_ms=MS]` answers
//! `{"code", "data", "count"}` for the newest mail to EMAIL (waiting up to MS for more than
//! N mails to that address), or 404; `POST /llm/fail-next[?times=N]` makes the model's next
//! N streamed requests (default 3: the server's provider client retries a 5xx twice) fail
//! with HTTP 500, then it answers normally again; for the Retry path.
//! `POST /llm/pace?delay_ms=N` sets the pause between streamed words (0: at once), so a
//! test can seed many stored turns quickly and then put the normal pace back.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::json;
use testkit::{fake_llm::split_words, smtp_sink::SmtpSink, FakeLlm, Script};

/// About twenty words, so streaming is visible and a stop or a drop can land mid-answer.
const ANSWER: &str = "Start with three easy twenty-minute runs this week, keep the pace \
conversational, and add five minutes each week if you feel fresh.";

fn port(var: &str, default: u16) -> Result<u16, String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|_| format!("{var} must be a port number, got {v:?}"))
        }
        _ => Ok(default),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new("info")).init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stubs: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let smtp_port = port("STUBS_SMTP_PORT", 2525)?;
    let llm_port = port("STUBS_LLM_PORT", 8026)?;
    let api_port = port("STUBS_API_PORT", 8025)?;
    let delay_ms = port("STUBS_LLM_DELAY_MS", 60)? as u64;

    let sink = SmtpSink::start_on(&format!("127.0.0.1:{smtp_port}"))
        .await
        .map_err(|e| format!("SMTP sink on port {smtp_port}: {e}"))?;
    let llm = FakeLlm::start(llm_script(delay_ms)).await.map_err(|e| format!("fake LLM: {e}"))?;
    let llm = Arc::new(llm);
    let llm_proxy = serve_llm_proxy(llm_port, llm.base_url.clone()).await?;
    let stubs = Arc::new(Stubs { sink, llm: llm.clone(), normal: Mutex::new(llm_script(delay_ms)) });
    let api = Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/mail/latest", get(latest_mail))
        .route("/llm/fail-next", post(fail_next))
        .route("/llm/pace", post(pace))
        .with_state(stubs);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", api_port))
        .await
        .map_err(|e| format!("API on port {api_port}: {e}"))?;
    println!("stubs: SMTP 127.0.0.1:{smtp_port}, LLM http://127.0.0.1:{llm_port}/v1, API http://127.0.0.1:{api_port}");
    let served = axum::serve(listener, api).with_graceful_shutdown(shutdown()).await;
    llm_proxy.abort();
    served.map_err(|e| e.to_string())
}

/// What the API handlers share.
struct Stubs {
    sink: SmtpSink,
    llm: Arc<FakeLlm>,
    /// The script to go back to after a one-off failure (its pace set by `/llm/pace`).
    normal: Mutex<Script>,
}

fn normal(stubs: &Stubs) -> Script {
    stubs.normal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

#[derive(Deserialize)]
struct PaceQuery {
    delay_ms: u64,
}

/// Sets the pause between the scripted answer's words (`0` answers at once): tests that
/// need many stored turns seed them quickly, then put the normal pace back.
async fn pace(State(stubs): State<Arc<Stubs>>, Query(q): Query<PaceQuery>) -> Json<serde_json::Value> {
    let delay_ms = q.delay_ms.min(5_000);
    let script = llm_script(delay_ms);
    *stubs.normal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = script.clone();
    stubs.llm.set_script(script);
    Json(json!({"delay_ms": delay_ms}))
}

fn llm_script(delay_ms: u64) -> Script {
    Script::Answer { words: split_words(ANSWER), delay_ms_between: delay_ms, first_token_delay_ms: 0 }
}

#[derive(Deserialize)]
struct FailQuery {
    #[serde(default = "default_fail_times")]
    times: usize,
}

fn default_fail_times() -> usize {
    3
}

/// Fails the next `times` streamed requests, then restores the normal script.
async fn fail_next(State(stubs): State<Arc<Stubs>>, Query(q): Query<FailQuery>) -> Json<serde_json::Value> {
    let streamed = |llm: &FakeLlm| llm.streamed_count();
    let before = streamed(&stubs.llm);
    let times = q.times.clamp(1, 20);
    stubs.llm.set_script(Script::Http500);
    let stubs_for_reset = stubs.clone();
    tokio::spawn(async move {
        // Give up after a minute, so a test that never sends leaves the model working.
        for _ in 0..3000 {
            if streamed(&stubs_for_reset.llm) >= before + times {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stubs_for_reset.llm.set_script(normal(&stubs_for_reset));
    });
    Json(json!({"armed": true, "times": times}))
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term => {} }
}

#[derive(Deserialize)]
struct MailQuery {
    to: String,
    #[serde(default)]
    after: usize,
    #[serde(default)]
    wait_ms: u64,
}

async fn latest_mail(State(stubs): State<Arc<Stubs>>, Query(q): Query<MailQuery>) -> Response {
    let sink = &stubs.sink;
    let wait = Duration::from_millis(q.wait_ms.min(30_000));
    let mail = if wait.is_zero() {
        (sink.count_to(&q.to) > q.after).then(|| sink.latest_to(&q.to)).flatten()
    } else {
        sink.wait_for(&q.to, q.after, wait).await
    };
    match mail {
        Some(mail) => {
            Json(json!({"code": mail.code(), "data": mail.data, "count": sink.count_to(&q.to)})).into_response()
        }
        None => {
            (StatusCode::NOT_FOUND, Json(json!({"error": "not_found", "message": "no such mail yet"}))).into_response()
        }
    }
}

/// The fake model binds a free port; this forwards a fixed port to it, streaming the
/// answer through unchanged, so the server's `LLM_BASE_URL` can be a constant.
async fn serve_llm_proxy(port: u16, upstream: String) -> Result<tokio::task::JoinHandle<()>, String> {
    let client = reqwest::Client::new();
    let app = Router::new()
        .route("/v1/chat/completions", post(forward))
        .route("/chat/completions", post(forward))
        .with_state((client, upstream));
    let listener =
        tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| format!("LLM on port {port}: {e}"))?;
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "LLM proxy stopped");
        }
    }))
}

async fn forward(
    State((client, upstream)): State<(reqwest::Client, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut request =
        client.post(format!("{upstream}/chat/completions")).header(header::CONTENT_TYPE, "application/json").body(body);
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, auth);
    }
    match request.send().await {
        Ok(upstream) => {
            let status = StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = upstream
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_string();
            Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from_stream(upstream.bytes_stream()))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
