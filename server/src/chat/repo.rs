//! MongoDB queries for sessions and messages. Every query is scoped by `user_id`, so one
//! user's request can never match another user's documents.

use app::wire::chat::{MessageStatus, MessageView, SessionSummary};
use futures::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};

use crate::{
    agent::guidance::Library,
    db::{
        models::{MessageDoc, MessageRow, PendingTurn, SessionDoc},
        Db,
    },
    error::{AppError, AppResult},
};

/// A pending turn older than this with no stored answer was cut off (a crash or restart).
const PENDING_STALE_MS: i64 = 10 * 60 * 1000;

pub fn summary(s: &SessionDoc) -> SessionSummary {
    SessionSummary {
        session_id: s.session_id.clone(),
        title: s.title.clone(),
        created_at: s.created_at.to_chrono(),
        updated_at: s.updated_at.to_chrono(),
        is_active: s.is_active,
    }
}

pub fn message_view(m: &MessageRow, library: &Library) -> MessageView {
    MessageView {
        message_id: m.id.clone(),
        session_id: m.session_id.clone(),
        message: m.message.clone(),
        response: m.response.clone(),
        message_type: m.message_type,
        created_at: m.created_at.to_chrono(),
        response_time_ms: Some(m.response_time_ms),
        status: m.status,
        sources: library.sources(&m.source_ids),
    }
}

fn pending_view(session_id: &str, p: &PendingTurn) -> MessageView {
    let stale = DateTime::now().timestamp_millis() - p.created_at.timestamp_millis() > PENDING_STALE_MS;
    MessageView {
        message_id: p.message_id.clone(),
        session_id: session_id.to_string(),
        message: p.message.clone(),
        response: String::new(),
        message_type: p.message_type,
        created_at: p.created_at.to_chrono(),
        response_time_ms: None,
        status: if stale { MessageStatus::Interrupted } else { MessageStatus::Pending },
        sources: Vec::new(),
    }
}

/// A session without its `pending` turn. Listed field by field: an inclusion projection
/// is the cheap kind on SecantusDB (an exclusion copies the whole document first).
pub fn session_fields() -> Document {
    doc! {
        "_id": 0, "user_id": 1, "session_id": 1, "title": 1, "created_at": 1, "updated_at": 1,
        "is_active": 1, "title_generated": 1, "last_seq": 1,
    }
}

fn not_found() -> AppError {
    AppError::NotFound("No such chat session.".into())
}

/// An active session of this user; 404 for missing, deleted or someone else's.
pub async fn active_session(db: &Db, user_id: &str, session_id: &str) -> AppResult<SessionDoc> {
    db.sessions
        .find_one(doc! { "session_id": session_id, "user_id": user_id, "is_active": true })
        .await?
        .ok_or_else(not_found)
}

/// One page of results, and the cursor of the next page (`None` on the last).
pub type Page<T> = (Vec<T>, Option<String>);

fn invalid_cursor() -> AppError {
    AppError::BadRequest("Invalid cursor.".into())
}

/// The last millisecond of year 9999: later dates are refused by MongoDB (a 500 otherwise).
const MAX_CURSOR_MILLIS: i64 = 253_402_300_799_999;

/// Session-list cursor over (updated_at, session_id), newest first: `<millis>_<session_id>`.
fn parse_cursor(cursor: &str) -> AppResult<(i64, String)> {
    let (millis, id) = cursor.split_once('_').ok_or_else(invalid_cursor)?;
    let millis = millis.parse().ok().filter(|m| (0..=MAX_CURSOR_MILLIS).contains(m)).ok_or_else(invalid_cursor)?;
    uuid::Uuid::parse_str(id).map_err(|_| invalid_cursor())?;
    Ok((millis, id.to_string()))
}

