//! Chat operations shared by the socket, the REST routes and the server functions. Every
//! function takes the caller's user id and only ever touches that user's documents.

use std::{sync::Arc, time::Instant};

use app::wire::{
    chat::{
        MessageType, SearchHit, SearchResults, SendMessage, ServerFrame, SessionDetail, SessionPage, SessionSummary,
        MAX_MESSAGE_CHARS,
    },
    ApiError, ErrorCode,
};
use mongodb::bson::{doc, DateTime};

use crate::{
    agent::{AgentRequest, PastTurn},
    chat::{
        answer::{self, TurnInput},
        claim::{self, ClaimError},
        limits::Action,
        recent::Recent,
        repo,
        title::{auto_title, parse_title},
        turns::{BeginError, CancelReason, Turn},
    },
    db::models::{MessageRow, PendingTurn, SessionDoc},
    error::{AppError, AppResult},
    memory::cache::Generation,
    state::AppState,
};

/// How many earlier exchanges go to the model (it trims further to its token budget).
pub const HISTORY_TURNS: i64 = 12;

/// A refusal of a sent message, as a socket error frame.
#[derive(Debug)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub session_id: Option<String>,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>, session_id: Option<&str>) -> Self {
        Refusal { code, message: message.into(), session_id: session_id.map(str::to_string) }
    }

    pub fn into_frame(self) -> ServerFrame {
        ServerFrame::Error { code: self.code, message: self.message, session_id: self.session_id, message_id: None }
    }
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        let api = ApiError::from(e);
        let code = match api.error {
            ErrorCode::NotFound => ErrorCode::SessionNotFound,
            ErrorCode::BadRequest => ErrorCode::InvalidFrame,
            code => code,
        };
        Refusal { code, message: api.message, session_id: None }
    }
}

