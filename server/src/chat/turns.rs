//! Answers in flight. A turn belongs to the server, not to the socket that started it: if
//! the socket drops, the answer still finishes and is stored, and a reconnecting client can
//! `resume` it. Each turn keeps its frames so a follower can replay what it missed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::wire::chat::{ResponseData, ServerFrame};
use futures::StreamExt;
use mongodb::bson::DateTime;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{
    agent::{
        events::{Outcome, Recorder},
        AgentRequest,
    },
    chat::repo,
    db::models::{MessageContext, MessageDoc, PendingTurn},
    state::AppState,
};

/// How long a finished turn stays replayable for `resume`.
const KEEP_FINISHED: Duration = Duration::from_secs(120);

/// Why a turn was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The user pressed stop.
    Stopped,
    /// The server is shutting down.
    Shutdown,
}

#[derive(Default)]
struct Log {
    /// Every frame of the turn so far, in order (deltas, then error and response).
    frames: Vec<ServerFrame>,
    finished: bool,
}

pub struct Turn {
    pub message_id: String,
    pub session_id: String,
    pub user_id: String,
    log: Mutex<Log>,
    live: broadcast::Sender<ServerFrame>,
    cancel: CancellationToken,
    reason: Mutex<Option<CancelReason>>,
}

impl Turn {
    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a frame and sends it to live followers, under one lock so a follower that
    /// snapshots the log and then subscribes can never miss or double a frame.
    fn emit(&self, frame: ServerFrame) {
        let mut log = self.lock();
        let last = matches!(frame, ServerFrame::Response { .. });
        log.frames.push(frame.clone());
        log.finished |= last;
        let _ = self.live.send(frame);
    }

    pub fn is_finished(&self) -> bool {
        self.lock().finished
    }

    pub fn cancel(&self, reason: CancelReason) {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
        self.cancel.cancel();
    }

