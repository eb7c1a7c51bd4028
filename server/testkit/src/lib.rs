//! Test doubles that speak real protocols, shared by unit tests, integration tests and
//! demo binaries (so they live in the library, not behind `cfg(test)`).

pub mod fake_llm;
pub mod smtp_sink;

pub use fake_llm::{FakeLlm, RecordedRequest, Script};
