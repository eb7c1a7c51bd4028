//! REST for chat sessions (Bearer token): list, read, rename, delete, restore, export, search.

use app::wire::chat::{RenameSession, SearchResults, SessionDetail, SessionPage, SessionSummary};
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;

use crate::{
    auth::AuthUser,
    chat::{export, service},
    error::{AppError, AppJson, AppResult},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat/sessions", get(list))
        .route("/chat/sessions/{id}", get(detail).delete(delete).patch(rename))
        .route("/chat/sessions/{id}/restore", post(restore))
        .route("/chat/sessions/{id}/export", get(export_session))
        .route("/chat/search", get(search))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct DetailQuery {
    limit: Option<u32>,
    before: Option<String>,
}

#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

/// Query strings parsed into our error format rather than axum's plain-text rejection.
fn query<T: serde::de::DeserializeOwned>(uri: &axum::http::Uri) -> AppResult<T> {
    Query::<T>::try_from_uri(uri).map(|q| q.0).map_err(|e| AppError::BadRequest(e.body_text()))
}

async fn list(State(state): State<AppState>, user: AuthUser, uri: axum::http::Uri) -> AppResult<Json<SessionPage>> {
    let q: ListQuery = query(&uri)?;
    Ok(Json(service::list_sessions(&state, &user.user_id, q.cursor.as_deref(), q.limit.unwrap_or(20)).await?))
}

async fn detail(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> AppResult<Json<SessionDetail>> {
    let q: DetailQuery = query(&uri)?;
    Ok(Json(service::session_detail(&state, &user.user_id, &id, q.before.as_deref(), q.limit.unwrap_or(50)).await?))
}

async fn rename(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<RenameSession>,
) -> AppResult<Json<SessionSummary>> {
    Ok(Json(service::rename(&state, &user.user_id, &id, &body.title).await?))
}

async fn delete(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> AppResult<StatusCode> {
    service::delete(&state, &user.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restore(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<SessionSummary>> {
    Ok(Json(service::restore(&state, &user.user_id, &id).await?))
}

async fn export_session(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> AppResult<Response> {
    let q: ExportQuery = query(&uri)?;
    let (session, messages) = service::export(&state, &user.user_id, &id).await?;
    let stem = format!("chat-{}", &session.session_id);
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok((
            [(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{stem}.json\""))],
            Json(export::json(&session, &messages)),
        )
            .into_response()),
        "markdown" | "md" => Ok((
            [
                (header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{stem}.md\"")),
            ],
            export::markdown(&session, &messages),
        )
            .into_response()),
        other => Err(AppError::BadRequest(format!("format must be json or markdown, not {other:?}."))),
    }
}

async fn search(State(state): State<AppState>, user: AuthUser, uri: axum::http::Uri) -> AppResult<Json<SearchResults>> {
    let q: SearchQuery = query(&uri)?;
    let text = q.q.ok_or_else(|| AppError::BadRequest("Add ?q= with the words to find.".into()))?;
    Ok(Json(service::search(&state, &user.user_id, &text).await?))
}
