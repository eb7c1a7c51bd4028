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
    error::{AppError, AppJson, AppResult},
    openapi::responses::{CrossSite, Internal, Malformed, Overloaded, Unauthorized},
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
    AppJson(body): AppJson<serde_json::Value>,
) -> AppResult<Json<Profile>> {
    let profile = profile_body(body)?;
    Ok(Json(save_profile(&state.db, &state.profiles, &user.user_id, profile).await?))
}

/// The body as the document states it: an object (serde alone would also take an array of
/// the fields), whose `age` is a JSON Schema `integer`, which includes whole numbers written
/// with a fraction (`30.0`) that serde's `u32` refuses.
fn profile_body(mut body: serde_json::Value) -> AppResult<Profile> {
    let Some(fields) = body.as_object_mut() else {
        return Err(AppError::BadRequest("The profile must be a JSON object.".into()));
    };
    if let Some(age) = fields.get_mut("age") {
        let whole =
            age.as_f64().filter(|a| !age.is_u64() && a.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(a));
        if let Some(whole) = whole {
            *age = serde_json::Value::from(whole as u32);
        }
    }
    serde_json::from_value(body).map_err(|e| AppError::BadRequest(format!("Invalid profile: {e}")))
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
        Overloaded,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_whole_age_written_with_a_fraction_is_an_integer() {
        assert_eq!(profile_body(json!({"age": 30.0})).unwrap().age, Some(30));
        assert_eq!(profile_body(json!({"age": 30})).unwrap().age, Some(30));
        for bad in [json!({"age": 30.5}), json!({"age": -1.0}), json!({"age": 1e12}), json!([]), json!("x")] {
            assert!(matches!(profile_body(bad.clone()), Err(AppError::BadRequest(_))), "{bad}");
        }
    }
}
