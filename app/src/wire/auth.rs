//! Bodies of the `/auth/*` and `/users/me` endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignupRequest {
    #[cfg_attr(feature = "ssr", schema(format = Email, max_length = 254))]
    pub email: String,
    #[cfg_attr(feature = "ssr", schema(min_length = 8, max_length = 128))]
    pub password: String,
    /// Trimmed; blank means none.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_length = 80, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"))]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SigninRequest {
    #[cfg_attr(feature = "ssr", schema(format = Email, max_length = 254))]
    pub email: String,
    /// At most 512 bytes as UTF-8 (account passwords are 8 to 128 characters).
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 512))]
    pub password: String,
}

/// Body of `verify-email` and `verify-signin`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VerifyCodeRequest {
    #[cfg_attr(feature = "ssr", schema(format = Email, max_length = 254))]
    pub email: String,
    /// The six digits from the email (spaces allowed).
    #[cfg_attr(feature = "ssr", schema(pattern = "^ *([0-9] *){6}$"))]
    pub code: String,
}

/// Body of `resend-code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ResendCodeRequest {
    #[cfg_attr(feature = "ssr", schema(format = Email, max_length = 254))]
    pub email: String,
    /// `signup` or `signin`.
    #[cfg_attr(feature = "ssr", schema(schema_with = purpose_schema))]
    pub purpose: String,
}

/// The answer to any request that (may have) emailed a code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CodeSent {
    pub message: String,
    pub email: String,
    /// Seconds the code stays valid.
    pub expires_in: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    #[cfg_attr(feature = "ssr", schema(schema_with = bearer_schema))]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// For API clients; the browser gets the same value in an HttpOnly cookie.
    pub refresh_token: String,
    pub user: UserView,
}

/// Body of `refresh` and `signout`; browsers send the cookie instead.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MessageResponse {
    pub message: String,
}

/// `purpose` of a resend: one of two words.
#[cfg(feature = "ssr")]
fn purpose_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["signup", "signin"]))
        .description(Some("`signup` or `signin`."))
        .build()
}

#[cfg(feature = "ssr")]
fn bearer_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["bearer"]))
        .description(Some("Always `bearer`."))
        .build()
}
