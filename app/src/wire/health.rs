//! `GET /health`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// `healthy`, or `degraded` when the database does not answer.
    pub status: String,
    pub agent: String,
    pub version: String,
    /// `ok` or `unreachable`.
    pub database: String,
}
