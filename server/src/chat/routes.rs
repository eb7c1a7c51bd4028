//! REST for chat sessions (Bearer token): list, read, rename, delete, restore, export, search.
//!
//! Query strings are held to exactly what the OpenAPI document states (ranges, patterns):
//! anything else is a 400, never silently clamped.

use std::sync::LazyLock;

use app::wire::{
    chat::{MessageView, RenameSession, SearchResults, SessionDetail, SessionPage, SessionSummary},
    ApiError,
};
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json, Router,
};
use regex::Regex;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::AuthUser,
    chat::{export, service},
    error::{AppError, AppJson, AppResult},
    openapi::responses::{CrossSite, Internal, Malformed, Overloaded, SessionId, Unauthorized},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    api().into()
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(detail, delete, rename))
        .routes(routes!(restore))
        .routes(routes!(export_session))
        .routes(routes!(search))
}

/// A session-list cursor as `next_cursor` hands it out: `<millis>_<session id>`. The same text
/// is the `pattern` of the `cursor` parameter below (a test checks they agree).
pub const CURSOR_PATTERN: &str =
    "^(0|[1-9][0-9]{0,13})_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// A message-page cursor as `next_before` hands it out: a positive sequence number.
pub const BEFORE_PATTERN: &str = "^[1-9][0-9]{0,17}$";
pub const MAX_SESSIONS_PER_PAGE: u32 = 100;
pub const MAX_MESSAGES_PER_PAGE: u32 = 200;
/// Longest search, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

static CURSOR: LazyLock<Regex> = LazyLock::new(|| Regex::new(CURSOR_PATTERN).unwrap_or_else(|_| unreachable!()));
static BEFORE: LazyLock<Regex> = LazyLock::new(|| Regex::new(BEFORE_PATTERN).unwrap_or_else(|_| unreachable!()));

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Sessions per page.
    #[param(minimum = 1, maximum = 100, default = 20, nullable = false)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(
        pattern = "^(0|[1-9][0-9]{0,13})_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        nullable = false
    )]
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DetailQuery {
    /// Messages per page.
    #[param(minimum = 1, maximum = 200, default = 50, nullable = false)]
    limit: Option<u32>,
    /// The `next_before` of the previous page, for older messages.
    #[param(pattern = "^[1-9][0-9]{0,17}$", nullable = false)]
    before: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `json` (the default) or `markdown`.
    #[param(value_type = Option<ExportFormat>, inline, nullable = false)]
    format: Option<String>,
}

/// The download formats.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum ExportFormat {
    Json,
    Markdown,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Words to find in the caller's titles and messages (case-insensitive); must hold more
    /// than whitespace.
    #[param(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = "[^\\x09-\\x0D\\x20\\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        nullable = false
    )]
    q: Option<String>,
}

/// What the JSON export holds (the shape `chat::export::Export` serializes).
#[derive(ToSchema)]
#[schema(as = Export)]
#[allow(dead_code)]
struct ExportBody {
    session: SessionSummary,
    /// Every message, oldest first.
    messages: Vec<MessageView>,
}

/// Query strings parsed into our error format rather than axum's plain-text rejection.
fn query<T: serde::de::DeserializeOwned>(uri: &axum::http::Uri) -> AppResult<T> {
    Query::<T>::try_from_uri(uri).map(|q| q.0).map_err(|e| AppError::BadRequest(e.body_text()))
}

fn bad(message: &str) -> AppError {
    AppError::BadRequest(message.into())
}

/// `limit` within `1..=max`, or the default when absent.
fn page_size(limit: Option<u32>, default: u32, max: u32) -> AppResult<u32> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(AppError::BadRequest(format!("limit must be 1 to {max}."))),
    }
}

/// Active sessions, newest first.
#[utoipa::path(
    get,
    path = "/chat/sessions",
    tag = "chat",
    params(ListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of sessions", body = SessionPage),
        Malformed,
        Unauthorized,
        Internal,
    )
)]
async fn list(State(state): State<AppState>, user: AuthUser, uri: axum::http::Uri) -> AppResult<Json<SessionPage>> {
    let q: ListQuery = query(&uri)?;
    let limit = page_size(q.limit, 20, MAX_SESSIONS_PER_PAGE)?;
    if q.cursor.as_deref().is_some_and(|c| !CURSOR.is_match(c)) {
        return Err(bad("Invalid cursor."));
    }
    Ok(Json(service::list_sessions(&state, &user.user_id, q.cursor.as_deref(), limit).await?))
}

/// A session with its newest page of messages (`before` for older ones).
#[utoipa::path(
    get,
    path = "/chat/sessions/{id}",
    tag = "chat",
    params(SessionId, DetailQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The session", body = SessionDetail),
        Malformed,
        Unauthorized,
        (status = 404, description = "Not the caller's, deleted or unknown (`not_found`)", body = ApiError),
        Internal,
    )
)]
async fn detail(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> AppResult<Json<SessionDetail>> {
    let q: DetailQuery = query(&uri)?;
    let limit = page_size(q.limit, 50, MAX_MESSAGES_PER_PAGE)?;
    if q.before.as_deref().is_some_and(|b| !BEFORE.is_match(b)) {
        return Err(bad("Invalid cursor."));
    }
    Ok(Json(service::session_detail(&state, &user.user_id, &id, q.before.as_deref(), limit).await?))
}

/// Rename a session.
#[utoipa::path(
    patch,
    path = "/chat/sessions/{id}",
    tag = "chat",
    params(SessionId),
    request_body = RenameSession,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Renamed", body = SessionSummary),
        Malformed,
        Unauthorized,
        CrossSite,
        (status = 404, description = "Not the caller's, deleted or unknown (`not_found`)", body = ApiError),
        (status = 422, description = "Empty or over-long title (`validation_failed`, `fields` names `title`)", body = ApiError),
        Internal,
    )
)]
async fn rename(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<RenameSession>,
) -> AppResult<Json<SessionSummary>> {
    Ok(Json(service::rename(&state, &user.user_id, &id, &body.title).await?))
}

