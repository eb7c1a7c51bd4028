//! What the coach remembers about a person across chats: facts they stated (injuries,
//! conditions, goals, preferences, schedule), listed on the profile page, where each can be
//! edited or deleted (`/users/me/memories`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest remembered fact, in characters.
pub const MAX_MEMORY_CHARS: usize = 300;
/// Facts kept per person at most.
pub const MAX_MEMORIES: usize = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    Injury,
    Condition,
    Goal,
    Preference,
    Schedule,
    #[default]
    Other,
}

impl MemoryKind {
    pub const ALL: [MemoryKind; 6] = [
        MemoryKind::Injury,
        MemoryKind::Condition,
        MemoryKind::Goal,
        MemoryKind::Preference,
        MemoryKind::Schedule,
        MemoryKind::Other,
    ];

    /// The wire name, e.g. `injury`.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryKind::Injury => "injury",
            MemoryKind::Condition => "condition",
            MemoryKind::Goal => "goal",
            MemoryKind::Preference => "preference",
            MemoryKind::Schedule => "schedule",
            MemoryKind::Other => "other",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// How the profile page labels it.
    pub fn label(self) -> &'static str {
        match self {
            MemoryKind::Injury => "Injury",
            MemoryKind::Condition => "Condition",
            MemoryKind::Goal => "Goal",
            MemoryKind::Preference => "Preference",
            MemoryKind::Schedule => "Schedule",
            MemoryKind::Other => "Other",
        }
    }
}

/// One remembered fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Memory {
    #[cfg_attr(feature = "ssr", schema(format = Uuid))]
    pub memory_id: String,
    pub kind: MemoryKind,
    pub text: String,
    /// The chat it was learned from; absent for facts the person added themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_session_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /users/me/memories` and `PUT /users/me/memories/{memory_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemoryInput {
    #[serde(default)]
    pub kind: MemoryKind,
    /// Whitespace is collapsed; what is left must be 1 to 300 characters (the pattern: at
    /// least one character that is not Unicode whitespace).
    #[cfg_attr(
        feature = "ssr",
        schema(
            min_length = 1,
            max_length = 300,
            pattern = "[^\\x09-\\x0D\\x20\\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
        )
    )]
    pub text: String,
}

/// `GET /users/me/memories`: oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemoryList {
    pub memories: Vec<Memory>,
}
