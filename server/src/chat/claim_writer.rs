//! Write 1 of a turn in a session this server answered last, grouped: claims made while one
//! is on its way to the database go together in the next `update` command (group commit,
//! as `answer_writer` does for write 2). Each driver operation costs the server more CPU than
//! the statement it carries (BENCHMARKS.md, round 11).
//!
//! Claims go as an `update` command with a statement each, built once as raw BSON (building
//! and converting documents cost more than the rest of a claim's own work, BENCHMARKS.md,
//! round 12). Its reply counts the matches, not which statements matched: when a group
//! matched fewer than it carried, or the command failed, each claim is sent again alone, by
//! `update_one` (which the driver retries). A claim that matches nothing alone is looked up:
//! the session already advanced by this very turn (by the grouped command, an earlier send or
//! a write the driver retried) is this turn's, and is not written again, so a stop asked for
//! meanwhile on another instance stays.
//!
//! The change-stream watcher waits for a command to land before it reads the stream
//! ([`ClaimsInFlight`]): one read then brings the events of all the command's turns.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use futures::future::join_all;
use mongodb::{
    bson::{rawdoc, Document, RawArrayBuf, RawDocumentBuf},
    error::Result as DbResult,
};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::db::{models::PendingTurn, Db};

/// The most claims one `update` command carries. Every claim of a command is answered at
/// once, so its turns then queue for the CPU together: 64 made the slowest of them wait up
/// to 14 ms (`loadgen`, 200 clients) for 7 % more turns per second than 8 (BENCHMARKS.md,
/// round 11).
const MAX_BATCH: usize = 8;

/// One turn's claim of a session at `last_seq`.
struct Claim {
    /// The `update` statement, `{q, u}`.
    statement: RawDocumentBuf,
    /// The claiming turn, to tell its own earlier write from another turn's.
    message_id: String,
    claimed: oneshot::Sender<DbResult<bool>>,
}

/// Sends claims; cheap to clone.
#[derive(Clone, Debug)]
pub struct ClaimWriter {
    jobs: mpsc::Sender<Claim>,
    in_flight: ClaimsInFlight,
}

/// Whether a claim command is on its way to the database, and a wake-up when it has landed.
#[derive(Clone, Debug, Default)]
pub struct ClaimsInFlight(Arc<InFlight>);

#[derive(Debug, Default)]
struct InFlight {
    sending: AtomicBool,
    landed: Notify,
}

impl ClaimsInFlight {
    fn set(&self, sending: bool) {
        self.0.sending.store(sending, Ordering::Release);
        if !sending {
            self.0.landed.notify_waiters();
        }
    }

    /// Returns once no claim command is on its way (at once if none is).
    pub async fn landed(&self) {
        let landed = self.0.landed.notified();
        tokio::pin!(landed);
        // Registered, then checked: a landing in between is not missed.
        landed.as_mut().enable();
        if self.0.sending.load(Ordering::Acquire) {
            landed.await;
        }
    }
}

impl ClaimWriter {
    /// Starts the writer task; it ends once every `ClaimWriter` is dropped.
    pub fn start(db: Db) -> Self {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        let in_flight = ClaimsInFlight::default();
        tokio::spawn(run(db, queue, in_flight.clone()));
        Self { jobs, in_flight }
    }

    /// Tells when the claim command on its way has landed.
    pub fn in_flight(&self) -> ClaimsInFlight {
        self.in_flight.clone()
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
        let parked = mongodb::bson::to_raw_document_buf(pending)?;
        let statement = rawdoc! {
            "q": { "session_id": session_id, "user_id": user_id, "is_active": true, "last_seq": last_seq },
            "u": { "$set": { "updated_at": pending.created_at, "pending": parked, "last_seq": last_seq + 1 } },
        };
        let (claimed, reply) = oneshot::channel();
        let claim = Claim { statement, message_id: pending.message_id.clone(), claimed };
        if self.jobs.send(claim).await.is_err() {
            return Err(stopped());
        }
        reply.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> mongodb::error::Error {
    mongodb::error::Error::custom("the claim writer has stopped")
}

async fn run(db: Db, mut queue: mpsc::Receiver<Claim>, in_flight: ClaimsInFlight) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        in_flight.set(true);
        send(&db, std::mem::take(&mut batch)).await;
        in_flight.set(false);
    }
}

