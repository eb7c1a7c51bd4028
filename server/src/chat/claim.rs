//! One answer per session across instances. Write 1 of a turn parks the question in the
//! session's `pending` with a lease: while the lease runs and the answer is not stored, the
//! session is busy on every instance. The owner renews the lease with each checkpoint
//! (`chat::checkpoints`); a lease that ran out means the owner died, and its question is
//! stored as interrupted (`chat::takeover`) before the session takes a new one.

use std::time::Duration;

use mongodb::bson::DateTime;

use crate::{
    chat::{repo, takeover},
    db::models::{PendingTurn, SessionDoc},
    error::AppError,
    state::AppState,
};

/// How long a claim holds without renewal: a few missed checkpoints, so a busy database
/// does not look like a dead instance, and short enough that a dead one is noticed soon.
pub const LEASE: Duration = Duration::from_secs(6);

/// The end of a lease taken now.
pub fn lease_from_now() -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() + LEASE.as_millis() as i64)
}

/// How often a claim is retried when another turn moved the session meanwhile.
const ATTEMPTS: usize = 3;

#[derive(Debug)]
pub enum ClaimError {
    /// Another turn of this session is running (on any instance).
    Busy,
    /// No active session of this user with that id.
    NotFound,
    Db(AppError),
}

impl From<AppError> for ClaimError {
    fn from(e: AppError) -> Self {
        ClaimError::Db(e)
    }
}

/// Write 1 in an existing session this instance knows nothing current about: reads the
/// session, refuses if its turn is still answered elsewhere, stores a dead instance's turn
/// as interrupted, then claims the session conditionally on its `seq`.
pub async fn claim(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    pending: &PendingTurn,
) -> Result<SessionDoc, ClaimError> {
    for _ in 0..ATTEMPTS {
        let session = repo::session_with_claim(&state.db, user_id, session_id).await?.ok_or(ClaimError::NotFound)?;
        if let Some(previous) = &session.pending {
            if !repo::answer_stored(&state.db, &previous.message_id).await? {
                if previous.lease_until > DateTime::now() {
                    return Err(ClaimError::Busy);
                }
                // Its instance died: keep the question (and what was checkpointed) first.
                takeover::store_interrupted(state, &session, previous).await?;
            }
        }
        if let Some(claimed) = repo::claim_session(&state.db, user_id, session_id, session.last_seq, pending).await? {
            return Ok(claimed);
        }
        // Another turn (through any instance) or a delete got in between: look again.
    }
    Err(ClaimError::Busy)
}
