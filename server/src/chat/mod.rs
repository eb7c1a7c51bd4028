//! Live chat: sessions and messages in MongoDB, the `/chat/ws` socket, REST routes, and the
//! answers in flight.
//!
//! Layout (who calls whom, never back): `ws` and `routes` → `service` (sessions, starting a
//! turn) → `claim` (one answer per session across instances) and `answer` (run the model,
//! store the answer, title) → `turns` (registry of answers in flight), `claim_writer` and
//! `answer_writer` (writes 1 and 2, grouped) and `repo` (MongoDB). Beside them, one task
//! each: `events` (session changes from the change stream), `checkpoints` (partial answers
//! and leases), `takeover` (turns of dead instances), `backlog` (answers waiting for the
//! database); `remote` replays an answer running on another instance.

pub mod answer;
pub mod answer_writer;
pub mod backlog;
pub mod checkpoints;
pub mod claim;
pub mod claim_writer;
pub mod events;
pub mod export;
pub mod hub;
pub mod limits;
pub mod recent;
pub mod remote;
pub mod repo;
pub mod routes;
pub mod service;
pub mod socket_writer;
pub mod takeover;
pub mod title;
pub mod turns;
pub mod ws;
