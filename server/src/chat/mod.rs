//! Live chat: sessions and messages in MongoDB, the `/chat/ws` socket, REST routes, and the
//! answers in flight.
//!
//! Layout (who calls whom, never back): `ws` and `routes` → `service` (sessions, starting a
//! turn) → `answer` (run the model, store the answer, title) → `turns` (registry of answers
//! in flight), `answer_writer` and `repo` (MongoDB).

pub mod answer;
pub mod answer_writer;
pub mod events;
pub mod export;
pub mod hub;
pub mod limits;
pub mod recent;
pub mod repo;
pub mod routes;
pub mod service;
pub mod title;
pub mod turns;
pub mod ws;
