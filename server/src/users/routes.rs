//! `/users/me` (read, delete), `/users/me/export` and `/users/me/profile` (Bearer token or
//! cookie).

use app::wire::{
    account::{AccountExport, DeleteAccount},
    auth::UserView,
    profile::Profile,
    ApiError,
};
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json, Router,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    account,
    repo::{find_user, load_profile, save_profile, user_view},
};
use crate::{
    auth::AuthUser,
    error::{AppJson, AppResult},
    openapi::{CrossSite, Internal, Malformed, Unauthorized},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    api().into()
}

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, delete_me))
        .routes(routes!(export_me))
        .routes(routes!(get_profile, put_profile))
}

/// The signed-in user.
#[utoipa::path(
    get,
    path = "/users/me",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        Unauthorized,
        Internal,
    )
)]
async fn me(State(state): State<AppState>, user: AuthUser) -> AppResult<Json<UserView>> {
    Ok(Json(user_view(&find_user(&state.db, &user.user_id).await?)))
}

/// The health profile.
#[utoipa::path(
    get,
    path = "/users/me/profile",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The profile (defaults until one is saved)", body = Profile),
        Unauthorized,
        Internal,
    )
)]
async fn get_profile(State(state): State<AppState>, user: AuthUser) -> AppResult<Json<Profile>> {
    Ok(Json(load_profile(&state.db, &user.user_id).await?))
}

/// Replace the health profile (goals and notes are trimmed first).
#[utoipa::path(
    put,
    path = "/users/me/profile",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    request_body = Profile,
    responses(
        (status = 200, description = "Saved; the stored profile", body = Profile),
        Malformed,
        Unauthorized,
        CrossSite,
        (status = 422, description = "A field is out of its range (`validation_failed`, each problem in `fields`)", body = ApiError),
        Internal,
    )
)]
async fn put_profile(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(profile): AppJson<Profile>,
) -> AppResult<Json<Profile>> {
    Ok(Json(save_profile(&state.db, &state.profiles, &user.user_id, profile).await?))
}

/// Everything stored about the signed-in user, as one JSON download (streamed).
#[utoipa::path(
    get,
    path = "/users/me/export",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The user, profile, sign-ins, every session (deleted ones too) and every message with its context", body = AccountExport),
        Unauthorized,
        Internal,
    )
)]
async fn export_me(State(state): State<AppState>, user: AuthUser) -> AppResult<Response> {
    let body = account::export(&state, &user.user_id).await?;
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"health-coach-export.json\""),
    ];
    Ok((headers, body).into_response())
}

/// Delete the account and everything stored about it, confirmed with the password.
#[utoipa::path(
    delete,
    path = "/users/me",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    request_body = DeleteAccount,
    responses(
        (status = 204, description = "Deleted: every sign-in ended, nothing of the user is left"),
        Malformed,
        Unauthorized,
        (status = 403, description = "The password is not right (`forbidden`), or a cross-site request", body = ApiError),
        Internal,
        (status = 503, description = "Too many passwords being checked at once (`unavailable`); try again shortly", body = ApiError),
    )
)]
async fn delete_me(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(body): AppJson<DeleteAccount>,
) -> AppResult<StatusCode> {
    account::delete(&state, &user.user_id, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
