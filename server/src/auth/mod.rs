//! Accounts: sign-up and sign-in by emailed code, access and refresh tokens, the browser's
//! cookies, and the one extractor every protected route uses.

pub mod browser_session;
pub mod client_ip;
pub mod codes;
pub mod cookies;
pub mod domain;
pub mod extract;
pub mod password;
pub mod rate_limit;
pub mod refresh;
pub mod routes;
pub mod signins;
pub mod tokens;

pub use extract::AuthUser;
