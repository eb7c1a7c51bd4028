//! `resume` of an answer this instance is not running: its stored final frame, or, while
//! another instance runs it (a client reconnected through the load balancer), its
//! checkpoints, read from its session a few times a second and replayed with the owner's
//! `seq` numbers, then its stored response. Deltas after the last checkpoint are not replayed
//! one by one: the final response carries the whole text.

use std::time::Duration;

use app::wire::{
    chat::{ResponseData, ServerFrame},
    ErrorCode,
};

use crate::{
    agent::guidance::Library,
    chat::{repo, service::Refusal, turns::FrameSender},
    db::models::MessageDoc,
    error::AppResult,
    state::AppState,
};

const POLL_EVERY: Duration = Duration::from_millis(250);
/// A follower gives up after this long (an answer is far shorter; the owner's lease would
/// have lapsed and the answer been stored long before).
const FOLLOW_AT_MOST: Duration = Duration::from_secs(15 * 60);

/// The final frame of a stored answer.
pub fn stored_response(m: MessageDoc, library: &Library) -> ServerFrame {
    ServerFrame::Response {
        message: m.response,
        session_id: m.session_id,
        user_id: m.user_id,
        timestamp: m.created_at.to_chrono(),
        data: ResponseData {
            response_time_ms: m.response_time_ms,
            message_id: m.id,
            title: String::new(),
            status: m.status,
            raw_events: m.context.raw_events,
            sources: library.sources(&m.source_ids),
            replaced: None,
        },
    }
}

/// Replays this user's answer `message_id` after delta `after_seq` until it is stored: at once
/// if it is stored already, `message_not_found` if it is neither stored nor running anywhere.
pub async fn follow(state: AppState, user_id: String, message_id: String, after_seq: u64, out: FrameSender) {
    let frame = match follow_until_stored(&state, &user_id, &message_id, after_seq, &out).await {
        Ok(Some(frame)) => frame,
        Ok(None) => ServerFrame::error(ErrorCode::MessageNotFound, "No such answer to resume."),
        Err(e) => {
            tracing::warn!(error = ?e, "reading an answer to resume failed");
            Refusal::from(e).into_frame()
        }
    };
    let _ = out.send(frame.into()).await;
}

/// Sends the checkpointed deltas as they come; returns the final frame once the answer is
/// stored, `None` if it is neither stored nor running anywhere.
async fn follow_until_stored(
    state: &AppState,
    user_id: &str,
    message_id: &str,
    after_seq: u64,
    out: &FrameSender,
) -> AppResult<Option<ServerFrame>> {
    let deadline = tokio::time::Instant::now() + FOLLOW_AT_MOST;
    let mut sent = after_seq;
    let mut tick = tokio::time::interval(POLL_EVERY);
    while tokio::time::Instant::now() < deadline {
        tick.tick().await;
        // The session first: an answer stored between the two reads is then found below.
        let session = repo::session_answering(&state.db, user_id, message_id).await?;
        if let Some(stored) = repo::find_message(&state.db, user_id, message_id).await? {
            return Ok(Some(stored_response(stored, &state.library)));
        }
        let Some((session_id, pending)) = session.and_then(|s| Some((s.session_id, s.pending?))) else {
            return Ok(None);
        };
        let mut start = 0usize;
        for (&end, seq) in pending.delta_ends.iter().zip(1u64..) {
            let end = usize::try_from(end).unwrap_or(usize::MAX);
            if seq > sent {
                let text = pending.partial.get(start..end).unwrap_or_default().to_string();
                let delta = ServerFrame::Delta {
                    session_id: session_id.clone(),
                    message_id: message_id.to_string(),
                    seq,
                    text,
                };
                if out.send(delta.into()).await.is_err() {
                    return Ok(None);
                }
                sent = seq;
            }
            start = end;
        }
    }
    Ok(None)
}
