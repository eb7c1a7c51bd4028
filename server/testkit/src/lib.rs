//! Test doubles that speak real protocols: a scripted OpenAI-compatible model and an SMTP
//! sink. Their own crate, a dev-dependency of `server` (its unit and integration tests) and
//! a dependency of `devtools` (the `stubs` and `loadgen` binaries), so the production
//! `server` binary contains none of them.

pub mod fake_llm;
pub mod smtp_sink;

pub use fake_llm::{FakeLlm, RecordedRequest, Script};
