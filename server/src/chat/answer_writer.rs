//! Write 2 of every turn, grouped: answers that finish while an insert is on its way to the
//! database go together in the next insert command (group commit).
//!
//! One insert is in flight at a time. A lone answer goes alone at once, so nothing waits
//! for a batch to fill; under load, answers queue behind the insert in flight and the next
//! command carries all of them. Each caller still learns whether *its* answer was stored.

use std::sync::Arc;

use app::wire::chat::MessageStatus;
use mongodb::{
    bson::doc,
    error::{ErrorKind, Result as DbResult},
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    db::{models::MessageDoc, Db},
    error::is_duplicate_key,
};

/// The most answers one insert command carries; the driver splits it further if the
/// documents outgrow a wire message.
const MAX_BATCH: usize = 64;

struct Job {
    /// Shared with the caller, which keeps it for the backlog if the insert fails.
    message: Arc<MessageDoc>,
    stored: oneshot::Sender<DbResult<()>>,
}

/// Stores finished answers; cheap to clone.
#[derive(Clone, Debug)]
pub struct AnswerWriter {
    jobs: mpsc::Sender<Job>,
    db: Db,
}

impl AnswerWriter {
    /// Starts the writer task. It ends once every `AnswerWriter` is dropped and the queue is
    /// empty, so answers finished during shutdown are still stored.
    pub fn start(db: Db) -> Self {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db.clone(), queue));
        Self { jobs, db }
    }

    /// Stores one answer and returns once the database has it (or refused it).
    pub async fn insert(&self, message: Arc<MessageDoc>) -> DbResult<()> {
        let (stored, reply) = oneshot::channel();
        if self.jobs.send(Job { message, stored }).await.is_err() {
            return Err(stopped());
        }
        reply.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Stores one answer, however often it was tried before: one already stored counts as
    /// stored, except that a full answer replaces an `interrupted` one a takeover stored
    /// while this instance could not reach the database (the full one is what the user saw).
    pub async fn store(&self, message: Arc<MessageDoc>) -> DbResult<()> {
        match self.insert(message.clone()).await {
            Err(e) if is_duplicate_key(&e) && message.status != MessageStatus::Interrupted => {
                let interrupted = doc! { "_id": &message.id, "status": MessageStatus::Interrupted.as_str() };
                self.db.messages.replace_one(interrupted, &*message).await.map(|_| ())
            }
            Err(e) if is_duplicate_key(&e) => Ok(()),
            stored => stored,
        }
    }
}

fn stopped() -> mongodb::error::Error {
    mongodb::error::Error::custom("the answer writer has stopped")
}

async fn run(db: Db, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        let outcome = db.messages.insert_many(jobs.iter().map(|j| &*j.message)).ordered(false).await;
        match outcome {
            Ok(_) => jobs.into_iter().for_each(|j| {
                let _ = j.stored.send(Ok(()));
            }),
            Err(e) => answer_failed_batch(&db, jobs, e).await,
        }
    }
}

/// An unordered insert stores every document it can. Those the server named as failed
/// (a duplicate `_id`, say) are tried alone so their caller gets that document's own
/// error. On any other failure nobody can tell what was stored: every caller gets the
/// error, and its retry counts a duplicate `_id` as already stored.
async fn answer_failed_batch(db: &Db, jobs: Vec<Job>, error: mongodb::error::Error) {
    let failed: Vec<usize> = match error.kind.as_ref() {
        ErrorKind::InsertMany(e) if e.write_concern_error.is_none() && e.write_errors.is_some() => {
            e.write_errors.iter().flatten().map(|w| w.index).collect()
        }
        _ => {
            for job in jobs {
                let _ = job.stored.send(Err(error.clone()));
            }
            return;
        }
    };
    for (index, job) in jobs.into_iter().enumerate() {
        let stored =
            if failed.contains(&index) { db.messages.insert_one(&*job.message).await.map(|_| ()) } else { Ok(()) };
        let _ = job.stored.send(stored);
    }
}
