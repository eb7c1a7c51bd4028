#![recursion_limit = "512"]
//! The health-coach server: configuration, the embedded database, HTTP routes, the chat
//! socket and everything behind them.

pub mod agent;
pub mod assets;
pub mod auth;
pub mod backend;
pub mod chat;
pub mod config;
pub mod db;
pub mod download;
pub mod error;
pub mod health;
pub mod mail;
pub mod memory;
pub mod metrics;
pub mod openapi;
pub mod security;
pub mod server_fn_status;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod users;