pub async fn list_sessions(db: &Db, user_id: &str, cursor: Option<&str>, limit: u32) -> AppResult<Page<SessionDoc>> {
    let limit = limit.clamp(1, 100) as i64;
    let mut filter = doc! { "user_id": user_id, "is_active": true };
    if let Some(cursor) = cursor {
        let (millis, id) = parse_cursor(cursor)?;
        let at = DateTime::from_millis(millis);
        filter.insert(
            "$or",
            vec![doc! { "updated_at": { "$lt": at } }, doc! { "updated_at": at, "session_id": { "$lt": id } }],
        );
    }
    let mut sessions: Vec<SessionDoc> = db
        .sessions
        .find(filter)
        .sort(doc! { "updated_at": -1, "session_id": -1 })
        .limit(limit + 1)
        .projection(session_fields())
        .await?
        .try_collect()
        .await?;
    let next = if sessions.len() as i64 > limit {
        sessions.truncate(limit as usize);
        sessions.last().map(|s| format!("{}_{}", s.updated_at.timestamp_millis(), s.session_id))
    } else {
        None
    };
    Ok((sessions, next))
}

/// Newest first, by `seq`: the cursor is the `seq` of the oldest message on the page, and
/// each page is an index range, so page 1 of a 10,000-message session costs what page 1
/// of a 20-message one does.
pub async fn messages_page(
    db: &Db,
    library: &Library,
    session: &SessionDoc,
    before: Option<&str>,
    limit: u32,
) -> AppResult<Page<MessageView>> {
    let limit = i64::from(limit.clamp(1, 200));
    let below = match before {
        Some(b) => b.parse::<i64>().ok().filter(|b| *b >= 1).ok_or_else(invalid_cursor)?,
        None => session.last_seq + 1,
    };
    let low = (below - limit).max(1);
    let docs = seq_range(db, &session.user_id, &session.session_id, low, below).await?;
    // A turn whose answer could not be stored leaves a gap, so a page may hold fewer than
    // `limit` messages; the cursor still moves by whole ranges.
    let next = (low > 1).then(|| low.to_string());
    let mut views: Vec<MessageView> = docs.iter().map(|m| message_view(m, library)).collect();
    // The question of a turn still running (or cut off) lives on the session until its
    // answer is stored; show it at the end of the newest page.
    if let (None, Some(p)) = (before, &session.pending) {
        if !views.iter().any(|v| v.message_id == p.message_id) {
            views.push(pending_view(&session.session_id, p));
        }
    }
    Ok((views, next))
}

/// Messages with `low <= seq < below`, oldest first.
async fn seq_range(db: &Db, user_id: &str, session_id: &str, low: i64, below: i64) -> AppResult<Vec<MessageRow>> {
    if below <= low {
        return Ok(Vec::new());
    }
    Ok(db
        .messages
        .clone_with_type::<MessageRow>()
        .find(doc! { "session_id": session_id, "user_id": user_id, "seq": { "$gte": low, "$lt": below } })
        .sort(doc! { "seq": 1 })
        .projection(MessageRow::projection())
        .await?
        .try_collect()
        .await?)
}

/// All messages of a session, oldest first (export).
/// Every message of a session, oldest first, as the database yields them (for downloads).
pub async fn all_messages(db: &Db, session: &SessionDoc) -> AppResult<mongodb::Cursor<MessageRow>> {
    Ok(db
        .messages
        .clone_with_type::<MessageRow>()
        .find(doc! { "session_id": &session.session_id, "user_id": &session.user_id })
        .sort(doc! { "seq": 1, "created_at": 1 })
        .projection(MessageRow::projection())
        .await?)
}

/// Up to `n` exchanges before turn `seq`, oldest first, for the model's context.
pub async fn recent_messages(db: &Db, user_id: &str, session_id: &str, seq: i64, n: i64) -> AppResult<Vec<MessageRow>> {
    seq_range(db, user_id, session_id, (seq - n).max(1), seq).await
}

/// Whether `message_id` is the user's last stored turn in the session (what regenerate and
/// edit may replace): `Err(NotFound)` if it is not theirs or not there, `Ok(false)` if a
/// later turn exists.
pub async fn is_last_turn(db: &Db, user_id: &str, session_id: &str, message_id: &str) -> AppResult<bool> {
    let mine = doc! { "_id": message_id, "user_id": user_id, "session_id": session_id };
    let found = db.messages.clone_with_type::<Document>().find_one(mine).projection(doc! { "seq": 1 }).await?;
    let seq = found
        .and_then(|d| d.get_i64("seq").ok())
        .ok_or_else(|| AppError::NotFound("No such message in this chat.".into()))?;
    let later = doc! { "session_id": session_id, "user_id": user_id, "seq": { "$gt": seq } };
    Ok(db.messages.clone_with_type::<Document>().find_one(later).projection(doc! { "_id": 1 }).await?.is_none())
}

