//! Integration tests: the real server on port 0, a real SecantusDB over the wire (a fresh
//! database per test), a real SMTP listener and a scripted OpenAI-compatible model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod account;
mod answer_writer;
mod answers_across_instances;
mod auth;
mod chat_limits;
mod chat_rest;
mod chat_ws;
mod claim_writer;
mod coach;
mod database;
mod enumeration;
mod foundation;
mod instances;
mod isolation;
mod openapi;
mod operations;
mod security;
mod signins;
mod triage;
