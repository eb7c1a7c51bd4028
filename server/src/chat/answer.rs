//! Answering a turn: runs the model, streams its frames through the turn, stores the
//! finished exchange (write 2 of the turn) however it ends, and gives a new session its
//! model-made title. Called by the session service; calls nothing back.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use app::wire::{
    chat::{MessageStatus, ResponseData, ServerFrame, TriageTier},
    ErrorCode,
};
use futures::{FutureExt, StreamExt};
use mongodb::bson::{doc, DateTime};

use crate::{
    agent::{AgentEvent, AgentRequest, PastTurn, Recorder},
    chat::{
        repo,
        title::parse_title,
        turns::{CancelReason, Turn},
    },
    db::models::{MessageContext, MessageDoc, PendingTurn},
    state::AppState,
};

/// The most model events taken in one read.
const EVENTS_PER_READ: usize = 256;

/// How long the user's response frame may wait for the answer to be stored; past that the
/// backlog keeps it (an insert still on its way then counts as a duplicate, harmlessly).
const STORE_WAIT: Duration = Duration::from_secs(3);

/// Everything a turn needs besides the agent request.
pub struct TurnInput {
    pub pending: PendingTurn,
    /// The turn's position in its session.
    pub seq: i64,
    /// Time spent waiting for the database before the model was asked.
    pub db_wait: Duration,
    pub title: String,
    pub started: Instant,
    /// The turn this one replaces (regenerate or edit), deleted once this answer completes.
    pub replaces: Option<String>,
}

/// Runs the model for one turn, streams its frames, and stores the exchange (write 2 of
/// the turn) however it ends.
pub async fn run(state: AppState, turn: Arc<Turn>, request: AgentRequest, input: TurnInput) {
    let agent = state.agent.clone();
    let mut recorder = Recorder::new(agent.model_name(), input.started);
    recorder.waited(input.db_wait);
    let asked = Instant::now();
    let mut stream = agent.answer(request).await.fuse();
    recorder.waited(asked.elapsed());
    // One buffer for every read: a fresh one per read, sized for the most events, cost more
    // than handling the events.
    let mut batch = Vec::new();
    let mut seq = 0u64;
    // Text that came with the answer's end goes out with the response, in one write.
    let mut last_delta = None;
    loop {
        let waiting = Instant::now();
        let first = tokio::select! {
            _ = turn.cancelled() => {
                match turn.cancel_reason() {
                    Some(CancelReason::Shutdown) => recorder.finish_interrupted(),
                    _ => recorder.finish_stopped(),
                }
                break;
            }
            first = stream.next() => first,
        };
        recorder.waited(waiting.elapsed());
        let Some(first) = first else {
            recorder.record(&AgentEvent::Error {
                code: ErrorCode::ProviderDisconnected,
                message: "The model stopped without finishing its answer.".into(),
            });
            break;
        };
        // Every event the model has ready, at once: what arrived together goes out as one
        // delta (the provider's reader joins pieces that come close together, `agent::joiner`).
        batch.clear();
        batch.push(first);
        while batch.len() < EVENTS_PER_READ {
            match stream.next().now_or_never() {
                Some(Some(event)) => batch.push(event),
                _ => break,
            }
        }
        let mut text = String::new();
        for event in &batch {
            recorder.record(event);
            if let AgentEvent::Delta(piece) = event {
                text.push_str(piece);
            }
        }
        let ended = recorder.outcome().is_some();
        if !text.is_empty() {
            seq += 1;
            let delta = ServerFrame::Delta {
                session_id: turn.session_id.clone(),
                message_id: turn.message_id.clone(),
                seq,
                text,
            };
            match ended {
                true => last_delta = Some(delta),
                false => turn.emit(delta),
            }
        }
        if ended {
            break;
        }
    }
    drop(stream);
    let outcome = recorder.outcome().unwrap_or(MessageStatus::Failed);
    let error = recorder.error().map(|(c, m)| (c, m.to_string()));
    let response_time_ms = u64::try_from(input.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let text = recorder.text().to_string();
    let sources = recorder.sources().to_vec();
    let raw_events = recorder.into_events();
    let message = Arc::new(MessageDoc {
        id: turn.message_id.clone(),
        session_id: turn.session_id.clone(),
        user_id: turn.user_id.clone(),
        seq: input.seq,
        message: input.pending.message.clone(),
        response: text.clone(),
        message_type: input.pending.message_type,
        context: MessageContext { user_profile: input.pending.user_profile.clone(), raw_events: raw_events.clone() },
        created_at: input.pending.created_at,
        response_time_ms,
        status: outcome,
        source_ids: sources.iter().map(|s| s.id.clone()).collect(),
    });
    let stored = tokio::time::timeout(STORE_WAIT, store_with_retry(&state, &message)).await;
    let mut replaced = None;
    match stored.unwrap_or_else(|_| Err(mongodb::error::Error::custom("the database did not answer in time"))) {
        Ok(()) => {
            // Before the response frame: the user's next message may follow it at once.
            let exchange =
                PastTurn { user: message.message.as_str().into(), assistant: message.response.as_str().into() };
            state.recent.stored(&turn.session_id, input.seq, exchange);
            learn_facts(&state, &message);
            if let Some(old) = &input.replaces {
                replaced = replace(&state, &turn, old, input.seq, outcome).await;
            }
        }
        Err(e) => {
            // Kept and retried until the database is back; until then the session's next
            // turn must look at the database, which knows this one is not stored.
            tracing::warn!(error = ?e, message_id = %turn.message_id, "the database is away; the answer waits in the backlog");
            state.recent.forget(&turn.session_id);
            state.backlog.keep(message.clone());
        }
    }
    if let Some(delta) = last_delta {
        turn.emit(delta);
    }
    if let Some((code, text)) = error {
        turn.emit(error_frame(&turn, code, &text));
    }
    turn.emit(ServerFrame::Response {
        message: text,
        session_id: turn.session_id.clone(),
        user_id: turn.user_id.clone(),
        timestamp: DateTime::now().to_chrono(),
        data: ResponseData {
            response_time_ms,
            message_id: turn.message_id.clone(),
            title: input.title.clone(),
            status: outcome,
            raw_events,
            sources,
            replaced,
        },
    });
    state.turns.finished(&turn);
    let elapsed = Duration::from_millis(response_time_ms);
    crate::metrics::answer_finished(outcome, &message.context.raw_events, input.db_wait, elapsed);
    // The session's first answer: a model-made title may follow.
    if input.seq == 1 && outcome == MessageStatus::Complete {
        tokio::spawn(generate_title(state.clone(), turn.clone(), message));
    }
}

/// Deletes the turn a regenerated or edited one replaces, once the new answer completed (a
/// failed or stopped one leaves both, as does one that waits in the backlog). Returns the
/// deleted turn's id.
async fn replace(state: &AppState, turn: &Turn, old: &str, seq: i64, outcome: MessageStatus) -> Option<String> {
    // The cached history still holds the replaced turn.
    state.recent.forget(&turn.session_id);
    if !matches!(outcome, MessageStatus::Complete | MessageStatus::CutOff) {
        return None;
    }
    // Only while it is still the turn just before this one: a dead instance's turn stored in
    // between (or any other) makes it history, kept.
    let deleted = repo::delete_replaced(&state.db, &turn.user_id, &turn.session_id, old, seq - 1);
    match tokio::time::timeout(STORE_WAIT, deleted).await {
        Ok(Ok(true)) => Some(old.to_string()),
        Ok(Ok(false)) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = ?e, "could not delete the replaced turn; both are kept");
            None
        }
        Err(_) => {
            tracing::warn!("the database did not delete the replaced turn in time; both are kept");
            None
        }
    }
}

