//! Live chat: the `/chat/ws` socket.

pub mod ws;
