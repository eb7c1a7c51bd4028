//! `GET /health`: liveness plus a database ping.

use app::wire::health::Health;
use axum::{extract::State, http::StatusCode, Json, Router};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    api().into()
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
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
    let db_ok = tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await.is_ok_and(|r| r.is_ok());
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