/// Sends a group of claims and answers each.
async fn send(db: &Db, claims: Vec<Claim>) {
    match matched(db, &claims).await {
        Ok(Some(n)) if n == claims.len() as i64 => {
            for claim in claims {
                let _ = claim.claimed.send(Ok(true));
            }
            return;
        }
        // A lone claim that matched nothing, cleanly: the session moved on, perhaps by this
        // very claim sent before.
        Ok(Some(0)) if claims.len() == 1 => {
            for claim in claims {
                let made = match filter_of(&claim.statement) {
                    Ok(filter) => made_before(db, filter, &claim.message_id).await,
                    Err(e) => Err(e),
                };
                let _ = claim.claimed.send(made);
            }
            return;
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = ?e, "a claim command failed; sending each claim alone"),
    }
    // Each touches its own session, so they need not wait for one another.
    join_all(claims.into_iter().map(|claim| alone(db, claim))).await;
}

/// One `update` command with a statement per claim (the wire protocol's own batch): how many
/// matched, or `None` when the write concern was not met.
async fn matched(db: &Db, claims: &[Claim]) -> DbResult<Option<i64>> {
    let mut updates = RawArrayBuf::new();
    for claim in claims {
        updates.push(claim.statement.clone());
    }
    let mut command = rawdoc! { "update": db.sessions.name(), "updates": updates, "ordered": false };
    // `update_one` sends the URI's write concern itself; a command has to carry it.
    if let Some(concern) = db.database.write_concern() {
        command.append("writeConcern", mongodb::bson::to_raw_document_buf(concern)?);
    }
    let reply = db.database.run_raw_command(command).await?;
    if reply.contains_key("writeConcernError") {
        return Ok(None);
    }
    // A statement the server refused (in `writeErrors`) did not match.
    Ok(Some(reply.get_i32("n").map(i64::from).or_else(|_| reply.get_i64("n")).unwrap_or(0)))
}

/// Sends one claim by itself; one that matches nothing may have been made already.
async fn alone(db: &Db, claim: Claim) {
    let _ = claim.claimed.send(send_alone(db, &claim.statement, &claim.message_id).await);
}

async fn send_alone(db: &Db, statement: &RawDocumentBuf, message_id: &str) -> DbResult<bool> {
    let filter = filter_of(statement)?;
    let update = Document::try_from(statement.get_document("u")?)?;
    if db.sessions.update_one(filter.clone(), update).await?.matched_count == 1 {
        return Ok(true);
    }
    made_before(db, filter, message_id).await
}

/// The session a claim's statement matches: this user's active one at the claimed `seq`.
fn filter_of(statement: &RawDocumentBuf) -> DbResult<Document> {
    Ok(Document::try_from(statement.get_document("q")?)?)
}

/// Whether the session already is as this claim (matching `filter`) leaves it: the claim was
/// made by an earlier send of it.
async fn made_before(db: &Db, mut filter: Document, message_id: &str) -> DbResult<bool> {
    let seq = filter.get_i64("last_seq").unwrap_or_default();
    filter.insert("last_seq", seq + 1);
    filter.insert("pending.message_id", message_id);
    Ok(db.sessions.count_documents(filter).await? == 1)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_read_waits_for_the_claim_on_its_way_and_only_then() {
        let claims = ClaimsInFlight::default();
        // Nothing on its way: at once.
        tokio::time::timeout(Duration::from_millis(50), claims.landed()).await.expect("nothing to wait for");

        claims.set(true);
        let waiting = tokio::spawn({
            let claims = claims.clone();
            async move { claims.landed().await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiting.is_finished(), "returned while a claim was on its way");
        claims.set(false);
        tokio::time::timeout(Duration::from_millis(500), waiting)
            .await
            .expect("woken when the claim landed")
            .expect("the waiting task");
    }
}
