//! `/chat/ws` frames and `/chat/sessions` bodies, in the seed's shapes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest message a client may send, in characters.
pub const MAX_MESSAGE_CHARS: usize = 8_000;
/// Longest session title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
use super::error::ErrorCode;

/// The kinds of question the UI offers; anything else is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    #[default]
    General,
    FitnessPlan,
    Nutrition,
    Sleep,
    Recovery,
    MentalHealth,
}

impl MessageType {
    pub const ALL: [MessageType; 6] = [
        MessageType::General,
        MessageType::FitnessPlan,
        MessageType::Nutrition,
        MessageType::Sleep,
        MessageType::Recovery,
        MessageType::MentalHealth,
    ];

    /// The wire name, e.g. `fitness_plan`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::General => "general",
            MessageType::FitnessPlan => "fitness_plan",
            MessageType::Nutrition => "nutrition",
            MessageType::Sleep => "sleep",
            MessageType::Recovery => "recovery",
            MessageType::MentalHealth => "mental_health",
        }
    }

    /// The type with this wire name, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// How a stored turn's answer stands (or ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// The question is stored and its answer is still being written.
    Pending,
    Complete,
    /// The user pressed stop; the partial answer is kept.
    Stopped,
    Failed,
    /// The server stopped (or lost its database) mid-answer.
    Interrupted,
    /// The answer reached the length limit and was cut off there; the user can ask it to continue.
    CutOff,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Complete => "complete",
            MessageStatus::Stopped => "stopped",
            MessageStatus::Failed => "failed",
            MessageStatus::Interrupted => "interrupted",
            MessageStatus::CutOff => "cut_off",
        }
    }
}

/// What a client sends to ask something. The seed's shape: no `type` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendMessage {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// Regenerate or edit: the `message_id` of the session's last turn, which this turn
    /// replaces once its answer completes (the replaced turn is deleted, not kept as a version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// Control frames a client may send, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlFrame {
    /// Stop the answer in flight in `session_id`, or every running answer of this user.
    Stop {
        #[serde(default)]
        session_id: Option<String>,
    },
    /// Replay an answer's deltas after `after_seq` (a reconnecting client).
    Resume { message_id: String, after_seq: u64 },
    /// An application-level keep-alive; answered with `pong`.
    Ping,
    /// A fresh access token for this socket (before the one it opened with expires);
    /// answered with `authenticated`, or an `unauthorized` error frame.
    Auth { token: String },
}

/// Everything a client may send, as the server parses it.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Send(SendMessage),
    Control(ControlFrame),
}

impl ClientFrame {
    /// Frames with a `type` are control frames; frames without one are messages.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if !value.is_object() {
            return Err("a frame must be a JSON object".into());
        }
        if value.get("type").is_some() {
            serde_json::from_value(value).map(ClientFrame::Control).map_err(|e| e.to_string())
        } else {
            serde_json::from_value(value).map(ClientFrame::Send).map_err(|e| e.to_string())
        }
    }

    pub fn to_text(&self) -> String {
        let value = match self {
            ClientFrame::Send(m) => serde_json::to_string(m),
            ClientFrame::Control(c) => serde_json::to_string(c),
        };
        value.unwrap_or_default()
    }
}

/// Everything the server sends, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Connected {
        user_id: String,
    },
    Typing {
        session_id: String,
        message_id: String,
    },
    Delta {
        session_id: String,
        message_id: String,
        seq: u64,
        text: String,
    },
    /// The final frame of a turn, in the seed's shape.
    Response {
        message: String,
        session_id: String,
        user_id: String,
        timestamp: DateTime<Utc>,
        data: ResponseData,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
    },
    SessionCreated {
        session: SessionSummary,
    },
    SessionUpdated {
        session: SessionSummary,
    },
    SessionDeleted {
        session_id: String,
    },
    Pong,
    /// The socket's token was renewed (`auth`); it now stays open until `expires_at`.
    Authenticated {
        expires_at: DateTime<Utc>,
    },
}