    /// Forwards this turn's frames after delta `after_seq` into `out` until its final frame.
    pub async fn follow(self: Arc<Self>, after_seq: u64, out: mpsc::Sender<ServerFrame>) {
        let (replay, mut live) = {
            let log = self.lock();
            (log.frames.clone(), self.live.subscribe())
        };
        let mut last_seq = after_seq;
        let mut sent = 0usize;
        for frame in replay {
            sent += 1;
            if !forward(&frame, &mut last_seq, &out).await {
                return;
            }
        }
        loop {
            match live.recv().await {
                Ok(frame) => {
                    sent += 1;
                    if !forward(&frame, &mut last_seq, &out).await {
                        return;
                    }
                }
                // A slow socket fell behind the channel: catch up from the log.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let frames = self.lock().frames.clone();
                    for frame in frames.into_iter().skip(sent) {
                        sent += 1;
                        if !forward(&frame, &mut last_seq, &out).await {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Sends one frame unless it is a delta the follower already has; false once the turn
/// ended or the socket is gone.
async fn forward(frame: &ServerFrame, last_seq: &mut u64, out: &mpsc::Sender<ServerFrame>) -> bool {
    if let ServerFrame::Delta { seq, .. } = frame {
        if *seq <= *last_seq {
            return true;
        }
        *last_seq = *seq;
    }
    if out.send(frame.clone()).await.is_err() {
        return false;
    }
    !matches!(frame, ServerFrame::Response { .. })
}

/// All turns of this process, by message id.
#[derive(Clone, Default)]
pub struct Turns {
    inner: Arc<Mutex<HashMap<String, Arc<Turn>>>>,
}

impl Turns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Turn>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new turn, or `None` if the session already has one running.
    pub fn begin(&self, message_id: &str, session_id: &str, user_id: &str) -> Option<Arc<Turn>> {
        let mut turns = self.lock();
        if turns.values().any(|t| t.session_id == session_id && !t.is_finished()) {
            return None;
        }
        let turn = Arc::new(Turn {
            message_id: message_id.into(),
            session_id: session_id.into(),
            user_id: user_id.into(),
            log: Mutex::new(Log::default()),
            live: broadcast::channel(512).0,
            cancel: CancellationToken::new(),
            reason: Mutex::new(None),
        });
        turns.insert(message_id.into(), turn.clone());
        Some(turn)
    }

    /// Removes a turn that never started (its first write failed).
    pub fn abandon(&self, message_id: &str) {
        if let Some(turn) = self.lock().remove(message_id) {
            turn.lock().finished = true;
        }
    }

    pub fn is_busy(&self, session_id: &str) -> bool {
        self.lock().values().any(|t| t.session_id == session_id && !t.is_finished())
    }

    /// This user's turn with this id (running or recently finished).
    pub fn get(&self, user_id: &str, message_id: &str) -> Option<Arc<Turn>> {
        self.lock().get(message_id).filter(|t| t.user_id == user_id).cloned()
    }

    /// This user's running turns, optionally only in one session.
    pub fn running(&self, user_id: &str, session_id: Option<&str>) -> Vec<Arc<Turn>> {
        self.lock()
            .values()
            .filter(|t| t.user_id == user_id && !t.is_finished() && session_id.is_none_or(|s| t.session_id == s))
            .cloned()
            .collect()
    }

    fn forget_later(&self, message_id: String) {
        let turns = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(KEEP_FINISHED).await;
            turns.lock().remove(&message_id);
        });
    }

    /// Cancels every running turn (shutdown) and waits until they are stored, up to `limit`.
    pub async fn shutdown(&self, limit: Duration) {
        let running: Vec<Arc<Turn>> = self.lock().values().filter(|t| !t.is_finished()).cloned().collect();
        for turn in &running {
            turn.cancel(CancelReason::Shutdown);
        }
        let deadline = Instant::now() + limit;
        while running.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Everything a turn needs besides the agent request.
pub struct TurnInput {
    pub pending: PendingTurn,
    pub title: String,
    /// True when the session has no earlier answers: a model-made title may follow.
    pub first_in_session: bool,
    pub started: Instant,
}

/// Runs the model for one turn, streams its frames, and stores the exchange (write 2 of
/// the turn) however it ends.
pub async fn run(state: AppState, turn: Arc<Turn>, request: AgentRequest, input: TurnInput) {
    let agent = state.agent.clone();
    let mut recorder = Recorder::new(agent.model_name(), input.started);
    let mut stream = agent.answer(request).await;
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = turn.cancel.cancelled() => {
                match *turn.reason.lock().unwrap_or_else(|p| p.into_inner()) {
                    Some(CancelReason::Shutdown) => recorder.finish_interrupted(),
                    _ => recorder.finish_stopped(),
                }
                break;
            }
            event = stream.next() => {
                let Some(event) = event else {
                    recorder.record(&crate::agent::AgentEvent::Error {
                        code: "provider_disconnected".into(),
                        message: "The model stopped without finishing its answer.".into(),
                    });
                    break;
                };
                recorder.record(&event);
                if let crate::agent::AgentEvent::Delta(text) = &event {
                    seq += 1;
                    turn.emit(ServerFrame::Delta {
                        session_id: turn.session_id.clone(),
                        message_id: turn.message_id.clone(),
                        seq,
                        text: text.clone(),
                    });
                }
                if recorder.outcome().is_some() {
                    break;
                }
            }
        }
    }
    drop(stream);
    let outcome = recorder.outcome().unwrap_or(Outcome::Failed);
    let error = recorder.error().map(|(c, m)| (c.to_string(), m.to_string()));
    let response_time_ms = u64::try_from(input.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let text = recorder.text().to_string();
    let raw_events = recorder.into_events();
    let message = MessageDoc {
        id: turn.message_id.clone(),
        session_id: turn.session_id.clone(),
        user_id: turn.user_id.clone(),
        message: input.pending.message.clone(),
        response: text.clone(),
        message_type: input.pending.message_type.clone(),
        context: MessageContext { user_profile: input.pending.user_profile.clone(), raw_events: raw_events.clone() },
        created_at: input.pending.created_at,
        response_time_ms,
        status: outcome.as_str().into(),
    };
    if let Err(e) = store_with_retry(&state, &message).await {
        // The question is still on the session (`pending`), so it is not lost; the answer is.
        tracing::error!(error = ?e, message_id = %turn.message_id, "could not store the answer");
        turn.emit(error_frame(&turn, "storage_failed", "The answer could not be saved."));
    }
    if let Some((code, text)) = error {
        turn.emit(error_frame(&turn, &code, &text));
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
            status: outcome.as_str().into(),
            raw_events,
        },
    });
    state.turns.forget_later(turn.message_id.clone());
    if input.first_in_session && outcome == Outcome::Complete {
        tokio::spawn(crate::chat::service::generate_title(state.clone(), turn.clone(), message));
    }
}

fn error_frame(turn: &Turn, code: &str, message: &str) -> ServerFrame {
    ServerFrame::Error {
        code: code.into(),
        message: message.into(),
        session_id: Some(turn.session_id.clone()),
        message_id: Some(turn.message_id.clone()),
    }
}

/// The answer is worth a few tries: a transient database error must not lose it.
async fn store_with_retry(state: &AppState, message: &MessageDoc) -> crate::error::AppResult<()> {
    let mut attempt = 0;
    loop {
        match repo::insert_message(&state.db, message).await {
            Ok(()) => return Ok(()),
            // Already stored by an earlier attempt whose reply was lost.
            Err(crate::error::AppError::Database(e)) if crate::error::is_duplicate_key(&e) => return Ok(()),
            Err(e) if attempt >= 3 => return Err(e),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
        }
    }
}
