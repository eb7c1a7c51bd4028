//! Bodies of the `/auth/*` and `/users/me` endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigninRequest {
    pub email: String,
    pub password: String,
}

/// Body of `verify-email` and `verify-signin`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyCodeRequest {
    pub email: String,
    pub code: String,
}

/// Body of `resend-code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResendCodeRequest {
    pub email: String,
    /// `signup` or `signin`.
    pub purpose: String,
}

/// The answer to any request that (may have) emailed a code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeSent {
    pub message: String,
    pub email: String,
    /// Seconds the code stays valid.
    pub expires_in: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// For API clients; the browser gets the same value in an HttpOnly cookie.
    pub refresh_token: String,
    pub user: UserView,
}

/// Body of `refresh` and `signout`; browsers send the cookie instead.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RefreshRequest {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageResponse {
    pub message: String,
}