/// Deletes a turn that a regenerated or edited one replaced, if it is still at `seq`;
/// whether it was.
pub async fn delete_replaced(db: &Db, user_id: &str, session_id: &str, message_id: &str, seq: i64) -> AppResult<bool> {
    let mine = doc! { "_id": message_id, "user_id": user_id, "session_id": session_id, "seq": seq };
    Ok(db.messages.delete_one(mine).await?.deleted_count == 1)
}

/// Write 1 of a turn for a new session: the session with the question in `pending`.
pub async fn create_session_with_pending(db: &Db, session: &SessionDoc) -> AppResult<()> {
    db.sessions.insert_one(session).await?;
    Ok(())
}

/// A session with its `pending` turn (the claim), for deciding whether it is free.
pub async fn session_with_claim(db: &Db, user_id: &str, session_id: &str) -> AppResult<Option<SessionDoc>> {
    Ok(db.sessions.find_one(doc! { "session_id": session_id, "user_id": user_id, "is_active": true }).await?)
}

/// Write 1 of a follow-up turn: touch the session, park the question (the claim) and take
/// the next `seq`, in one command, only if the session is still at turn `last_seq`. Every
/// claim moves `last_seq`, so of two instances claiming from the same state one wins.
/// `None` if the session moved on meanwhile (or was deleted); nothing is written then.
pub async fn claim_session(
    db: &Db,
    user_id: &str,
    session_id: &str,
    last_seq: i64,
    pending: &PendingTurn,
) -> AppResult<Option<SessionDoc>> {
    let pending = mongodb::bson::to_bson(pending).map_err(AppError::internal)?;
    Ok(db
        .sessions
        .find_one_and_update(
            doc! { "session_id": session_id, "user_id": user_id, "is_active": true, "last_seq": last_seq },
            doc! { "$set": { "updated_at": DateTime::now(), "pending": pending }, "$inc": { "last_seq": 1 } },
        )
        .return_document(mongodb::options::ReturnDocument::After)
        .projection(session_fields())
        .await?)
}

/// Asks the instances running this user's answers (in one session, or all) to stop them;
/// returns how many were asked. Only claims with a live lease and no stored answer count: a
/// finished answer needs no stop, and a lapsed claim has no one to stop it.
pub async fn request_stop(db: &Db, user_id: &str, session_id: Option<&str>) -> AppResult<u64> {
    let mut filter = doc! { "user_id": user_id, "is_active": true, "pending.lease_until": { "$gt": DateTime::now() } };
    if let Some(id) = session_id {
        filter.insert("session_id", id);
    }
    let claimed: Vec<SessionDoc> = db.sessions.find(filter).await?.try_collect().await?;
    let ids: Vec<&str> = claimed.iter().filter_map(|s| s.pending.as_ref()).map(|p| p.message_id.as_str()).collect();
    let stored = stored_ids(db, &ids).await?;
    let running: Vec<&str> = ids.into_iter().filter(|id| !stored.contains(*id)).collect();
    if running.is_empty() {
        return Ok(0);
    }
    let marked = db
        .sessions
        .update_many(
            doc! { "user_id": user_id, "pending.message_id": { "$in": &running } },
            doc! { "$set": { "pending.stop": true } },
        )
        .await?;
    Ok(marked.matched_count)
}

