//! Keeps a browser signed in past the short access-token lifetime: when a request carries
//! no valid access cookie but a refresh cookie, the refresh token is rotated, the request
//! continues with the new access token, and the response sets both new cookies.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

use crate::{
    auth::{cookies, refresh},
    state::AppState,
};

pub async fn refresh_cookies(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let needs_refresh = !headers.contains_key(header::AUTHORIZATION)
        && cookies::get(headers, cookies::ACCESS).is_none_or(|t| state.keys.verify(t).is_err());
    let refresh_token = cookies::get(headers, cookies::REFRESH).map(str::to_string);
    let (Some(token), true) = (refresh_token, needs_refresh) else {
        return next.run(request).await;
    };
    // Only pages, server functions and the socket use cookies; the auth routes handle
    // their own tokens.
    if request.uri().path().starts_with("/auth/") {
        return next.run(request).await;
    }
    let cfg = &state.config;
    match refresh::rotate(&state.db, &state.signins, &token, cfg.refresh_token_ttl_days).await {
        Ok(refresh::Rotated { user_id, signin_id, refresh_token: new_refresh }) => {
            let Ok(access) = state.keys.issue(&user_id, &signin_id) else {
                return next.run(request).await;
            };
            // Replace the cookies the rest of the stack will read.
            let others: Vec<String> = request
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .map(str::trim)
                .filter(|p| !p.starts_with("hc_access=") && !p.starts_with("hc_refresh="))
                .map(str::to_string)
                .collect();
            let mut cookie = format!("{}={access}", cookies::ACCESS);
            for other in others.iter().filter(|o| !o.is_empty()) {
                cookie.push_str("; ");
                cookie.push_str(other);
            }
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                request.headers_mut().insert(header::COOKIE, v);
            }
            let mut response = next.run(request).await;
            cookies::append_session(
                response.headers_mut(),
                &access,
                state.keys.ttl_secs,
                &new_refresh,
                cfg.refresh_token_ttl_days,
                cfg.secure_cookies,
            );
            response
        }
        // A failed rotation (expired, revoked, or a parallel request rotated first) leaves
        // the cookies alone: the request simply proceeds signed out.
        Err(_) => next.run(request).await,
    }
}
