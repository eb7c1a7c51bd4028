//! `/users/me/memories` (Bearer token or cookie): list, add, edit and delete the facts the
//! coach remembers.

use app::wire::{
    memory::{Memory, MemoryInput, MemoryList},
    ApiError,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json, Router,
};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::AuthUser,
    error::{AppJson, AppResult},
    openapi::responses::{CrossSite, Internal, Malformed, Unauthorized},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    api().into()
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, add)).routes(routes!(edit, remove))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct MemoryId {
    /// The fact's id (unknown or another user's are a 404).
    #[param(format = Uuid)]
    memory_id: String,
}

/// What the coach remembers, oldest first.
#[utoipa::path(
    get,
    path = "/users/me/memories",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The remembered facts", body = MemoryList),
        Unauthorized,
        Internal,
    )
)]
async fn list(State(state): State<AppState>, user: AuthUser) -> AppResult<Json<MemoryList>> {
    Ok(Json(MemoryList { memories: super::list(&state.db, &user.user_id).await? }))
}

/// Add a fact for the coach to remember (one deleted before may be added again).
#[utoipa::path(
    post,
    path = "/users/me/memories",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    request_body = MemoryInput,
    responses(
        (status = 201, description = "Remembered", body = Memory),
        Malformed,
        Unauthorized,
        CrossSite,
        (status = 409, description = "Already remembered, or 100 facts kept already (`conflict`)", body = ApiError),
        (status = 422, description = "Empty or over 300 characters (`validation_failed`, `fields` names `text`)", body = ApiError),
        Internal,
    )
)]
async fn add(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(body): AppJson<MemoryInput>,
) -> AppResult<(StatusCode, Json<Memory>)> {
    Ok((StatusCode::CREATED, Json(super::add(&state.db, &user.user_id, body).await?)))
}

/// Rewrite a fact (the old wording is not learned again).
#[utoipa::path(
    put,
    path = "/users/me/memories/{memory_id}",
    tag = "users",
    params(MemoryId),
    security(("bearer" = []), ("cookie" = [])),
    request_body = MemoryInput,
    responses(
        (status = 200, description = "Saved", body = Memory),
        Malformed,
        Unauthorized,
        CrossSite,
        (status = 404, description = "Not the caller's or unknown (`not_found`)", body = ApiError),
        (status = 409, description = "Another fact says the same (`conflict`)", body = ApiError),
        (status = 422, description = "Empty or over 300 characters (`validation_failed`, `fields` names `text`)", body = ApiError),
        Internal,
    )
)]
async fn edit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(memory_id): Path<String>,
    AppJson(body): AppJson<MemoryInput>,
) -> AppResult<Json<Memory>> {
    Ok(Json(super::update(&state.db, &user.user_id, &memory_id, body).await?))
}

/// Forget a fact: it leaves the next prompt and is never learned again.
#[utoipa::path(
    delete,
    path = "/users/me/memories/{memory_id}",
    tag = "users",
    params(MemoryId),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Forgotten"),
        Unauthorized,
        CrossSite,
        (status = 404, description = "Not the caller's or unknown (`not_found`)", body = ApiError),
        Internal,
    )
)]
async fn remove(State(state): State<AppState>, user: AuthUser, Path(memory_id): Path<String>) -> AppResult<StatusCode> {
    super::delete(&state.db, &user.user_id, &memory_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
