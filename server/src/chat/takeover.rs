//! Turns whose instance died mid-answer. Every instance sweeps, every few seconds, the
//! claims whose lease ran out since its last sweep; a claim whose answer is not stored (and
//! that this instance is not still answering) is taken over by one instance and stored as
//! interrupted with what was checkpointed, so the question and the partial answer stay in
//! the session. A turn found dead when the next message arrives is stored the same way
//! (`chat::claim`).

use std::{sync::Arc, time::Duration};

use app::wire::chat::MessageStatus;
use futures::TryStreamExt;
use mongodb::bson::{doc, DateTime};
use serde::Deserialize;

use crate::{
    chat::{claim::lease_from_now, repo},
    db::models::{MessageContext, MessageDoc, PendingTurn, SessionDoc},
    error::AppResult,
    state::AppState,
};

const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// How far back the first sweep looks: turns cut off while no instance ran. Older ones are
/// shown as interrupted on their page and stored when their session's next message comes.
const FIRST_LOOK_BACK: Duration = Duration::from_secs(10 * 60);

/// The answer of a dead turn as it stands: the question, the checkpointed text, `interrupted`.
fn interrupted(session: &SessionDoc, pending: &PendingTurn) -> MessageDoc {
    let took = DateTime::now().timestamp_millis() - pending.created_at.timestamp_millis();
    MessageDoc {
        id: pending.message_id.clone(),
        session_id: session.session_id.clone(),
        user_id: session.user_id.clone(),
        seq: session.last_seq,
        message: pending.message.clone(),
        response: pending.partial.clone(),
        message_type: pending.message_type,
        context: MessageContext { user_profile: pending.user_profile.clone(), raw_events: Vec::new() },
        created_at: pending.created_at,
        response_time_ms: u64::try_from(took).unwrap_or(0),
        status: MessageStatus::Interrupted,
        source_ids: Vec::new(),
    }
}

/// Stores a dead turn's answer as interrupted (a no-op if any answer is stored already).
pub async fn store_interrupted(state: &AppState, session: &SessionDoc, pending: &PendingTurn) -> AppResult<()> {
    tracing::warn!(
        message_id = %pending.message_id,
        owner = %pending.owner,
        "an answer's instance stopped renewing its claim; storing it as interrupted"
    );
    state.answers.store(Arc::new(interrupted(session, pending))).await?;
    crate::metrics::turn_taken_over();
    Ok(())
}

/// Sweeps until shutdown.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut since = DateTime::from_millis(DateTime::now().timestamp_millis() - FIRST_LOOK_BACK.as_millis() as i64);
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = DateTime::now();
            match sweep(&state, since, now).await {
                // A little overlap: a lease written just before the last sweep is looked at again.
                Ok(()) => since = DateTime::from_millis(now.timestamp_millis() - 1_000),
                Err(e) => tracing::debug!(error = ?e, "sweep for dead turns failed; trying again"),
            }
        }
    });
}

/// A lapsed claim as the sweep reads it: the fields that tell whether it is dead, not the
/// question and profile (nearly every lapsed claim is a finished turn's, seen once per sweep).
#[derive(Debug, Deserialize)]
struct Lapsed {
    session_id: String,
    pending: LapsedPending,
}

#[derive(Debug, Deserialize)]
struct LapsedPending {
    message_id: String,
    lease_until: DateTime,
}

/// Takes over the turns whose lease ran out in `(since, now]` and whose answer is missing.
async fn sweep(state: &AppState, since: DateTime, now: DateTime) -> AppResult<()> {
    let lapsed: Vec<Lapsed> = state
        .db
        .sessions
        .clone_with_type::<Lapsed>()
        .find(doc! { "pending.lease_until": { "$gt": since, "$lte": now } })
        .projection(doc! { "_id": 0, "session_id": 1, "pending.message_id": 1, "pending.lease_until": 1 })
        .await?
        .try_collect()
        .await?;
    if lapsed.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = lapsed.iter().map(|l| l.pending.message_id.as_str()).collect();
    let stored = repo::stored_ids(&state.db, &ids).await?;
    for Lapsed { session_id, pending } in &lapsed {
        if stored.contains(&pending.message_id) || state.turns.is_running(&pending.message_id) {
            continue;
        }
        // One instance wins the takeover: the lease it read is the condition.
        let claim = doc! { "session_id": session_id, "pending.message_id": &pending.message_id, "pending.lease_until": pending.lease_until };
        let update =
            doc! { "$set": { "pending.lease_until": lease_from_now(), "pending.owner": state.instance.as_ref() } };
        let won = state.db.sessions.find_one_and_update(claim, update).await?;
        if let Some(session) = won {
            if let Some(dead) = &session.pending {
                store_interrupted(state, &session, dead).await?;
            }
        }
    }
    Ok(())
}
