//! Write 1 of a turn in a session this server answered last, grouped: claims made while one
//! is on its way to the database go together in the next `update` command (group commit,
//! as `answer_writer` does for write 2). Each driver operation costs the server more CPU than
//! the statement it carries (BENCHMARKS.md, round 11).
//!
//! A lone claim goes alone at once, by `update_one`. Several go as one `update` command with
//! a statement each. Its reply counts the matches, not which statements matched: when it
//! matched fewer than it carried, or failed, each claim is sent again alone. A claim that
//! matches nothing is then looked up: the session already advanced by this very turn (by
//! the grouped command, or by a write the driver retried) is this turn's, and is not written
//! again, so a stop asked for meanwhile on another instance stays.

use futures::future::join_all;
use mongodb::{
    bson::{doc, Bson, Document},
    error::Result as DbResult,
};
use tokio::sync::{mpsc, oneshot};

use crate::db::{models::PendingTurn, Db};

/// The most claims one `update` command carries. Every claim of a command is answered at
/// once, so its turns then queue for the CPU together: 64 made the slowest of them wait up
/// to 14 ms (`loadgen`, 200 clients) for 7 % more turns per second than 8 (BENCHMARKS.md,
/// round 11).
const MAX_BATCH: usize = 8;

/// One turn's claim of a session at `last_seq`.
struct Claim {
    filter: Document,
    update: Document,
    /// The session as this claim leaves it.
    claimed_by_it: Document,
    claimed: oneshot::Sender<DbResult<bool>>,
}

/// Sends claims; cheap to clone.
#[derive(Clone, Debug)]
pub struct ClaimWriter {
    jobs: mpsc::Sender<Claim>,
}

impl ClaimWriter {
    /// Starts the writer task; it ends once every `ClaimWriter` is dropped.
    pub fn start(db: Db) -> Self {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db, queue));
        Self { jobs }
    }

    /// Moves the session from `last_seq` to the next and parks `pending` on it; false when
    /// the session is not this user's active one at `last_seq` (another turn, on any
    /// instance, or a delete got there first).
    pub async fn advance(
        &self,
        user_id: &str,
        session_id: &str,
        last_seq: i64,
        pending: &PendingTurn,
    ) -> DbResult<bool> {
        let parked = mongodb::bson::to_bson(pending)?;
        let session = doc! { "session_id": session_id, "user_id": user_id, "is_active": true };
        let mut filter = session.clone();
        filter.insert("last_seq", last_seq);
        let mut claimed_by_it = session;
        claimed_by_it.insert("last_seq", last_seq + 1);
        claimed_by_it.insert("pending.message_id", &pending.message_id);
        let update = doc! { "$set": { "updated_at": pending.created_at, "pending": parked, "last_seq": last_seq + 1 } };
        let (claimed, reply) = oneshot::channel();
        if self.jobs.send(Claim { filter, update, claimed_by_it, claimed }).await.is_err() {
            return Err(stopped());
        }
        reply.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> mongodb::error::Error {
    mongodb::error::Error::custom("the claim writer has stopped")
}

async fn run(db: Db, mut queue: mpsc::Receiver<Claim>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let claims = std::mem::take(&mut batch);
        if claims.len() > 1 {
            match all_matched(&db, &claims).await {
                Ok(true) => {
                    for claim in claims {
                        let _ = claim.claimed.send(Ok(true));
                    }
                    continue;
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = ?e, "a grouped claim failed; sending each alone"),
            }
        }
        // Each touches its own session, so they need not wait for one another.
        join_all(claims.into_iter().map(|claim| alone(&db, claim))).await;
    }
}

/// Sends one claim by itself; one that matches nothing may have been made already.
async fn alone(db: &Db, claim: Claim) {
    let claimed = match db.sessions.update_one(claim.filter, claim.update).await {
        Ok(r) if r.matched_count == 1 => Ok(true),
        Ok(_) => db.sessions.count_documents(claim.claimed_by_it).await.map(|n| n == 1),
        Err(e) => Err(e),
    };
    let _ = claim.claimed.send(claimed);
}

/// One `update` command with a statement per claim (the wire protocol's own batch); true
/// when every claim matched and the write concern was met.
async fn all_matched(db: &Db, claims: &[Claim]) -> DbResult<bool> {
    let updates: Vec<Bson> = claims.iter().map(|c| Bson::Document(doc! { "q": &c.filter, "u": &c.update })).collect();
    let mut command = doc! { "update": db.sessions.name(), "updates": updates, "ordered": false };
    // `update_one` sends the URI's write concern itself; a command has to carry it.
    if let Some(concern) = db.database.write_concern() {
        command.insert("writeConcern", mongodb::bson::to_bson(concern)?);
    }
    let reply = db.database.run_command(command).await?;
    // A statement the server refused (in `writeErrors`) did not match.
    let matched = reply.get_i32("n").map(i64::from).or_else(|_| reply.get_i64("n")).unwrap_or(0);
    Ok(matched == claims.len() as i64 && !reply.contains_key("writeConcernError"))
}