impl ServerFrame {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Error { code, message: message.into(), session_id: None, message_id: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseData {
    pub response_time_ms: u64,
    pub message_id: String,
    pub title: String,
    /// How the answer ended: never `pending`.
    pub status: MessageStatus,
    pub raw_events: Vec<RawEvent>,
    /// The guideline entries the answer drew on, numbered as the answer cites them ([1], [2]…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<super::guidance::Source>,
    /// The turn this one replaced (regenerate or edit), deleted now that this answer completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
}

/// How urgent a message is, decided before any model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TriageTier {
    /// A fixed answer with the emergency number; the model is not asked.
    Emergency,
    /// Suicide or self-harm: a fixed answer with the crisis line; the model is not asked.
    Crisis,
    /// A doctor soon: a line saying so, then the coach's general answer.
    Urgent,
    /// Everything else: the coach answers.
    Routine,
}

/// The triage of one message, as stored with its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TriageRecord {
    pub tier: TriageTier,
    /// The rule that decided it (absent for routine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// One agent event, modelled on Google ADK's `Event`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RawEvent {
    pub author: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// True for a streamed piece of the answer.
    #[serde(default)]
    pub partial: bool,
    #[serde(default)]
    pub turn_complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Milliseconds since the turn started (for a partial event, of its first piece).
    pub at_ms: u64,
    /// A partial event holds the streamed pieces (deltas) of up to two seconds, coalesced: how
    /// many, and when the last one came. Absent on events stored before coalescing (one
    /// piece each) and on other events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pieces: Option<u32>,
    /// On the first event of an answer (author `triage`): how the message was sorted before
    /// any model saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<TriageRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// On the event of an answer's retrieval (author `guidance`): the library entries put into
    /// the prompt, best first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidelines: Option<Vec<super::guidance::GuidelineUse>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Content {
    pub role: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Part {
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Usage {
    pub prompt_token_count: u64,
    pub candidates_token_count: u64,
    pub total_token_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Timings {
    pub time_to_first_token_ms: Option<u64>,
    pub total_ms: u64,
    /// Microseconds of the turn (up to this event) not spent waiting for the database or the
    /// model: what the server itself added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_us: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionSummary {
    #[cfg_attr(feature = "ssr", schema(format = Uuid))]
    pub session_id: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub is_active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionPage {
    pub sessions: Vec<SessionSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One stored turn: the user's message and the coach's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MessageView {
    pub message_id: String,
    #[cfg_attr(feature = "ssr", schema(format = Uuid))]
    pub session_id: String,
    pub message: String,
    pub response: String,
    pub message_type: MessageType,
    pub created_at: DateTime<Utc>,
    pub response_time_ms: Option<u64>,
    pub status: MessageStatus,
    /// The guideline entries the answer drew on, numbered as it cites them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<super::guidance::Source>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionDetail {
    pub session: SessionSummary,
    /// Oldest first, the newest page unless `before` was given.
    pub messages: Vec<MessageView>,
    /// Pass as `before` to get older messages; absent when there are none.
    pub next_before: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RenameSession {
    /// Whitespace is collapsed; what is left must be 1 to 120 characters (the pattern: at least
    /// one character that is not Unicode whitespace).
    #[cfg_attr(
        feature = "ssr",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = "[^\\x09-\\x0D\\x20\\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
        )
    )]
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SearchHit {
    #[cfg_attr(feature = "ssr", schema(format = Uuid))]
    pub session_id: String,
    pub title: String,
    /// Present when the hit is in a message rather than the title.
    pub message_id: Option<String>,
    pub snippet: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SearchResults {
    pub query: String,
    pub hits: Vec<SearchHit>,
}

/// What the UI shows about the model behind the coach.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// The embedded offline demo model, labelled as such in the UI.
    pub is_local_demo: bool,
    /// The emergency number and crisis line the UI shows next to its AI disclosure.
    #[serde(default)]
    pub safety: super::safety::SafetyInfo,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_without_type_is_a_message() {
        let f = ClientFrame::parse(r#"{"message":"hi","message_type":"sleep"}"#).unwrap();
        assert_eq!(
            f,
            ClientFrame::Send(SendMessage {
                message: "hi".into(),
                session_id: None,
                message_type: Some("sleep".into()),
                replaces: None,
            })
        );
    }

    #[test]
    fn control_frames_are_tagged() {
        let f = ClientFrame::parse(r#"{"type":"resume","message_id":"m","after_seq":3}"#).unwrap();
        assert_eq!(f, ClientFrame::Control(ControlFrame::Resume { message_id: "m".into(), after_seq: 3 }));
        assert!(ClientFrame::parse(r#"{"type":"dance"}"#).is_err());
        assert!(ClientFrame::parse("[1]").is_err());
        assert!(ClientFrame::parse("nope").is_err());
    }

    #[test]
    fn server_frames_use_the_seed_shape() {
        let v = serde_json::to_value(ServerFrame::Connected { user_id: "u".into() }).unwrap();
        assert_eq!(v, serde_json::json!({"type":"connected","user_id":"u"}));
    }
}