/// Proposes the facts the question stated for the person's memory, after the answer: never on
/// the answer's path. Messages the triage sent to a fixed or urgent answer are not mined.
fn learn_facts(state: &AppState, message: &MessageDoc) {
    let routine =
        message.context.raw_events.iter().find_map(|e| e.triage.as_ref()).is_none_or(|t| t.tier == TriageTier::Routine);
    // A stopped turn may be an account being deleted; an interrupted one a server going away.
    let finished = matches!(message.status, MessageStatus::Complete | MessageStatus::CutOff);
    if !routine || !finished {
        return;
    }
    let db = state.db.clone();
    let (user_id, session_id, text) = (message.user_id.clone(), message.session_id.clone(), message.message.clone());
    tokio::spawn(async move {
        if let Err(e) = crate::memory::learn(&db, &user_id, &session_id, &text).await {
            tracing::warn!(error = ?e, "could not keep the facts a message stated");
        }
    });
}

fn error_frame(turn: &Turn, code: ErrorCode, message: &str) -> ServerFrame {
    ServerFrame::Error {
        code,
        message: message.into(),
        session_id: Some(turn.session_id.clone()),
        message_id: Some(turn.message_id.clone()),
    }
}

/// A few quick tries for a passing error; a database away for longer is the backlog's job.
async fn store_with_retry(state: &AppState, message: &Arc<MessageDoc>) -> mongodb::error::Result<()> {
    let mut attempt = 0;
    loop {
        match state.answers.store(message.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= 2 => return Err(e),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
        }
    }
}

/// After the first answer, a short model-made title replaces the first-message one.
/// Any failure keeps the old title.
async fn generate_title(state: AppState, turn: Arc<Turn>, message: Arc<MessageDoc>) {
    let Some(title) = state.agent.title(&message.message, &message.response).await else {
        return;
    };
    let Ok(title) = parse_title(&title) else {
        return;
    };
    // Only while the title is still the automatic one: a rename by the user wins.
    let updated = state
        .db
        .sessions
        .find_one_and_update(
            doc! { "session_id": &turn.session_id, "user_id": &turn.user_id, "is_active": true, "title_generated": false },
            doc! { "$set": { "title": &title, "title_generated": true } },
        )
        .return_document(mongodb::options::ReturnDocument::After)
        .projection(repo::session_fields())
        .await;
    // The sockets hear of the new title through the change stream (`chat::events`).
    if let Ok(Some(session)) = updated {
        state.recent.forget(&session.session_id);
    }
}