/// Soft delete (restorable); an answer running in the session is stopped.
#[utoipa::path(
    delete,
    path = "/chat/sessions/{id}",
    tag = "chat",
    params(SessionId),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized,
        CrossSite,
        (status = 404, description = "Not the caller's, already deleted or unknown (`not_found`)", body = ApiError),
        Internal,
    )
)]
async fn delete(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> AppResult<StatusCode> {
    service::delete(&state, &user.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Undo a delete.
#[utoipa::path(
    post,
    path = "/chat/sessions/{id}/restore",
    tag = "chat",
    params(SessionId),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Restored", body = SessionSummary),
        Unauthorized,
        CrossSite,
        (status = 404, description = "Not a deleted session of the caller (`not_found`)", body = ApiError),
        Internal,
    )
)]
async fn restore(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<SessionSummary>> {
    Ok(Json(service::restore(&state, &user.user_id, &id).await?))
}

/// Download a session with all its messages.
#[utoipa::path(
    get,
    path = "/chat/sessions/{id}/export",
    tag = "chat",
    params(SessionId, ExportQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "An attachment (`Content-Disposition`): JSON, or Markdown with `format=markdown`",
            content((ExportBody = "application/json"), (String = "text/markdown"))),
        Malformed,
        Unauthorized,
        (status = 404, description = "Not the caller's, deleted or unknown (`not_found`)", body = ApiError),
        Internal,
    )
)]
async fn export_session(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> AppResult<Response> {
    let q: ExportQuery = query(&uri)?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "markdown") {
        return Err(AppError::BadRequest(format!("format must be json or markdown, not {format:?}.")));
    }
    let (session, messages) = service::export(&state, &user.user_id, &id).await?;
    let stem = format!("chat-{}", &session.session_id);
    let (content_type, extension, body) = match format {
        "markdown" => ("text/markdown; charset=utf-8", "md", export::markdown(&session, messages)),
        _ => ("application/json", "json", export::json(&session, messages, state.library.clone())?),
    };
    let disposition = format!("attachment; filename=\"{stem}.{extension}\"");
    Ok(([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

/// Search the caller's session titles and messages (up to 20 of each).
#[utoipa::path(
    get,
    path = "/chat/search",
    tag = "chat",
    params(SearchQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Hits: titles first, then messages", body = SearchResults),
        Malformed,
        Unauthorized,
        Internal,
        Overloaded,
    )
)]
async fn search(State(state): State<AppState>, user: AuthUser, uri: axum::http::Uri) -> AppResult<Json<SearchResults>> {
    let q: SearchQuery = query(&uri)?;
    let text = q.q.ok_or_else(|| bad("Add ?q= with the words to find."))?;
    if text.chars().count() > MAX_QUERY_CHARS || text.trim().is_empty() {
        return Err(AppError::BadRequest(format!("The search needs 1 to {MAX_QUERY_CHARS} characters.")));
    }
    Ok(Json(service::search(&state, &user.user_id, &text).await?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pattern(path: &str, name: &str) -> String {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap().clone();
        let param = params.into_iter().find(|p| p["name"] == name).unwrap();
        param["schema"]["pattern"].as_str().unwrap().to_string()
    }

    #[test]
    fn the_handlers_check_the_patterns_the_document_states() {
        assert_eq!(pattern("/chat/sessions", "cursor"), CURSOR_PATTERN);
        assert_eq!(pattern("/chat/sessions/{id}", "before"), BEFORE_PATTERN);
    }

    #[test]
    fn cursors_are_held_to_the_pattern() {
        let id = "0b0e6d5e-3f1c-4a8e-9a52-2f1f3b7c9d10";
        assert!(CURSOR.is_match(&format!("1700000000000_{id}")));
        for bad in [
            format!("01_{id}"),
            format!("100000000000000_{id}"),
            format!("-1_{id}"),
            "1_0b0e6d5e3f1c4a8e9a522f1f3b7c9d10".to_string(),
            format!("1_{id}\n"),
        ] {
            assert!(!CURSOR.is_match(&bad), "{bad}");
        }
        assert!(
            BEFORE.is_match("7")
                && !BEFORE.is_match("0")
                && !BEFORE.is_match("+7")
                && !BEFORE.is_match("1234567890123456789")
        );
    }

    #[test]
    fn page_sizes_outside_the_range_are_refused() {
        assert_eq!(page_size(None, 20, 100).unwrap(), 20);
        assert_eq!(page_size(Some(100), 20, 100).unwrap(), 100);
        assert!(page_size(Some(0), 20, 100).is_err());
        assert!(page_size(Some(101), 20, 100).is_err());
    }
}
