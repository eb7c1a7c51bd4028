//! `AuthUser`: the one extractor for a signed-in caller, used by every REST handler, server
//! function and the WebSocket upgrade. A bad token is a 401, never an anonymous caller.

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap, Uri},
};

use crate::{
    auth::{cookies, signins},
    error::AppError,
    state::AppState,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: String,
    /// The sign-in the token belongs to: sign-out ends it, and with it this caller.
    pub signin_id: String,
    /// When the presented access token expires (seconds since the epoch); a socket
    /// closes then unless the client renews it.
    pub expires_at: i64,
}

/// Where a token may come from: the `Authorization: Bearer` header, the browser's cookie,
/// or (only on a WebSocket upgrade, where browsers cannot set headers) `?token=`.
pub fn token_from(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string());
    }
    let is_upgrade =
        headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        if let Some(token) = query_token(uri) {
            return Some(token);
        }
    }
    cookies::get(headers, cookies::ACCESS).map(str::to_string)
}

/// `?token=` of a WebSocket upgrade URL.
pub fn query_token(uri: &Uri) -> Option<String> {
    uri.query()?.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "token").map(|(_, v)| v.to_string())
}

impl AuthUser {
    pub async fn from_headers(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Self, AppError> {
        let token = token_from(headers, uri)
            .ok_or_else(|| AppError::Unauthorized("Sign in first: no access token was sent.".into()))?;
        Self::from_token(state, &token).await
    }

    /// A valid token of a sign-in that is still on.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, AppError> {
        let verified = state.keys.verify(token)?;
        if !state.signins.active(&state.db, &verified.signin_id).await? {
            return Err(signins::ended());
        }
        Ok(AuthUser { user_id: verified.user_id, signin_id: verified.signin_id, expires_at: verified.expires_at })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        AuthUser::from_headers(state, &parts.headers, &parts.uri).await
    }
}
