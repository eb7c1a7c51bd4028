//! Defences every response and request passes through: security headers with a per-request
//! CSP nonce, and the same-origin rule for cookie-authenticated requests that change state.

pub mod headers;
pub mod origin;
