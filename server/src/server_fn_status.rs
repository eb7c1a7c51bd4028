//! Server functions answer every error with status 500 (the `server_fn` crate's choice).
//! This layer gives an error the status of its code instead, so a malformed argument is a
//! 400 and a missing sign-in a 401, as on the REST routes. The browser's server-function
//! client reads any 4xx or 5xx as an error, so the pages see the same `ApiError`.

use app::wire::ApiError;
use axum::{
    body::{to_bytes, Body},
    extract::Request,
    http::StatusCode,
    middleware::Next,
    response::Response,
};
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;

/// Error bodies are one small JSON object; anything larger is left as it is.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub async fn status_from_error_code(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<ApiError>(&bytes) {
        parts.status = StatusCode::from_u16(error.error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, Body::from(bytes))
}
