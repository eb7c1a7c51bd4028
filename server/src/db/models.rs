//! The documents as stored, with the seed's field names. Only the server sees these; the
//! browser gets the `app::wire` views built from them.

use app::wire::{
    chat::{MessageStatus, MessageType, RawEvent},
    memory::MemoryKind,
    profile::Profile,
};
use mongodb::bson::{oid::ObjectId, DateTime};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Lower-cased and trimmed; unique.
    pub email: String,
    /// An argon2 PHC string.
    pub password_hash: String,
    pub name: Option<String>,
    pub email_verified: bool,
    #[serde(default)]
    pub profile: Profile,
    pub created_at: DateTime,
}

/// The user's turn while the coach answers. Kept on the session (one at a time, bounded
/// size) so that saving the question and touching the session are one write. It is also
/// the session's claim: while its lease runs and its answer is not stored, the session is
/// busy on every instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingTurn {
    pub message_id: String,
    pub message: String,
    pub message_type: MessageType,
    pub user_profile: Profile,
    pub created_at: DateTime,
    /// The instance answering (for logs and takeovers).
    #[serde(default)]
    pub owner: String,
    /// Until when the owner is known to be alive; renewed by each checkpoint. A turn stored
    /// before leases existed has none: long lapsed, so an unanswered one is taken over.
    #[serde(default = "lapsed_long_ago")]
    pub lease_until: DateTime,
    /// The answer so far, as last checkpointed, and where each delta ended in it (so a
    /// follower on another instance replays it with the same `seq` numbers).
    #[serde(default)]
    pub partial: String,
    #[serde(default)]
    pub delta_ends: Vec<i64>,
    /// Set when the user pressed stop on an instance other than the owner; the owner's next
    /// checkpoint sees it and stops the answer.
    #[serde(default)]
    pub stop: bool,
}

fn lapsed_long_ago() -> DateTime {
    DateTime::from_millis(0)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionDoc {
    pub user_id: String,
    pub session_id: String,
    pub title: String,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    pub is_active: bool,
    /// True once a model-made title replaced the first-message title.
    #[serde(default)]
    pub title_generated: bool,
    #[serde(default)]
    pub pending: Option<PendingTurn>,
    /// The `seq` of the newest turn. Incremented by each turn's first write, so message
    /// pages are index ranges, whatever the session's length.
    #[serde(default)]
    pub last_seq: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageContext {
    #[serde(default)]
    pub user_profile: Profile,
    /// Left out by queries that do not need it (history for the model).
    #[serde(default)]
    pub raw_events: Vec<RawEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageDoc {
    /// The message id (a uuid), also used by `resume`.
    #[serde(rename = "_id")]
    pub id: String,
    pub session_id: String,
    pub user_id: String,
    /// Position in the session, from 1 (the session's `last_seq` when the turn began).
    #[serde(default)]
    pub seq: i64,
    pub message: String,
    pub response: String,
    pub message_type: MessageType,
    pub context: MessageContext,
    pub created_at: DateTime,
    pub response_time_ms: u64,
    /// `complete`, `stopped`, `failed` or `interrupted`.
    pub status: MessageStatus,
    /// The ids of the guideline entries the answer drew on, in the order it cites them
    /// (absent before the library). Ids, not the sources: pages show them from the library,
    /// which keeps a stored answer within twice its text plus 2 KB.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ids: Vec<String>,
}

/// A stored message without its context: what pages, exports, search and the model's
/// history read. Loading only these fields (an inclusion projection) keeps the raw events
/// off the wire and, on SecantusDB, out of the per-document copy each read makes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageRow {
    #[serde(rename = "_id")]
    pub id: String,
    pub session_id: String,
    #[serde(default)]
    pub seq: i64,
    pub message: String,
    pub response: String,
    pub message_type: MessageType,
    pub created_at: DateTime,
    pub response_time_ms: u64,
    pub status: MessageStatus,
    #[serde(default)]
    pub source_ids: Vec<String>,
}

impl MessageRow {
    /// The projection that loads exactly these fields.
    pub fn projection() -> mongodb::bson::Document {
        mongodb::bson::doc! {
            "_id": 1, "session_id": 1, "seq": 1, "message": 1, "response": 1, "message_type": 1,
            "created_at": 1, "response_time_ms": 1, "status": 1, "source_ids": 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthCodeDoc {
    pub email: String,
    /// `signup` or `signin`.
    pub purpose: String,
    /// SHA-256 of the code: the code itself is never stored.
    pub code_hash: String,
    pub attempts: u32,
    pub sent_at: DateTime,
    pub expires_at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshTokenDoc {
    /// SHA-256 of the token.
    #[serde(rename = "_id")]
    pub token_hash: String,
    pub user_id: String,
    /// Every rotation of one sign-in shares a family; reuse of a used token revokes it.
    pub family_id: String,
    pub used: bool,
    /// When it was exchanged; a reuse just after (a double submit) is refused without
    /// revoking the family.
    #[serde(default)]
    pub used_at: Option<DateTime>,
    pub revoked: bool,
    pub created_at: DateTime,
    pub expires_at: DateTime,
}

/// One sign-in (one device or client): every access token and refresh token it gets names
/// it, so ending it ends them all at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigninDoc {
    /// The sign-in id (`sid` in tokens; the refresh tokens' `family_id`).
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub created_at: DateTime,
    /// The absolute end, however often it refreshes (`SIGNIN_MAX_DAYS`).
    pub expires_at: DateTime,
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimitDoc {
    /// `scope:key:window_start`.
    #[serde(rename = "_id")]
    pub id: String,
    pub count: u32,
    pub expires_at: DateTime,
}

/// One remembered fact (`memories`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryDoc {
    /// A uuid.
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub kind: MemoryKind,
    pub text: String,
    /// `extract::normalise(text)`: the same fact is not kept twice.
    pub words: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_session_id: Option<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

/// A fact the person deleted (`forgotten_memories`): only a hash of its words, so it is not
/// learned again, without keeping what it said.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForgottenDoc {
    /// `user_id:sha256(words)`.
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
}
