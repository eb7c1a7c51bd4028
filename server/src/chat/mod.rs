//! Live chat: sessions and messages in MongoDB, the `/chat/ws` socket, REST routes, and the
//! answers in flight.

pub mod answer_writer;
pub mod export;
pub mod hub;
pub mod recent;
pub mod repo;
pub mod routes;
pub mod service;
pub mod title;
pub mod turns;
pub mod ws;
