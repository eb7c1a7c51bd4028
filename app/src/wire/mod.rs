//! Types that cross the wire (REST bodies, WebSocket frames, server-function results),
//! defined once and compiled for both the server and the browser.

pub mod account;
pub mod auth;
pub mod chat;
pub mod error;
pub mod guidance;
pub mod health;
pub mod memory;
pub mod profile;
pub mod safety;

pub use error::{ApiError, ErrorCode, FieldError};
