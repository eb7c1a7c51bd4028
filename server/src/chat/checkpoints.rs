//! Checkpoints of the answers in flight, so any instance can replay an answer running on
//! another (`chat::remote`) and take over one whose instance died (`chat::takeover`).
//!
//! Once a second, one `update` command carries the partial answer of every turn of this
//! instance that has run for a second or more and grew (or whose lease is due for renewal),
//! and renews those turns' leases. A short answer finishes before its first checkpoint, so it
//! still costs two writes; a long one costs about one more per second, shared with every
//! other turn running on the instance at the time.

use std::{collections::HashMap, time::Duration};

use mongodb::bson::{doc, Bson, Document};
use tokio::time::Instant;

use crate::{
    chat::{claim::lease_from_now, repo, turns::CancelReason},
    db::Db,
    state::AppState,
};

/// How often running answers are checkpointed (and how long a turn runs before its first).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// A turn that did not grow still renews its lease this often (well inside `claim::LEASE`).
const RENEW_EVERY: Duration = Duration::from_secs(2);

/// What the last checkpoint of a turn wrote.
struct Written {
    len: usize,
    at: Instant,
}

/// Checkpoints until shutdown has finished every turn.
pub fn spawn(state: AppState, stopped: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        let mut written: HashMap<String, Written> = HashMap::new();
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            let running = state.turns.all_running();
            written.retain(|id, _| running.iter().any(|t| &t.message_id == id));
            let lease_until = lease_from_now();
            let mut updates = Vec::new();
            let mut due = Vec::new();
            for turn in running.iter().filter(|t| t.begun.elapsed() >= CHECKPOINT_EVERY) {
                let Some((text, ends)) = turn.progress() else { continue };
                let last = written.get(&turn.message_id);
                if last.is_some_and(|w| w.len == text.len() && w.at.elapsed() < RENEW_EVERY) {
                    continue;
                }
                due.push((turn.message_id.clone(), text.len()));
                updates.push(doc! {
                    // A stop asked for through another instance leaves the claim unmatched.
                    "q": { "session_id": &turn.session_id, "pending.message_id": &turn.message_id, "pending.stop": { "$ne": true } },
                    "u": { "$set": {
                        "pending.partial": text,
                        "pending.delta_ends": ends,
                        "pending.lease_until": lease_until,
                    } },
                });
            }
            if updates.is_empty() {
                continue;
            }
            let statements = updates.len() as i64;
            match send(&state.db, updates).await {
                Ok(matched) => {
                    if matched < statements {
                        stop_requested(&state, &due).await;
                    }
                    for (id, len) in due {
                        written.insert(id, Written { len, at: now });
                    }
                }
                // The next tick sends the newer state anyway.
                Err(e) => tracing::warn!(error = ?e, "checkpoint of the answers in flight failed"),
            }
        }
    });
}

/// Stops the turns whose stop was requested through another instance.
async fn stop_requested(state: &AppState, due: &[(String, usize)]) {
    let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
    match repo::stops_requested(&state.db, &ids).await {
        Ok(stopped) => {
            for turn in state.turns.all_running().iter().filter(|t| stopped.contains(&t.message_id)) {
                turn.cancel(CancelReason::Stopped);
            }
        }
        Err(e) => tracing::warn!(error = ?e, "could not read the stops requested elsewhere"),
    }
}

/// One `update` command with a statement per turn (the wire protocol's own batch); returns
/// how many claims matched.
async fn send(db: &Db, updates: Vec<Document>) -> mongodb::error::Result<i64> {
    let command = doc! {
        "update": db.sessions.name(),
        "updates": updates.into_iter().map(Bson::Document).collect::<Vec<_>>(),
        "ordered": false,
    };
    let reply = db.database.run_command(command).await?;
    crate::metrics::checkpoint_sent();
    // Write errors come back in the reply, not as a failed command.
    if let Ok(errors) = reply.get_array("writeErrors") {
        if !errors.is_empty() {
            return Err(mongodb::error::Error::custom(format!("checkpoint write errors: {errors:?}")));
        }
    }
    Ok(reply.get_i32("n").map(i64::from).or_else(|_| reply.get_i64("n")).unwrap_or(0))
}
