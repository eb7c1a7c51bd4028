//! The browser's calls to the JSON REST endpoints (`/auth/*`), same origin, so the
//! HttpOnly session cookies travel by themselves. On the server these calls never run
//! (they are only reached from event handlers), so the SSR build gets a stub.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::wire::profile::FieldError;

/// A failed call, in the server's error shape (plus field errors for a 422).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct RestError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
}

impl RestError {
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        RestError { error: error.into(), message: message.into(), fields: Vec::new() }
    }

    /// The message for one field, if the server named it.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields.iter().find(|f| f.field == name).map(|f| f.message.clone())
    }
}

/// POSTs `body` as JSON to `path` and decodes the JSON answer.
#[cfg(feature = "hydrate")]
pub async fn post_json<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, RestError> {
    use gloo_net::http::Request;

    let network = |_| RestError::new("network", "Could not reach the server. Check your connection and try again.");
    let response = Request::post(path).json(body).map_err(network)?.send().await.map_err(network)?;
    let status = response.status();
    if (200..300).contains(&status) {
        return response
            .json::<T>()
            .await
            .map_err(|_| RestError::new("bad_response", "The server sent an answer this page does not understand."));
    }
    let retry_after = response.headers().get("retry-after");
    let mut error = response.json::<RestError>().await.unwrap_or_default();
    if error.message.is_empty() {
        error.message = format!("The server answered with status {status}. Please try again.");
    }
    if status == 429 {
        error.error = "rate_limited".into();
        if let Some(secs) = retry_after.and_then(|s| s.trim().parse::<u64>().ok()) {
            error.message = format!("Too many attempts. Try again in {secs} s.");
        }
    }
    Err(error)
}

#[cfg(not(feature = "hydrate"))]
pub async fn post_json<B: Serialize, T: DeserializeOwned>(_path: &str, _body: &B) -> Result<T, RestError> {
    Err(RestError::new("unavailable", "This action needs JavaScript in the browser."))
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
