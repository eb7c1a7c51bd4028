//! Security headers on every response. The CSP allows only scripts carrying this request's
//! nonce (the same one Leptos puts on its hydration scripts) plus the app's own files, and
//! WASM compilation; nothing may frame the app. Everything but the static assets is
//! `no-store`: pages and JSON hold health data and tokens.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use rand::RngCore;

use crate::state::AppState;

/// This request's CSP nonce, in the request's extensions for the page renderer.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

impl CspNonce {
    fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        CspNonce(hex::encode(bytes))
    }
}

/// The policy for one response; `host` (from the request) names the socket URL.
pub fn content_security_policy(nonce: &str, host: Option<&str>) -> String {
    let sockets = host.map(|h| format!(" ws://{h} wss://{h}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    )
}

/// Static assets may be cached; everything else may hold personal data.
fn is_static_asset(path: &str) -> bool {
    path.starts_with("/pkg/")
}

pub async fn security_headers(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let nonce = CspNonce::random();
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string);
    let path = req.uri().path().to_string();
    req.extensions_mut().insert(nonce.clone());
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    // Characters outside a header's alphabet come only from a forged Host: skip the CSP's
    // socket URL then rather than fail the response.
    let csp = HeaderValue::from_str(&content_security_policy(&nonce.0, host.as_deref()))
        .or_else(|_| HeaderValue::from_str(&content_security_policy(&nonce.0, None)));
    if let Ok(csp) = csp {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    if state.config.secure_cookies {
        set(headers, header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains");
    }
    if !is_static_asset(&path) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_nonce_and_the_socket_and_forbids_framing() {
        let csp = content_security_policy("abc", Some("app.example:8004"));
        assert!(csp.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'"));
        assert!(csp.contains("connect-src 'self' ws://app.example:8004 wss://app.example:8004"));
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("object-src 'none'")
                && csp.contains("base-uri 'none'")
        );
        assert!(!csp.contains("unsafe-inline"));
    }
}
