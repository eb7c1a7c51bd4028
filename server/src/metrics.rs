//! `GET /metrics`: this instance's Prometheus metrics in the text format. Answers by outcome,
//! their latency and tokens, error answers by code, open sockets, and how long turns wait for
//! the database and the model.
//!
//! The `metrics` macros record into one process-wide recorder: a process can install only
//! one, so [`install`] installs it the first time and every app the process builds (the
//! integration tests build many) shares it and its [`PrometheusHandle`]. The exporter's own
//! HTTP listener is not used; its upkeep (folding histogram samples) runs on a thread of its
//! own, so it outlives any one Tokio runtime.
//!
//! Who may read it: a scraper that connects to the instance directly. A request relayed by a
//! reverse proxy (one carrying `Forwarded`, `X-Forwarded-For` or `X-Real-IP`, or coming from
//! a `TRUSTED_PROXIES` address) is refused with `403`, so publishing the app through its proxy
//! does not publish its metrics.

use std::{
    net::{IpAddr, SocketAddr},
    sync::OnceLock,
    time::Duration,
};

use app::wire::{
    chat::{MessageStatus, RawEvent},
    ApiError, ErrorCode,
};
use axum::{
    body::{to_bytes, Body, HttpBody},
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{error::AppError, state::AppState};

/// Finished answers, by `status` (`complete`, `stopped`, `failed`, `interrupted`).
pub const ANSWERS: &str = "answers_total";
/// From the user's message to the end of the answer.
pub const ANSWER_SECONDS: &str = "answer_seconds";
/// From the user's message to the answer's first text.
pub const FIRST_TOKEN_SECONDS: &str = "answer_first_token_seconds";
/// Tokens the model reported, by `kind` (`prompt`, `completion`).
pub const ANSWER_TOKENS: &str = "answer_tokens_total";
/// Error frames and error responses, by `code` (the `ErrorCode` wire name).
pub const ERRORS: &str = "errors_total";
/// WebSockets open on this instance.
pub const OPEN_SOCKETS: &str = "open_sockets";
/// Per answer: time spent waiting for the database before the model was asked.
pub const DB_WAIT_SECONDS: &str = "db_wait_seconds";
/// Per answer: time spent waiting for the model (its first byte, then each next piece).
pub const MODEL_WAIT_SECONDS: &str = "model_wait_seconds";
/// Turns of a dead instance this instance stored as interrupted.
pub const TAKEOVERS: &str = "answers_taken_over_total";
/// Checkpoint commands sent (each carries the partial answers of every running turn).
pub const CHECKPOINTS: &str = "answer_checkpoints_total";
/// Finished answers waiting for the database, in memory (the rest are in the spill file).
pub const UNSAVED_ANSWERS: &str = "unsaved_answers";

/// Upper bounds of every histogram's buckets (all are in seconds): database waits of a few
/// milliseconds up to slow local answers of minutes.
const BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// Error bodies are one small JSON object; larger bodies are not read.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// Installs the process's recorder on first use and returns its handle.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new().set_buckets(BUCKETS).unwrap_or_else(|_| PrometheusBuilder::new());
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                // Someone else's recorder: ours would see nothing, so `/metrics` stays empty.
                tracing::warn!(error = %e, "a metrics recorder was already installed");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no metrics upkeep thread; histograms are folded at each scrape only");
        }
        handle
    })
}

fn describe() {
    describe_counter!(ANSWERS, Unit::Count, "Finished answers, by status");
    describe_histogram!(ANSWER_SECONDS, Unit::Seconds, "From the user's message to the end of the answer");
    describe_histogram!(FIRST_TOKEN_SECONDS, Unit::Seconds, "From the user's message to the answer's first text");
    describe_counter!(ANSWER_TOKENS, Unit::Count, "Tokens the model reported, by kind (prompt, completion)");
    describe_counter!(ERRORS, Unit::Count, "Error frames and error responses, by ErrorCode");
    describe_gauge!(OPEN_SOCKETS, Unit::Count, "WebSockets open on this instance");
    describe_histogram!(DB_WAIT_SECONDS, Unit::Seconds, "Per answer, time waiting for the database before the model");
    describe_histogram!(MODEL_WAIT_SECONDS, Unit::Seconds, "Per answer, time waiting for the model");
    describe_counter!(TAKEOVERS, Unit::Count, "Turns of a dead instance stored as interrupted by this one");
    describe_counter!(CHECKPOINTS, Unit::Count, "Checkpoint commands (partial answers of every running turn)");
    describe_gauge!(UNSAVED_ANSWERS, Unit::Count, "Finished answers kept in memory until the database takes them");
    // Shown as 0 before the first socket rather than missing.
    gauge!(OPEN_SOCKETS).increment(0.0);
}

