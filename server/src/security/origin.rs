//! Cross-site request forgery and cross-site WebSocket hijacking: a request that carries the
//! session cookies and changes state (any method but GET/HEAD/OPTIONS), and a WebSocket
//! upgrade that would be authenticated by those cookies, must come from the app's own
//! origin (or one listed in `CORS_ORIGINS`). Token clients (Bearer header, `?token=` on the
//! socket) are not subject to this: a foreign page cannot make a browser send their tokens.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    auth::{cookies, extract::query_token},
    error::AppError,
    state::AppState,
};

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether the browser's cookies are what would authenticate this request.
fn cookie_authenticated(req: &Request) -> bool {
    let headers = req.headers();
    let has_cookie =
        cookies::get(headers, cookies::ACCESS).is_some() || cookies::get(headers, cookies::REFRESH).is_some();
    let token_elsewhere = headers.contains_key(header::AUTHORIZATION)
        || (is_websocket_upgrade(headers) && query_token(req.uri()).is_some());
    has_cookie && !token_elsewhere
}

/// The origin the browser says it came from is this app (as addressed by `Host`), or
/// allowed by configuration. `Sec-Fetch-Site: same-origin` counts too.
fn same_origin(headers: &HeaderMap, allowed: &[String]) -> bool {
    let get = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    if get(header::HeaderName::from_static("sec-fetch-site")) == Some("same-origin") {
        return true;
    }
    let (Some(origin), Some(host)) = (get(header::ORIGIN), get(header::HOST)) else {
        return false;
    };
    let own = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
    own || allowed.iter().any(|a| a == origin)
}

pub async fn require_same_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let guarded = (changes_state || is_websocket_upgrade(req.headers())) && cookie_authenticated(&req);
    if guarded && !same_origin(req.headers(), &state.config.cors_origins) {
        tracing::warn!(path = %req.uri().path(), origin = ?req.headers().get(header::ORIGIN), "cross-site request refused");
        return AppError::Forbidden("This request must come from the app's own pages.".into()).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn only_the_apps_own_or_listed_origins_pass() {
        let allowed = vec!["https://admin.example".to_string()];
        assert!(same_origin(&headers(&[("origin", "http://127.0.0.1:8004"), ("host", "127.0.0.1:8004")]), &allowed));
        assert!(same_origin(&headers(&[("origin", "https://admin.example"), ("host", "app.example")]), &allowed));
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")]), &allowed));
        assert!(!same_origin(&headers(&[("origin", "http://evil.example"), ("host", "127.0.0.1:8004")]), &allowed));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "127.0.0.1:8004")]), &allowed));
        assert!(!same_origin(
            &headers(&[("origin", "http://127.0.0.1:8004.evil.example"), ("host", "127.0.0.1:8004")]),
            &allowed
        ));
        assert!(!same_origin(&headers(&[("host", "127.0.0.1:8004")]), &allowed), "no Origin at all");
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site"), ("host", "x")]), &allowed));
    }
}
