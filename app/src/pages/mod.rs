//! One module per page of the app.

pub mod auth;
pub mod chat;
pub mod home;
pub mod memories;
pub mod not_found;
pub mod profile;
pub mod your_data;
