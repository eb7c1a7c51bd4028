//! The health-coach server: configuration, the embedded database, HTTP routes, the chat
//! socket and everything behind them.

pub mod chat;
pub mod config;
pub mod db;
pub mod error;
pub mod health;
pub mod startup;
pub mod state;
pub mod telemetry;
