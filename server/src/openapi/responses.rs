//! The OpenAPI responses and parameters every route module shares: malformed input, no or
//! bad token, a cross-site cookie request, rate limits, an internal failure, the code
//! verification answers, the session id, and the "not blank" text pattern. A leaf module.

use std::collections::BTreeMap;

use utoipa::{
    openapi::{
        header::HeaderBuilder,
        response::{Response, ResponseBuilder},
        schema::{ObjectBuilder, Type},
        ContentBuilder, Ref, RefOr,
    },
    IntoParams, IntoResponses,
};

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

/// `Retry-After`: whole seconds to wait.
fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
        .description(Some("Seconds to wait before trying again"))
        .build()
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
        auth_answers(
            "TokenResponse",
            "Signed in (the tokens also arrive as HttpOnly cookies)",
            "Malformed body, or a wrong, expired or used-up code (`bad_request`)",
            "Not an email or not 6 digits (`validation_failed`)",
        )
    }
}

/// 429 with `Retry-After`.
pub struct RateLimited;

impl IntoResponses for RateLimited {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(
            429,
            error_response(
                "Too many requests (`rate_limited`); try again after `Retry-After` seconds. The auth routes \
                 count requests per address and wrong codes per email and address (off with \
                 DISABLE_RATE_LIMITS=true); the socket allows a few open sockets per user",
            )
            .header("Retry-After", retry_after()),
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

/// 503 with `Retry-After`: too busy right now (passwords being hashed, a slow search).
pub struct Overloaded;

impl IntoResponses for Overloaded {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(
            503,
            error_response("Too busy right now (`unavailable`); `Retry-After` says when to try again")
                .header("Retry-After", retry_after()),
        )
    }
}

/// The answers of the endpoints that may mail a code (sign-up, sign-in, resend): the same
/// 200 whatever the account's state, so they cannot tell who has an account.
pub struct CodeMailed;

impl IntoResponses for CodeMailed {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        auth_answers(
            "CodeSent",
            "A code was mailed if one was due; the same answer for every email and account state",
            "Malformed body (`bad_request`), or an address the mailer cannot use",
            "A field breaks its rule (`validation_failed`, each in `fields`)",
        )
    }
}

/// What an unauthenticated `/auth/*` form endpoint answers: `schema` on success, or a
/// malformed body, a broken rule, a cross-site cookie request, a rate limit, a failure.
fn auth_answers(schema: &str, ok: &str, malformed: &str, invalid: &str) -> BTreeMap<String, RefOr<Response>> {
    let body = ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
    let mut all = one(200, ResponseBuilder::new().description(ok).content("application/json", body));
    all.extend(one(400, error_response(malformed)));
    all.extend(one(422, error_response(invalid)));
    all.extend(CrossSite::responses());
    all.extend(RateLimited::responses());
    all.extend(Internal::responses());
    all
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
