//! The browser's calls to the JSON REST endpoints (`/auth/*`), same origin, so the
//! HttpOnly session cookies travel by themselves. Failures arrive as the shared `ApiError`. On the server these calls never run
//! (they are only reached from event handlers), so the SSR build gets a stub.

use serde::{de::DeserializeOwned, Serialize};

use crate::wire::{ApiError, ErrorCode};

/// POSTs `body` as JSON to `path` and decodes the JSON answer.
#[cfg(feature = "hydrate")]
pub async fn post_json<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    use gloo_net::http::Request;

    let network =
        |_| ApiError::new(ErrorCode::Network, "Could not reach the server. Check your connection and try again.");
    let response = Request::post(path).json(body).map_err(network)?.send().await.map_err(network)?;
    let status = response.status();
    if (200..300).contains(&status) {
        return response.json::<T>().await.map_err(|_| {
            ApiError::new(ErrorCode::BadResponse, "The server sent an answer this page does not understand.")
        });
    }
    let retry_after = response.headers().get("retry-after");
    let mut error = response.json::<ApiError>().await.unwrap_or_else(|_| {
        ApiError::new(ErrorCode::Unknown, format!("The server answered with status {status}. Please try again."))
    });
    if status == 429 {
        error.error = ErrorCode::RateLimited;
        if let Some(secs) = retry_after.and_then(|s| s.trim().parse::<u64>().ok()) {
            error.message = format!("Too many attempts. Try again in {secs} s.");
        }
    }
    Err(error)
}

#[cfg(not(feature = "hydrate"))]
pub async fn post_json<B: Serialize, T: DeserializeOwned>(_path: &str, _body: &B) -> Result<T, ApiError> {
    Err(ApiError::new(ErrorCode::Unavailable, "This action needs JavaScript in the browser."))
}

/// Percent-encodes a query-string value (everything but RFC 3986 unreserved characters).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A full-page navigation (used after sign-out, so nothing of the old session survives).
pub fn hard_navigate(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_survive_a_query_string() {
        assert_eq!(encode_query_value("a+b@example.com"), "a%2Bb%40example.com");
        assert_eq!(encode_query_value("plain-1.x_y~z"), "plain-1.x_y~z");
    }
}
