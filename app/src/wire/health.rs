//! `GET /health`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Health {
    /// `healthy`, or `degraded` when the database does not answer.
    #[cfg_attr(feature = "ssr", schema(schema_with = status_schema))]
    pub status: String,
    pub agent: String,
    pub version: String,
    /// `ok` or `unreachable`.
    #[cfg_attr(feature = "ssr", schema(schema_with = database_schema))]
    pub database: String,
}

#[cfg(feature = "ssr")]
fn words(words: [&str; 2], description: &str) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(words))
        .description(Some(description))
        .build()
}

#[cfg(feature = "ssr")]
fn status_schema() -> utoipa::openapi::Object {
    words(["healthy", "degraded"], "`healthy`, or `degraded` when the database does not answer.")
}

#[cfg(feature = "ssr")]
fn database_schema() -> utoipa::openapi::Object {
    words(["ok", "unreachable"], "`ok` or `unreachable`.")
}