/// Which of these answers are stored.
pub async fn stored_ids(db: &Db, message_ids: &[&str]) -> AppResult<std::collections::HashSet<String>> {
    let found: Vec<Document> = db
        .messages
        .clone_with_type::<Document>()
        .find(doc! { "_id": { "$in": message_ids } })
        .projection(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?;
    Ok(found.iter().filter_map(|m| m.get_str("_id").ok().map(str::to_string)).collect())
}

/// Of these running answers, the ones whose stop was requested through another instance.
pub async fn stops_requested(db: &Db, message_ids: &[&str]) -> AppResult<Vec<String>> {
    let sessions: Vec<SessionDoc> = db
        .sessions
        .find(doc! { "pending.message_id": { "$in": message_ids }, "pending.stop": true })
        .await?
        .try_collect()
        .await?;
    Ok(sessions.into_iter().filter_map(|s| s.pending.map(|p| p.message_id)).collect())
}

/// Whether the answer with this id is stored.
pub async fn answer_stored(db: &Db, message_id: &str) -> AppResult<bool> {
    let messages = db.messages.clone_with_type::<Document>();
    Ok(messages.find_one(doc! { "_id": message_id }).projection(doc! { "_id": 1 }).await?.is_some())
}

/// This user's session whose running turn is `message_id`, with its checkpoint.
pub async fn session_answering(db: &Db, user_id: &str, message_id: &str) -> AppResult<Option<SessionDoc>> {
    Ok(db.sessions.find_one(doc! { "pending.message_id": message_id, "user_id": user_id }).await?)
}

pub async fn find_message(db: &Db, user_id: &str, message_id: &str) -> AppResult<Option<MessageDoc>> {
    Ok(db.messages.find_one(doc! { "_id": message_id, "user_id": user_id }).await?)
}

/// Sets fields on a session of this user (active or not, as `active` says); returns the
/// updated document or 404.
pub async fn update_session(
    db: &Db,
    user_id: &str,
    session_id: &str,
    active: bool,
    set: Document,
) -> AppResult<SessionDoc> {
    db.sessions
        .find_one_and_update(
            doc! { "session_id": session_id, "user_id": user_id, "is_active": active },
            doc! { "$set": set },
        )
        .return_document(mongodb::options::ReturnDocument::After)
        .projection(session_fields())
        .await?
        .ok_or_else(not_found)
}

/// Case-insensitive search of this user's titles and messages. Uses an escaped regex
/// rather than `$text`, which SecantusDB lacks (on MongoDB a text index would scale better).
/// Returns the sessions whose title matches, and matching messages with their session's title.
/// How long a search may take, in the database (`maxTimeMS`) and in all.
pub const SEARCH_TIME: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn search(
    db: &Db,
    user_id: &str,
    query: &str,
    limit: i64,
) -> AppResult<(Vec<SessionDoc>, Vec<(MessageRow, String)>)> {
    let pattern = regex_escape(query);
    let regex = doc! { "$regex": pattern, "$options": "i" };
    let sessions: Vec<SessionDoc> = db
        .sessions
        .find(doc! { "user_id": user_id, "is_active": true, "title": &regex })
        .sort(doc! { "updated_at": -1 })
        .limit(limit)
        .max_time(SEARCH_TIME)
        .projection(session_fields())
        .await?
        .try_collect()
        .await?;
    let messages: Vec<MessageRow> = db
        .messages
        .clone_with_type::<MessageRow>()
        .find(doc! { "user_id": user_id, "$or": [ { "message": &regex }, { "response": &regex } ] })
        .sort(doc! { "created_at": -1 })
        .limit(limit * 2)
        .max_time(SEARCH_TIME)
        .projection(MessageRow::projection())
        .await?
        .try_collect()
        .await?;
    // Hide hits in deleted sessions.
    let ids: Vec<&str> = messages.iter().map(|m| m.session_id.as_str()).collect();
    let active: Vec<SessionDoc> = db
        .sessions
        .find(doc! { "user_id": user_id, "is_active": true, "session_id": { "$in": ids } })
        .projection(session_fields())
        .await?
        .try_collect()
        .await?;
    let hits = messages
        .into_iter()
        .filter_map(|m| {
            let title = active.iter().find(|s| s.session_id == m.session_id)?.title.clone();
            Some((m, title))
        })
        .take(limit as usize)
        .collect();
    Ok((sessions, hits))
}

/// `s` matched literally inside a regular expression.
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\^$.|?*+()[]{}-/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_outside_what_the_database_can_hold_are_refused() {
        let id = uuid::Uuid::new_v4();
        assert!(parse_cursor(&format!("1700000000000_{id}")).is_ok());
        for bad in [
            "9223372036854775807_x".to_string(),
            format!("9223372036854775807_{id}"),
            format!("-1_{id}"),
            "12_x".into(),
            "nope".into(),
        ] {
            assert!(matches!(parse_cursor(&bad), Err(AppError::BadRequest(_))), "{bad}");
        }
    }
}
