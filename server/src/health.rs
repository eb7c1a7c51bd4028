//! Health for people and load balancers: `GET /health` (liveness plus a database ping, the
//! original report), `GET /health/live` (the process answers) and `GET /health/ready` (this
//! instance should get traffic: its database answers, its change stream runs, its model is
//! usable, and it is not draining after a shutdown signal).

use app::wire::{health::Health, ApiError};
use axum::{extract::State, http::StatusCode, Json, Router};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{config::LlmConfig, error::AppError, state::AppState};

/// How long a probe waits for the database's answer.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    api().into()
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(live))
        .routes(routes!(ready))
        .merge(crate::metrics::api())
}

/// Liveness and database status.
#[utoipa::path(
    get,
    path = "/health",
    tag = "meta",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The database does not answer (`status` is `degraded`)", body = Health),
    )
)]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let db_ok = database_answers(&state).await;
    let status = if db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(Health {
            status: if db_ok { "healthy" } else { "degraded" }.into(),
            agent: "Men's Health Chat Assistant".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            database: if db_ok { "ok" } else { "unreachable" }.into(),
        }),
    )
}

async fn database_answers(state: &AppState) -> bool {
    tokio::time::timeout(PING_TIMEOUT, state.db.ping()).await.is_ok_and(|r| r.is_ok())
}

/// `GET /health/live`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `alive`.
    #[schema(schema_with = alive_schema)]
    pub status: String,
}

/// `GET /health/ready` when ready (a `503` names what is not).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    #[schema(schema_with = ready_schema)]
    pub status: String,
    /// `ok`: the database answered a ping.
    #[schema(schema_with = ok_schema)]
    pub database: String,
    /// `ok`: the change stream is running.
    #[schema(schema_with = ok_schema)]
    pub change_stream: String,
    /// `loaded` for the embedded model, `configured` for an OpenAI-compatible provider (which
    /// is not called by the probe).
    #[schema(schema_with = model_schema)]
    pub model: String,
}

fn words(words: &[&str], description: &str) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(words.iter().copied()))
        .description(Some(description))
        .build()
}

fn alive_schema() -> utoipa::openapi::Object {
    words(&["alive"], "Always `alive`.")
}

fn ready_schema() -> utoipa::openapi::Object {
    words(&["ready"], "Always `ready`.")
}

fn ok_schema() -> utoipa::openapi::Object {
    words(&["ok"], "`ok`.")
}

fn model_schema() -> utoipa::openapi::Object {
    words(&["loaded", "configured"], "`loaded` (the embedded model) or `configured` (an OpenAI-compatible provider).")
}

/// The process answers: a load balancer or orchestrator restarts an instance that does not.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "meta",
    description = "Liveness: `200` whenever the process answers. Checks nothing else (a database outage \
        must not get every instance restarted).",
    responses((status = 200, description = "The process is running", body = Liveness))
)]
async fn live() -> Json<Liveness> {
    Json(Liveness { status: "alive".into() })
}

/// Whether this instance should get new traffic.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "meta",
    description = "Readiness: `200` while the database answers a ping (2 s timeout), the change stream runs, \
        the model is usable (the embedded one loaded; an OpenAI-compatible provider configured, not called) \
        and the server is not draining. From a shutdown signal on it is `503` at once.",
    responses(
        (status = 200, description = "Ready for traffic", body = Readiness),
        (status = 503, description = "Not ready (`unavailable`); the message names each reason: the database \
            does not answer, the change stream is down, or the server is draining", body = ApiError),
    )
)]
async fn ready(State(state): State<AppState>) -> Result<Json<Readiness>, AppError> {
    let mut not_ready = Vec::new();
    if state.shutdown.is_cancelled() {
        not_ready.push("the server is draining (shutting down)");
    } else if !database_answers(&state).await {
        not_ready.push("the database does not answer");
    }
    if !state.session_events.is_up() {
        not_ready.push("the change stream is down");
    }
    if !not_ready.is_empty() {
        return Err(AppError::Unavailable(format!("Not ready: {}.", not_ready.join("; "))));
    }
    // The agent is built at start-up, which fails if the embedded model does not load.
    let model = match state.config.llm {
        LlmConfig::Local { .. } => "loaded",
        LlmConfig::OpenAi { .. } => "configured",
    };
    Ok(Json(Readiness {
        status: "ready".into(),
        database: "ok".into(),
        change_stream: "ok".into(),
        model: model.into(),
    }))
}
