//! `GET /health`: liveness plus a database ping.

use app::wire::health::Health;
use axum::{extract::State, http::StatusCode, routing::get, Json, Router};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let db_ok = tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping())
        .await
        .is_ok_and(|r| r.is_ok());
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