/// Validates a message, saves the question (write 1), tells the user's sockets, and starts
/// the answer. Returns the running turn for the caller to follow.
pub async fn start_turn(state: &AppState, user_id: &str, send: SendMessage) -> Result<Arc<Turn>, Refusal> {
    let started = Instant::now();
    let text = send.message.trim().to_string();
    let sid = send.session_id.as_deref();
    if text.is_empty() {
        return Err(Refusal::new(ErrorCode::EmptyMessage, "The message is empty.", sid));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(Refusal::new(
            ErrorCode::MessageTooLong,
            format!("Messages are limited to {MAX_MESSAGE_CHARS} characters."),
            sid,
        ));
    }
    let message_type = match send.message_type.as_deref() {
        None => MessageType::General,
        Some(name) => MessageType::parse(name).ok_or_else(|| {
            let names: Vec<&str> = MessageType::ALL.iter().map(|t| t.as_str()).collect();
            Refusal::new(
                ErrorCode::InvalidMessageType,
                format!("message_type must be one of: {}.", names.join(", ")),
                sid,
            )
        })?,
    };
    if let Some(id) = sid {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(Refusal::new(ErrorCode::SessionNotFound, "No such chat session.", sid));
        }
    }
    let limits = state.config.chat_limits;
    if let Some(max) = limits.map(|l| l.messages_per_minute) {
        state.windows.take(user_id, Action::Message, max).map_err(|wait| {
            let message =
                format!("You have sent {max} messages in the last minute; try again in {} s.", wait.as_secs().max(1));
            Refusal::new(ErrorCode::RateLimited, message, sid)
        })?;
    }
    // After the rate limit: checking costs two reads.
    let replaces = match (send.replaces.as_deref(), sid) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Refusal::new(ErrorCode::InvalidFrame, "`replaces` needs the `session_id` of its chat.", None))
        }
        (Some(old), Some(session_id)) => Some(replaceable(state, user_id, session_id, old).await?),
    };

    let db_started = Instant::now();
    let profile = state.profiles.get(&state.db, user_id).await?;
    let message_id = uuid::Uuid::new_v4().to_string();
    let session_id = sid.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    let max_running = limits.map(|l| l.concurrent_answers);
    let turn = state.turns.begin(&message_id, &session_id, user_id, max_running).map_err(|e| match e {
        BeginError::Busy => busy(sid),
        BeginError::NotYours => Refusal::new(ErrorCode::SessionNotFound, "No such chat session.", sid),
        BeginError::TooMany => Refusal::new(
            ErrorCode::RateLimited,
            "The coach is already answering you in other chats; wait for one to finish.",
            sid,
        ),
    })?;
    let now = DateTime::now();
    let pending = PendingTurn {
        message_id: message_id.clone(),
        message: text.clone(),
        message_type,
        user_profile: profile.clone(),
        created_at: now,
        owner: state.instance.to_string(),
        lease_until: claim::lease_from_now(),
        partial: String::new(),
        delta_ends: Vec::new(),
        stop: false,
    };

    // Write 1: the question is stored before the model is asked. The person's remembered
    // facts are read meanwhile.
    let begin = async {
        match sid {
            Some(id) => begin_existing(state, user_id, id, &pending, replaces.as_deref()).await,
            None => {
                let session = SessionDoc {
                    user_id: user_id.into(),
                    session_id: session_id.clone(),
                    title: auto_title(&text),
                    created_at: now,
                    updated_at: now,
                    is_active: true,
                    title_generated: false,
                    pending: Some(pending.clone()),
                    last_seq: 1,
                };
                repo::create_session_with_pending(&state.db, &session).await.map_err(ClaimError::Db).map(|()| {
                    let recent =
                        Recent { title: session.title, created_at: now, last_seq: 1, exchanges: Default::default() };
                    state.recent.put(user_id, &session_id, recent.clone());
                    recent
                })
            }
        }
    };
    // Kept facts count only once the turn's event comes back, which needs a socket here;
    // without one they are read alongside the claim rather than after it.
    let kept = state.memories.get(user_id).is_some() && state.hub.sockets(user_id) > 0;
    let read_from = state.memories.generation(user_id);
    let read = async {
        match kept {
            true => None,
            false => Some(crate::memory::for_prompt(&state.db, user_id).await),
        }
    };
    let (begun, read) = tokio::join!(begin, read);
    let db_wait = db_started.elapsed();
    let recent = match begun {
        Ok(recent) => recent,
        Err(e) => {
            // Nothing was stored: release the session and refuse.
            state.turns.abandon(&turn);
            return Err(match e {
                ClaimError::NotFound => Refusal::new(ErrorCode::SessionNotFound, "No such chat session.", sid),
                ClaimError::Busy => busy(sid),
                ClaimError::Db(e) => Refusal { session_id: Some(session_id), ..Refusal::from(e) },
            });
        }
    };

    // `session_created`/`_updated` reach every socket through the change stream
    // (`chat::events`); wait (briefly) for it, so this socket has it before the answer's
    // first frame. That wait is a wait for the database.
    let echo = state.hub.wait_for_event(user_id, &session_id, recent.last_seq).await;
    let db_wait = db_wait + echo.waited;
    let memory = remembered_facts(state, user_id, read, read_from, echo.seen).await;

    let request = AgentRequest {
        profile,
        history: recent.exchanges.into(),
        message: text,
        message_type,
        answer_tokens: state.config.max_answer_tokens,
        memory,
        guidance: Vec::new(),
    };
    let input = TurnInput { pending, seq: recent.last_seq, db_wait, title: recent.title, started, replaces };
    tokio::spawn(answer::run(state.clone(), turn.clone(), request, input));
    Ok(turn)
}

/// The facts this turn's prompt quotes: as read with write 1, or as kept if the turn's own
/// session event came back (so every change to them made before it has been handled; see
/// `memory::cache`), else read now. A read that fails answers without them.
async fn remembered_facts(
    state: &AppState,
    user_id: &str,
    read: Option<AppResult<Vec<String>>>,
    read_from: Generation,
    echo_seen: bool,
) -> Vec<String> {
    let (read, read_from) = match read {
        Some(read) => (read, read_from),
        None => {
            if let Some(kept) = state.memories.get(user_id).filter(|_| echo_seen) {
                return kept.to_vec();
            }
            let read_from = state.memories.generation(user_id);
            (crate::memory::for_prompt(&state.db, user_id).await, read_from)
        }
    };
    match read {
        Ok(facts) => {
            state.memories.keep(user_id, read_from, &facts);
            facts
        }
        Err(e) => {
            tracing::warn!(error = ?e, "could not read the remembered facts; answering without them");
            Vec::new()
        }
    }
}

