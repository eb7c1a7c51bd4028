//! Test doubles that speak real protocols: a scripted OpenAI-compatible model, an SMTP
//! sink, and a TCP relay to cut a connection with. Their own crate, a dev-dependency of `server` (its unit and integration tests) and
//! a dependency of `devtools` (the `stubs` and `loadgen` binaries), so the production
//! `server` binary contains none of them.

pub mod fake_llm;
pub mod smtp_sink;
pub mod tcp_relay;

pub use fake_llm::{FakeLlm, RecordedRequest, Script};
pub use tcp_relay::TcpRelay;