/// `/metrics`, with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics of this instance.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    description = "This instance's metrics in the Prometheus text format (0.0.4): `answers_total{status}`, \
        `answer_seconds`, `answer_first_token_seconds`, `answer_tokens_total{kind}`, `errors_total{code}`, \
        `open_sockets`, `db_wait_seconds`, `model_wait_seconds`. Only for a scraper connecting directly: \
        a request relayed by a proxy is refused.",
    responses(
        (status = 200, description = "The metrics (Prometheus text format)", content_type = "text/plain", body = String),
        (status = 403, description = "Relayed by a proxy (`forbidden`): the request carries `Forwarded`, \
            `X-Forwarded-For` or `X-Real-IP`, or comes from a `TRUSTED_PROXIES` address", body = ApiError),
    )
)]
async fn metrics(State(state): State<AppState>, request: Request) -> Result<Response, AppError> {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
    if relayed(peer, request.headers(), &state.config.trusted_proxies) {
        return Err(AppError::Forbidden("Metrics are served to direct connections only, not through a proxy.".into()));
    }
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    Ok(([(header::CONTENT_TYPE, content_type)], install().render()).into_response())
}

/// Whether a request came through a reverse proxy (see the module docs).
pub fn relayed(peer: Option<IpAddr>, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> bool {
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|name| headers.contains_key(*name));
    forwarded || peer.is_some_and(|peer| trusted_proxies.contains(&peer))
}

pub fn turn_taken_over() {
    counter!(TAKEOVERS).increment(1);
}

pub fn checkpoint_sent() {
    counter!(CHECKPOINTS).increment(1);
}

pub fn unsaved_answers(n: usize) {
    gauge!(UNSAVED_ANSWERS).set(n as f64);
}

/// Counts an error sent to a client (a frame or a response).
pub fn error(code: ErrorCode) {
    counter!(ERRORS, "code" => code.to_string()).increment(1);
}

/// Counts one finished answer: its outcome, latency, tokens, waits and error, read from the
/// answer's events (the final one carries its timings, usage and error code).
pub fn answer_finished(status: MessageStatus, events: &[RawEvent], db_wait: Duration, elapsed: Duration) {
    counter!(ANSWERS, "status" => status.as_str()).increment(1);
    histogram!(ANSWER_SECONDS).record(elapsed.as_secs_f64());
    histogram!(DB_WAIT_SECONDS).record(db_wait.as_secs_f64());
    let Some(last) = events.last().filter(|e| e.turn_complete) else {
        return;
    };
    if let Some(code) = last.error_code {
        error(code);
    }
    if let Some(usage) = &last.usage_metadata {
        counter!(ANSWER_TOKENS, "kind" => "prompt").increment(usage.prompt_token_count);
        counter!(ANSWER_TOKENS, "kind" => "completion").increment(usage.candidates_token_count);
    }
    if let Some(timings) = &last.timings {
        if let Some(first) = timings.time_to_first_token_ms {
            histogram!(FIRST_TOKEN_SECONDS).record(Duration::from_millis(first).as_secs_f64());
        }
        if let Some(server_us) = timings.server_us {
            histogram!(MODEL_WAIT_SECONDS).record(model_wait(timings.total_ms, server_us, db_wait).as_secs_f64());
        }
    }
}

/// The final event's timings hold the whole turn (`total_ms`) and the server's own share
/// (`server_us`); the rest was waiting, for the database (`db_wait`) or else the model.
fn model_wait(total_ms: u64, server_us: u64, db_wait: Duration) -> Duration {
    Duration::from_millis(total_ms).saturating_sub(Duration::from_micros(server_us)).saturating_sub(db_wait)
}

/// One open WebSocket, counted in `open_sockets` while this value lives.
pub struct OpenSocket(());

impl OpenSocket {
    pub fn new() -> Self {
        gauge!(OPEN_SOCKETS).increment(1.0);
        OpenSocket(())
    }
}

impl Default for OpenSocket {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        gauge!(OPEN_SOCKETS).decrement(1.0);
    }
}

/// Counts the REST error responses (4xx and 5xx with an [`ApiError`] body) by their code.
pub async fn count_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = response.body().size_hint().upper().is_some_and(|n| n <= MAX_ERROR_BODY);
    if !(status.is_client_error() || status.is_server_error()) || !json || !small {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY as usize).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(e) = serde_json::from_slice::<ApiError>(&bytes) {
        error(e.error);
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_request_through_a_proxy_is_relayed() {
        let direct: IpAddr = "10.0.0.9".parse().unwrap();
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let none = HeaderMap::new();
        assert!(!relayed(Some(direct), &none, &[proxy]));
        assert!(!relayed(None, &none, &[proxy]));
        assert!(relayed(Some(proxy), &none, &[proxy]));
        for name in ["forwarded", "x-forwarded-for", "x-real-ip"] {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static("203.0.113.7"));
            assert!(relayed(Some(direct), &headers, &[]), "{name}");
        }
    }

    #[test]
    fn the_model_wait_is_the_wait_that_was_not_the_database() {
        let db = Duration::from_millis(30);
        assert_eq!(model_wait(1_000, 70_000, db), Duration::from_millis(900));
        // Rounding never makes it negative.
        assert_eq!(model_wait(10, 10_400, db), Duration::ZERO);
    }
}
