//! Health-data rights: everything stored about a person (`GET /users/me/export`) and the
//! confirmation that deletes all of it (`DELETE /users/me`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    auth::UserView,
    chat::{MessageView, RawEvent, SessionSummary},
    memory::Memory,
    profile::Profile,
};

/// Body of `DELETE /users/me` (and the profile page's delete form).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeleteAccount {
    /// The account's password, typed again.
    pub password: String,
}

/// One sign-in (a device or client), as the export lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SigninView {
    pub signin_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// One stored turn with everything kept about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExportedMessage {
    #[serde(flatten)]
    pub message: MessageView,
    /// The profile the coach saw for this turn.
    pub user_profile: Profile,
    pub raw_events: Vec<RawEvent>,
}

/// `GET /users/me/export`: all of a person's data, deleted chats included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccountExport {
    pub exported_at: DateTime<Utc>,
    pub user: UserView,
    pub profile: Profile,
    pub signins: Vec<SigninView>,
    /// What the coach remembers across chats.
    #[serde(default)]
    pub memories: Vec<Memory>,
    /// Every session, `is_active: false` for deleted ones.
    pub sessions: Vec<SessionSummary>,
    /// Oldest first; streamed, so an export of any size costs the server little memory.
    pub messages: Vec<ExportedMessage>,
}