/// The turn a regenerate or edit replaces: this user's, in this chat, and its last.
async fn replaceable(state: &AppState, user_id: &str, session_id: &str, message_id: &str) -> Result<String, Refusal> {
    let not_found = || Refusal::new(ErrorCode::MessageNotFound, "No such message in this chat.", Some(session_id));
    if uuid::Uuid::parse_str(message_id).is_err() {
        return Err(not_found());
    }
    match repo::is_last_turn(&state.db, user_id, session_id, message_id).await {
        Ok(true) => Ok(message_id.to_string()),
        Ok(false) => Err(Refusal::new(
            ErrorCode::InvalidFrame,
            "Only the last question of a chat can be regenerated or edited.",
            Some(session_id),
        )),
        Err(AppError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(Refusal { session_id: Some(session_id.to_string()), ..Refusal::from(e) }),
    }
}

fn busy(session_id: Option<&str>) -> Refusal {
    Refusal::new(ErrorCode::Busy, "The coach is still answering in this chat; wait or stop it.", session_id)
}

/// Write 1 in an existing session (its claim), and what the turn needs from the session:
/// from memory when this server ran the session's previous turn, else from the database.
/// A turn that `replaces` another reads its history from the database without that turn.
async fn begin_existing(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    pending: &PendingTurn,
    replaces: Option<&str>,
) -> Result<Recent, ClaimError> {
    if let Some(mut recent) = state.recent.get(user_id, session_id).filter(|_| replaces.is_none()) {
        // This server stored the session's last turn, so the session is free unless another
        // turn began since: the `seq` condition tells. The entry moves first: this turn's own
        // change event can come back before the write's reply, and must not look like
        // another instance's turn (`RecentCache::seen_seq`).
        let claimed_from = recent.last_seq;
        recent.last_seq += 1;
        state.recent.begun(session_id, recent.last_seq);
        let claimed = state.claims.advance(user_id, session_id, claimed_from, pending).await;
        if matches!(claimed, Ok(true)) {
            return Ok(recent);
        }
        state.recent.forget(session_id);
        claimed.map_err(AppError::from)?;
    }
    let session = claim::claim(state, user_id, session_id, pending).await?;
    let mut recent = Recent {
        title: session.title,
        created_at: session.created_at,
        last_seq: session.last_seq,
        exchanges: Default::default(),
    };
    if session.last_seq > 1 {
        match repo::recent_messages(&state.db, user_id, session_id, session.last_seq, HISTORY_TURNS).await {
            Ok(rows) => {
                recent.exchanges = rows
                    .into_iter()
                    .filter(|m| Some(m.id.as_str()) != replaces)
                    .map(|m| PastTurn { user: m.message.into(), assistant: m.response.into() })
                    .collect();
                if replaces.is_none() {
                    state.recent.put(user_id, session_id, recent.clone());
                }
            }
            // The question is stored; answer it without the earlier context rather than not at all.
            Err(e) => tracing::warn!(error = ?e, "could not read the history; answering without it"),
        }
    } else {
        state.recent.put(user_id, session_id, recent.clone());
    }
    Ok(recent)
}

pub async fn list_sessions(
    state: &AppState,
    user_id: &str,
    cursor: Option<&str>,
    limit: u32,
) -> AppResult<SessionPage> {
    let (sessions, next_cursor) = repo::list_sessions(&state.db, user_id, cursor, limit).await?;
    Ok(SessionPage { sessions: sessions.iter().map(repo::summary).collect(), next_cursor })
}

fn parse_session_id(session_id: &str) -> AppResult<()> {
    uuid::Uuid::parse_str(session_id).map(|_| ()).map_err(|_| AppError::NotFound("No such chat session.".into()))
}

pub async fn session_detail(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    before: Option<&str>,
    limit: u32,
) -> AppResult<SessionDetail> {
    parse_session_id(session_id)?;
    let session = repo::active_session(&state.db, user_id, session_id).await?;
    let (messages, next_before) = repo::messages_page(&state.db, &state.library, &session, before, limit).await?;
    Ok(SessionDetail { session: repo::summary(&session), messages, next_before })
}

pub async fn rename(state: &AppState, user_id: &str, session_id: &str, title: &str) -> AppResult<SessionSummary> {
    parse_session_id(session_id)?;
    let title = parse_title(title)?;
    let session =
        repo::update_session(&state.db, user_id, session_id, true, doc! { "title": &title, "title_generated": true })
            .await?;
    state.recent.forget(session_id);
    // The sockets hear of it through the change stream (`chat::events`).
    Ok(repo::summary(&session))
}

/// Soft delete: the session and its messages stay stored and can be restored.
pub async fn delete(state: &AppState, user_id: &str, session_id: &str) -> AppResult<()> {
    parse_session_id(session_id)?;
    repo::update_session(&state.db, user_id, session_id, true, doc! { "is_active": false }).await?;
    state.recent.forget(session_id);
    for turn in state.turns.running(user_id, Some(session_id)) {
        turn.cancel(CancelReason::Stopped);
    }
    Ok(())
}

pub async fn restore(state: &AppState, user_id: &str, session_id: &str) -> AppResult<SessionSummary> {
    parse_session_id(session_id)?;
    let session = repo::update_session(&state.db, user_id, session_id, false, doc! { "is_active": true }).await?;
    Ok(repo::summary(&session))
}

pub async fn search(state: &AppState, user_id: &str, query: &str) -> AppResult<SearchResults> {
    let query = query.trim();
    if query.is_empty() || query.chars().count() > 200 {
        return Err(AppError::BadRequest("The search needs 1 to 200 characters.".into()));
    }
    // A regex scan of a long history is the one unbounded read a user can ask for: cap it.
    let (sessions, messages) = tokio::time::timeout(repo::SEARCH_TIME, repo::search(&state.db, user_id, query, 20))
        .await
        .map_err(|_| AppError::Overloaded {
            message: "The search took too long; try more specific words.".into(),
            retry_after_secs: 5,
        })??;
    let mut hits: Vec<SearchHit> = sessions
        .iter()
        .map(|s| SearchHit {
            session_id: s.session_id.clone(),
            title: s.title.clone(),
            message_id: None,
            snippet: s.title.clone(),
            created_at: s.updated_at.to_chrono(),
        })
        .collect();
    hits.extend(messages.iter().map(|(m, title)| SearchHit {
        session_id: m.session_id.clone(),
        title: title.clone(),
        message_id: Some(m.id.clone()),
        snippet: snippet(
            if m.message.to_lowercase().contains(&query.to_lowercase()) { &m.message } else { &m.response },
            query,
        ),
        created_at: m.created_at.to_chrono(),
    }));
    Ok(SearchResults { query: query.into(), hits })
}

/// Up to ~160 characters around the first match.
fn snippet(text: &str, query: &str) -> String {
    let lower = text.to_lowercase();
    let at = lower.find(&query.to_lowercase()).unwrap_or(0);
    let chars: Vec<char> = text.chars().collect();
    // `lower` may differ in byte length from `text`; fall back to the start if so.
    let at_char = text.get(..at).map_or(0, |p| p.chars().count());
    let start = at_char.saturating_sub(60);
    let end = (at_char + 100).min(chars.len());
    let mut s: String = chars[start..end].iter().collect();
    if start > 0 {
        s.insert(0, '…');
    }
    if end < chars.len() {
        s.push('…');
    }
    s
}

pub async fn export(
    state: &AppState,
    user_id: &str,
    session_id: &str,
) -> AppResult<(SessionDoc, mongodb::Cursor<MessageRow>)> {
    parse_session_id(session_id)?;
    let session = repo::active_session(&state.db, user_id, session_id).await?;
    let messages = repo::all_messages(&state.db, &session).await?;
    Ok((session, messages))
}
