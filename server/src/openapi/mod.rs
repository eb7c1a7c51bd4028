//! `GET /api/openapi.json`: the REST API described as OpenAPI 3.1, generated from the handlers'
//! `#[utoipa::path]` attributes and the wire types' `ToSchema` derives. The REST modules build
//! their routers with [`OpenApiRouter`], so a route cannot be served without being described
//! (and `server/tests` checks the document against the routes that answer).
//!
//! Errors are always [`ApiError`]; the responses every route shares are written once, in
//! [`responses`], a leaf the route modules use (this module assembles them, so they must not
//! use it).

pub mod responses;

use std::sync::OnceLock;

use app::wire::{
    auth::{CodeSent, RefreshRequest, TokenResponse},
    ApiError, ErrorCode, FieldError,
};
use axum::{Json, Router};
use utoipa::{
    openapi::{
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Ref, Required,
    },
    Modify, OpenApi, PartialSchema,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Health Coach API",
        description = "Accounts, health profile and chat sessions. Every error is an `ApiError` \
            (`{\"error\": CODE, \"message\": ..., \"fields\"?: [...]}`). Authenticated routes take \
            `Authorization: Bearer <access_token>` or the browser's `hc_access` cookie. Live answers \
            stream over the WebSocket at `/chat/ws`, whose frames docs/API.md describes."
    ),
    servers((url = "http://127.0.0.1:8004")),
    // The modules whose routers are plain axum ones; the others add their operations in `api()`.
    paths(
        crate::auth::routes::signup,
        crate::auth::routes::verify_email,
        crate::auth::routes::signin,
        crate::auth::routes::verify_signin,
        crate::auth::routes::resend_code,
        crate::auth::routes::refresh_tokens,
        crate::auth::routes::signout,
        crate::chat::ws::upgrade,
    ),
    components(schemas(ApiError, ErrorCode, FieldError, CodeSent, TokenResponse)),
    modifiers(&SecuritySchemes, &OptionalBodies),
    tags(
        (name = "meta", description = "Health and this document"),
        (name = "auth", description = "Sign-up and sign-in by emailed code, tokens"),
        (name = "users", description = "The signed-in user and their health profile"),
        (name = "chat", description = "Chat sessions (the live chat is the WebSocket)")
    )
)]
struct ApiDoc;

/// The two ways a request is authenticated.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "hc_access",
                "The browser's HttpOnly access cookie, set by the verify and refresh routes.",
            ))),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The access token in the URL, for clients that cannot set headers: only on the WebSocket upgrade.",
            ))),
        );
    }
}

/// `refresh` and `signout` take an optional body: absent (browsers send only the cookie) or a
/// `RefreshRequest`, never JSON `null` (utoipa would describe `Option<T>` as nullable).
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for path in ["/auth/refresh", "/auth/signout"] {
            let Some(op) = openapi.paths.paths.get_mut(path).and_then(|item| item.post.as_mut()) else {
                continue;
            };
            let body = op.request_body.get_or_insert_with(Default::default);
            body.required = Some(Required::False);
            body.content.insert(
                "application/json".into(),
                ContentBuilder::new().schema(Some(Ref::from_schema_name("RefreshRequest"))).build(),
            );
        }
        let schemas = &mut openapi.components.get_or_insert_with(Default::default).schemas;
        schemas.entry("RefreshRequest".into()).or_insert_with(RefreshRequest::schema);
    }
}

/// Every documented route, each module's router with its operations.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::health::api())
        .merge(crate::users::routes::api())
        .merge(crate::memory::routes::api())
        .merge(crate::chat::routes::api())
        .merge(own_routes())
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| api().into_openapi())
}

/// This module's own route, served and described from one registration.
fn own_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

pub fn router() -> Router<AppState> {
    own_routes().into()
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of the REST API", content_type = "application/json", body = Object))
)]
async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{responses::NOT_BLANK_PATTERN, *};

    #[test]
    fn the_not_blank_class_is_exactly_the_non_whitespace_characters() {
        let one = regex::Regex::new(&format!("^{NOT_BLANK_PATTERN}$")).unwrap();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(one.is_match(c.encode_utf8(&mut [0; 4])), !c.is_whitespace(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn every_text_that_must_not_be_blank_uses_the_class() {
        let doc = serde_json::to_value(document()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let search = doc["paths"]["/chat/search"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "q")
            .unwrap()
            .clone();
        for pattern in [
            &schemas["RenameSession"]["properties"]["title"]["pattern"],
            &schemas["Profile"]["properties"]["goals"]["items"]["pattern"],
            &search["schema"]["pattern"],
        ] {
            assert_eq!(pattern, NOT_BLANK_PATTERN);
        }
    }
}
