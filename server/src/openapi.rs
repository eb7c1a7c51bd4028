//! `GET /api/openapi.json`: the REST API described as OpenAPI 3.1, generated from the handlers'
//! `#[utoipa::path]` attributes and the wire types' `ToSchema` derives. The REST modules build
//! their routers with [`OpenApiRouter`], so a route cannot be served without being described
//! (and `server/tests` checks the document against the routes that answer).
//!
//! Errors are always [`ApiError`]; the responses every route shares (malformed input, no or bad
//! token, a cross-site cookie request, rate limits, an internal failure) are written once here.

use std::{collections::BTreeMap, sync::OnceLock};

use app::wire::{auth::RefreshRequest, ApiError, ErrorCode, FieldError};
use axum::{routing::get, Json, Router};
use utoipa::{
    openapi::{
        header::HeaderBuilder,
        response::{Response, ResponseBuilder},
        schema::{ObjectBuilder, Type},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Ref, RefOr, Required,
    },
    IntoParams, IntoResponses, Modify, OpenApi, PartialSchema,
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
    components(schemas(ApiError, ErrorCode, FieldError)),
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
        .merge(crate::chat::routes::api())
        .merge(OpenApiRouter::new().routes(routes!(openapi_json)))
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| api().into_openapi())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(openapi_json))
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

/// A response whose body is an [`ApiError`].
pub fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiError"))).build())
}

fn one(status: u16, response: impl Into<Response>) -> BTreeMap<String, RefOr<Response>> {
    BTreeMap::from([(status.to_string(), RefOr::T(response.into()))])
}

/// 400: the body or query string does not parse (bad JSON, wrong types, a missing field, the
/// wrong content type) or a query value is out of its documented range.
pub struct Malformed;

impl IntoResponses for Malformed {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(
            400,
            error_response("Malformed request: the body or query does not parse or is out of range (`bad_request`)"),
        )
    }
}

/// 401 with `WWW-Authenticate: Bearer`.
pub struct Unauthorized;

impl IntoResponses for Unauthorized {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let challenge = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["Bearer"])))
            .description(Some("Always `Bearer`"))
            .build();
        one(
            401,
            error_response("No access token, or an expired, invalid or revoked one (`unauthorized`)")
                .header("WWW-Authenticate", challenge),
        )
    }
}

/// 403 from the same-origin rule (`security::origin`): only cookie-authenticated requests.
pub struct CrossSite;

impl IntoResponses for CrossSite {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(
            403,
            error_response(
                "A cookie-authenticated request from another site (`forbidden`); Bearer clients never get this",
            ),
        )
    }
}

/// The answers of both code-verifying endpoints: the tokens, or why not.
pub struct CodeVerification;

impl IntoResponses for CodeVerification {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let tokens =
            ResponseBuilder::new().description("Signed in (the tokens also arrive as HttpOnly cookies)").content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("TokenResponse"))).build(),
            );
        let mut all = one(200, tokens);
        all.extend(one(400, error_response("Malformed body, or a wrong, expired or used-up code (`bad_request`)")));
        all.extend(one(422, error_response("Not an email or not 6 digits (`validation_failed`)")));
        all.extend(CrossSite::responses());
        all.extend(RateLimited::responses());
        all.extend(Internal::responses());
        all
    }
}

/// 429 with `Retry-After`.
pub struct RateLimited;

impl IntoResponses for RateLimited {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let retry_after = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
            .description(Some("Seconds until the limit's window ends"))
            .build();
        one(
            429,
            error_response(
                "Too many requests (`rate_limited`); try again after `Retry-After` seconds. The auth routes \
                 count requests per address and wrong codes per email and address (off with \
                 DISABLE_RATE_LIMITS=true); the socket allows a few open sockets per user",
            )
            .header("Retry-After", retry_after),
        )
    }
}

/// 500: the database failed or something unexpected happened (details are only logged).
pub struct Internal;

impl IntoResponses for Internal {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(500, error_response("The database or the server failed (`internal`)"))
    }
}

/// The `{id}` of `/chat/sessions/{id}/...`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct SessionId {
    /// The session's id (unknown, deleted or another user's sessions are a 404).
    #[param(format = Uuid)]
    id: String,
}

/// The `pattern` of texts that must hold more than whitespace (a session title, a goal, a
/// search): one character outside Rust's `char::is_whitespace`, which the handlers trim by.
/// Spelled out because `\S` differs between ECMA-262 (JSON Schema's dialect), Python and Rust.
pub const NOT_BLANK_PATTERN: &str =
    "[^\\x09-\\x0D\\x20\\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
