//! Session events across instances: one task per instance follows the database's change
//! stream (of `chat_sessions` and `memories`) and publishes what each session change means
//! (`session_created`, `_updated`, `_deleted`) to the local hub, so every socket of the user
//! on every instance hears of a change made through any of them; a change to someone's
//! remembered facts drops them from this instance's `memory::cache`. MongoDB is the only
//! channel between instances. One stream for both, so they arrive in the order they were
//! made: a turn that saw its own session event knows every earlier fact change was handled.
//!
//! The stream is the single source: nothing else publishes session events, so the instance
//! that made a change learns it like the others, a few ms later, and each socket gets each
//! event once. The resume token of the last event handled is kept; a broken stream is
//! reopened after it (100 ms → 5 s backoff), so no event is lost or repeated. A token the
//! database can no longer resume from (its history was trimmed) is logged as an error and
//! the stream starts again from now: events in the gap are lost, sockets catch up on reload.
//!
//! The stream is read a batch at a time (the driver's raw batch cursor over a `$changeStream`
//! aggregation). While this instance has a claim command on its way, the next read waits for
//! it to land (at most [`MAX_READ_WAIT`]): one read then brings the events of all that
//! command's turns, instead of one read for each (BENCHMARKS.md, round 13). The driver's
//! `ChangeStream` hides where a batch ends, so it could not wait between batches only.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use app::wire::chat::{ServerFrame, SessionSummary};
use futures::StreamExt;
use mongodb::{
    bson::{doc, DateTime, Document, RawBsonRef, RawDocument, RawDocumentBuf},
    error::{Error, ErrorKind},
    raw_batch_cursor::{RawBatch, RawBatchCursor},
    Client,
};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::{
    chat::{claim_writer::ClaimsInFlight, hub::Hub, recent::RecentCache},
    db::Db,
    memory::cache::MemoryCache,
};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest the next read waits for a claim command to land. The events of other
/// instances' turns, and of this one's first turns (not claims), wait at most this long.
/// With no claim on its way the read goes at once and waits on the server for the next event.
/// (SecantusDB answers a read at every write, even one the pipeline filters out; a MongoDB
/// server answers when an event passes the pipeline or after a second without.)
const MAX_READ_WAIT: Duration = Duration::from_millis(20);
/// The `appName` of the watcher's own connection (it waits on the server up to a second at
/// a time, so it has a client of its own rather than a connection of the shared pool).
pub const APP_NAME: &str = "healthchat-events";

/// `IllegalOperation`: change streams on a standalone server.
const NOT_A_REPLICA_SET: i32 = 40573;
/// Codes that mean the resume token points into history the server no longer has.
const HISTORY_LOST: [i32; 3] = [
    286, // ChangeStreamHistoryLost
    136, // CappedPositionLost (older servers)
    260, // InvalidResumeToken
];

/// The fields of a session a socket needs; the stream's pipeline projects the rest away.
#[derive(Debug, Deserialize)]
struct SessionFields {
    user_id: String,
    session_id: String,
    title: String,
    created_at: DateTime,
    updated_at: DateTime,
    is_active: bool,
}

impl SessionFields {
    fn summary(self) -> SessionSummary {
        SessionSummary {
            session_id: self.session_id,
            title: self.title,
            created_at: self.created_at.to_chrono(),
            updated_at: self.updated_at.to_chrono(),
            is_active: self.is_active,
        }
    }
}

/// Updates that touch none of these (`pending`, `last_seq`, `title_generated` alone) mean
/// nothing to a socket and are filtered out by the database.
const WATCHED_FIELDS: [&str; 3] = ["title", "is_active", "updated_at"];

/// The change stream's pipeline: of `sessions`, inserts, replaces and the updates that
/// matter; of `memories`, every change. Each with only the fields [`frame_for`],
/// [`written_seq`] and [`memory_owner`] read.
fn pipeline(sessions: &str, memories: &str) -> Vec<Document> {
    let updated = |field: &str| {
        let mut exists = Document::new();
        exists.insert(format!("updateDescription.updatedFields.{field}"), doc! { "$exists": true });
        exists
    };
    let mut project = doc! { "operationType": 1, "ns.coll": 1, "updateDescription.updatedFields.last_seq": 1 };
    for field in ["user_id", "session_id", "title", "created_at", "updated_at", "is_active", "last_seq"] {
        project.insert(format!("fullDocument.{field}"), 1);
    }
    for field in WATCHED_FIELDS {
        project.insert(format!("updateDescription.updatedFields.{field}"), 1);
    }
    vec![
        doc! { "$match": { "$or": [
            { "ns.coll": sessions, "operationType": { "$in": ["insert", "replace"] } },
            { "ns.coll": sessions, "operationType": "update", "$or": WATCHED_FIELDS.map(updated).to_vec() },
            { "ns.coll": memories },
        ] } },
        doc! { "$project": project },
    ]
}

/// What one change event of `chat_sessions` means for the user's sockets: the user and
/// the frame, or `None` for a change they need not hear of.
///
/// - insert → `session_created` (a new session);
/// - update of `is_active`: to false → `session_deleted`, to true (a restore) →
///   `session_created`;
/// - any other update of `title` or `updated_at` (rename, model-made title, a new turn) →
///   `session_updated`; updates of internal fields only are ignored;
/// - replace → `session_updated`, or `session_deleted` if it is no longer active.
///
/// The session's fields are the document as looked up (`updateLookup`), so the newest.
///
/// Events are read where they lie in the reply (raw BSON): building a document of each
/// cost the server more than the rest of the event's handling (BENCHMARKS.md, round 11).
pub fn frame_for(change: &RawDocument) -> Option<(String, ServerFrame)> {
    let operation = change.get_str("operationType").ok()?;
    let session: SessionFields = match change.get_document("fullDocument") {
        Ok(doc) => match mongodb::bson::from_slice(doc.as_bytes()) {
            Ok(session) => session,
            Err(e) => {
                tracing::warn!(error = %e, "a session change without the fields of a session; skipped");
                return None;
            }
        },
        // Gone by the time it was looked up (the account was deleted).
        Err(_) => return None,
    };
    let user_id = session.user_id.clone();
    let frame = match operation {
        "insert" if session.is_active => ServerFrame::SessionCreated { session: session.summary() },
        "replace" if session.is_active => ServerFrame::SessionUpdated { session: session.summary() },
        "replace" => ServerFrame::SessionDeleted { session_id: session.session_id },
        "update" => {
            let fields = change.get_document("updateDescription").and_then(|u| u.get_document("updatedFields")).ok()?;
            match fields.get_bool("is_active") {
                Ok(false) => ServerFrame::SessionDeleted { session_id: session.session_id },
                Ok(true) => ServerFrame::SessionCreated { session: session.summary() },
                Err(_) if has(fields, "title") || has(fields, "updated_at") => {
                    ServerFrame::SessionUpdated { session: session.summary() }
                }
                Err(_) => return None,
            }
        }
        _ => return None,
    };
    Some((user_id, frame))
}

fn has(doc: &RawDocument, field: &str) -> bool {
    matches!(doc.get(field), Ok(Some(_)))
}

/// The session and its newest turn, from a change event.
fn seq_of(change: &RawDocument) -> Option<(String, i64)> {
    let session = change.get_document("fullDocument").ok()?;
    Some((session.get_str("session_id").ok()?.to_string(), int(session, "last_seq")?))
}

/// The `last_seq` a session change itself wrote: the inserted or replacing document's, or the
/// updated field's. Not the looked-up document's, which may already show a later turn.
fn written_seq(change: &RawDocument) -> Option<i64> {
    let written = match change.get_str("operationType").ok()? {
        "update" => change.get_document("updateDescription").ok()?.get_document("updatedFields").ok()?,
        _ => change.get_document("fullDocument").ok()?,
    };
    int(written, "last_seq")
}

fn int(doc: &RawDocument, field: &str) -> Option<i64> {
    match doc.get(field).ok()?? {
        RawBsonRef::Int64(n) => Some(n),
        RawBsonRef::Int32(n) => Some(i64::from(n)),
        _ => None,
    }
}

/// The read's `postBatchResumeToken`: where the stream stands once its batch was handled.
fn post_batch_token(batch: &RawBatch) -> Option<&RawDocument> {
    batch.as_raw_document().get_document("cursor").ok()?.get_document("postBatchResumeToken").ok()
}

/// Whose facts a `memories` change touched; `None` when the event does not say (a delete
/// carries only the `_id`; an updated document may be gone by the time it is looked up).
fn memory_owner(change: &RawDocument) -> Option<String> {
    change.get_document("fullDocument").ok()?.get_str("user_id").ok().map(str::to_string)
}

/// Which collection a change is of.
fn collection(change: &RawDocument) -> Option<&str> {
    change.get_document("ns").ok()?.get_str("coll").ok()
}

/// What the stream keeps current on this instance.
#[derive(Clone)]
pub struct Caches {
    pub hub: Hub,
    pub recent: RecentCache,
    pub memories: MemoryCache,
}

impl Caches {
    /// Handles every event of one read and moves `token` past them.
    fn handle_batch(&self, db: &Db, batch: &RawBatch, token: &mut Option<ResumeToken>) -> mongodb::error::Result<()> {
        let mut last = None;
        let handled = self.handle_events(db, batch, &mut last);
        // After handling: a reopen starts after these events, never at one. The reply's own
        // token, once every event was handled, is at least as far (past events the pipeline
        // filtered out).
        let after = match handled {
            Ok(()) => post_batch_token(batch),
            Err(_) => None,
        };
        if let Some(after) = after.or(last) {
            *token = Some(after.to_owned());
        }
        handled
    }

    /// Handles the batch's events in order, keeping in `last` the `_id` of the last one
    /// handled; stops at the first the reply cannot give.
    fn handle_events<'a>(
        &self,
        db: &Db,
        batch: &'a RawBatch,
        last: &mut Option<&'a RawDocument>,
    ) -> mongodb::error::Result<()> {
        for event in batch.doc_slices()? {
            let Some(change) = event?.as_document() else { continue };
            self.handle(db, change);
            *last = change.get_document("_id").ok();
        }
        Ok(())
    }

    fn handle(&self, db: &Db, change: &RawDocument) {
        let from = collection(change);
        if from == Some(db.memories.name()) {
            self.memories.changed(memory_owner(change).as_deref());
            return;
        }
        if from != Some(db.sessions.name()) {
            return;
        }
        if let Some((user_id, frame)) = frame_for(change) {
            self.hub.publish(&user_id, frame, written_seq(change));
        }
        // A turn through another instance: its next turn here would otherwise try a claim
        // bound to fail first.
        if let Some((session_id, last_seq)) = seq_of(change) {
            self.recent.seen_seq(&session_id, last_seq);
        }
    }
}

/// Why the stream could not open at start-up.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "MongoDB must be a replica set (a single node is enough, e.g. `mongod --replSet rs0` then \
         `rs.initiate()`; Atlas always is): instances share session events through change streams, \
         which a standalone server does not have ({0})"
    )]
    NotAReplicaSet(mongodb::error::Error),
    #[error("the session change stream: {0}")]
    Database(#[from] mongodb::error::Error),
}

/// Where the stream is: the `_id` of the last event handled, or the read's
/// `postBatchResumeToken` once it was handled whole. A reopen starts after it.
type ResumeToken = RawDocumentBuf;

/// The open change stream of one instance, before its task starts.
pub struct Watcher {
    db: Db,
    stream: RawBatchCursor,
}

impl Watcher {
    /// Opens the stream at start-up, so every change after it is seen. A server that cannot
    /// (a standalone MongoDB) fails the start: instances would miss each other's events.
    pub async fn open(uri: &str, database: &str) -> Result<Self, WatchError> {
        let mut options = crate::db::client_options(uri).await?;
        options.app_name = Some(APP_NAME.into());
        let client = Client::with_options(options)?;
        let db = Db::from_client(client, database);
        match open_stream(&db, None).await {
            Ok(stream) => Ok(Watcher { db, stream }),
            Err(e) if code(&e) == Some(NOT_A_REPLICA_SET) => Err(WatchError::NotAReplicaSet(e)),
            Err(e) => Err(WatchError::Database(e)),
        }
    }

    /// Follows the stream until `shutdown`, publishing to `hub`, dropping entries of `recent`
    /// that another instance's turn made stale and of `memories` that a change made stale,
    /// and reporting in `health`. Reads wait for this instance's `claims` to land.
    pub fn spawn(
        self,
        caches: Caches,
        claims: ClaimsInFlight,
        health: StreamHealth,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(caches, claims, health, shutdown))
    }

    async fn run(self, caches: Caches, claims: ClaimsInFlight, health: StreamHealth, shutdown: CancellationToken) {
        let Watcher { db, stream } = self;
        let mut token: Option<ResumeToken> = None;
        let mut stream = Some(stream);
        let mut backoff = MIN_BACKOFF;
        loop {
            let failure = match stream.as_mut() {
                Some(open) => {
                    let next = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        next = open.next() => next,
                    };
                    match next {
                        Some(Ok(batch)) => match caches.handle_batch(&db, &batch, &mut token) {
                            Ok(()) => {
                                backoff = MIN_BACKOFF;
                                tokio::select! {
                                    _ = shutdown.cancelled() => return,
                                    _ = tokio::time::timeout(MAX_READ_WAIT, claims.landed()) => {}
                                }
                                continue;
                            }
                            Err(e) => e,
                        },
                        Some(Err(e)) => e,
                        None => {
                            // Invalidated (the database was dropped): the server closed it.
                            tracing::warn!("the session change stream ended; opening a new one from now");
                            token = None;
                            stream = None;
                            continue;
                        }
                    }
                }
                None => {
                    let opened = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        opened = open_stream(&db, token.as_deref()) => opened,
                    };
                    match opened {
                        Ok(open) => {
                            // A stream started again from now missed the changes in between:
                            // no kept fact (nor a read that overlapped this) outlives a reopen.
                            caches.memories.changed(None);
                            tracing::info!(resumed = token.is_some(), "session change stream reopened");
                            health.set(true);
                            stream = Some(open);
                            continue;
                        }
                        Err(e) => e,
                    }
                }
            };
            stream = None;
            health.set(false);
            if code(&failure).is_some_and(|c| HISTORY_LOST.contains(&c)) && token.is_some() {
                tracing::error!(
                    error = %failure,
                    "session change stream: the database no longer has the history to resume from; \
                     starting again from now. Session events in the gap are LOST: open sockets may \
                     show stale session lists until reloaded"
                );
                token = None;
                continue;
            }
            let retry_in_ms = backoff.as_millis() as u64;
            tracing::warn!(error = %failure, retry_in_ms, "session change stream failed; resuming after its last event");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = next_backoff(backoff);
        }
    }
}

/// Opens the stream, after `token` if there is one, else from now. The reply to the
/// aggregation is the stream's first batch.
async fn open_stream(db: &Db, token: Option<&RawDocument>) -> mongodb::error::Result<RawBatchCursor> {
    let mut stage = doc! { "fullDocument": "updateLookup" };
    if let Some(token) = token {
        stage.insert("resumeAfter", Document::try_from(token)?);
    }
    let mut stages = vec![doc! { "$changeStream": stage }];
    stages.extend(pipeline(db.sessions.name(), db.memories.name()));
    db.database.aggregate(stages).batch().await
}

fn code(e: &Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(MAX_BACKOFF)
}

/// Whether this instance's session change stream is running, for `/health/ready`: up
/// until the watcher reports a failure, up again once it reopens.
#[derive(Debug, Clone)]
pub struct StreamHealth(Arc<AtomicBool>);

impl Default for StreamHealth {
    fn default() -> Self {
        StreamHealth(Arc::new(AtomicBool::new(true)))
    }
}

impl StreamHealth {
    fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }

    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn session(active: bool, title: &str) -> Document {
        let at = DateTime::from_millis(1_700_000_000_000);
        doc! {
            "user_id": "u1", "session_id": "s1", "title": title, "created_at": at,
            "updated_at": DateTime::from_millis(1_700_000_000_500), "is_active": active,
        }
    }

    fn update(fields: Document, now: Document) -> Document {
        doc! {
            "_id": { "_data": "00" }, "operationType": "update", "fullDocument": now,
            "updateDescription": { "updatedFields": fields },
        }
    }

    fn summary(active: bool, title: &str) -> SessionSummary {
        SessionSummary {
            session_id: "s1".into(),
            title: title.into(),
            created_at: DateTime::from_millis(1_700_000_000_000).to_chrono(),
            updated_at: DateTime::from_millis(1_700_000_000_500).to_chrono(),
            is_active: active,
        }
    }

    /// A change event as it comes in a reply.
    fn raw(change: &Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(change).unwrap()
    }

    fn frame(change: Document) -> Option<ServerFrame> {
        frame_for(&raw(&change)).map(|(user, frame)| {
            assert_eq!(user, "u1");
            frame
        })
    }

    #[test]
    fn each_write_of_the_app_maps_to_its_event() {
        let now = DateTime::now();
        // Write 1 of a new session.
        let insert = doc! { "operationType": "insert", "fullDocument": session(true, "Hi") };
        assert_eq!(frame(insert), Some(ServerFrame::SessionCreated { session: summary(true, "Hi") }));
        // Write 1 in an existing session (touch): updated_at with the internal fields.
        let touch =
            update(doc! { "updated_at": now, "pending": { "message": "x" }, "last_seq": 2 }, session(true, "Hi"));
        assert_eq!(frame(touch), Some(ServerFrame::SessionUpdated { session: summary(true, "Hi") }));
        // A rename or a model-made title.
        let rename = update(doc! { "title": "New", "title_generated": true }, session(true, "New"));
        assert_eq!(frame(rename), Some(ServerFrame::SessionUpdated { session: summary(true, "New") }));
        // Delete and restore.
        let delete = update(doc! { "is_active": false }, session(false, "New"));
        assert_eq!(frame(delete), Some(ServerFrame::SessionDeleted { session_id: "s1".into() }));
        let restore = update(doc! { "is_active": true }, session(true, "New"));
        assert_eq!(frame(restore), Some(ServerFrame::SessionCreated { session: summary(true, "New") }));
    }

    #[test]
    fn internal_updates_and_other_operations_are_ignored() {
        for fields in [
            doc! { "pending": { "message": "x" } },
            doc! { "last_seq": 3 },
            doc! { "title_generated": true },
            doc! { "claimed_by": "instance-2", "claim_until": DateTime::now() },
            doc! {},
        ] {
            assert_eq!(frame(update(fields.clone(), session(true, "Hi"))), None, "{fields}");
        }
        for op in ["delete", "drop", "invalidate", "rename"] {
            assert_eq!(frame(doc! { "operationType": op, "fullDocument": session(true, "Hi") }), None, "{op}");
        }
        // An inserted session that is already inactive (an import, say) is nobody's news.
        assert_eq!(frame(doc! { "operationType": "insert", "fullDocument": session(false, "Hi") }), None);
    }

    #[test]
    fn a_replace_is_an_update_or_a_delete() {
        let active = doc! { "operationType": "replace", "fullDocument": session(true, "Hi") };
        assert_eq!(frame(active), Some(ServerFrame::SessionUpdated { session: summary(true, "Hi") }));
        let inactive = doc! { "operationType": "replace", "fullDocument": session(false, "Hi") };
        assert_eq!(frame(inactive), Some(ServerFrame::SessionDeleted { session_id: "s1".into() }));
    }

    #[test]
    fn a_change_whose_session_is_gone_or_malformed_is_skipped() {
        // updateLookup found nothing (deleted since): null, or no field at all.
        let mut gone = update(doc! { "title": "x" }, doc! {});
        gone.insert("fullDocument", mongodb::bson::Bson::Null);
        assert_eq!(frame_for(&raw(&gone)), None);
        gone.remove("fullDocument");
        assert_eq!(frame_for(&raw(&gone)), None);
        let partial = update(doc! { "title": "x" }, doc! { "session_id": "s1" });
        assert_eq!(frame_for(&raw(&partial)), None);
    }

    #[test]
    fn the_pipeline_keeps_what_the_mapping_reads() {
        let pipeline = pipeline("chat_sessions", "memories");
        let text = format!("{pipeline:?}");
        for field in WATCHED_FIELDS {
            assert!(text.contains(&format!("updateDescription.updatedFields.{field}")), "{field}");
        }
        assert!(!text.contains("pending"), "the pending turn stays out of the stream");
    }

    #[test]
    fn a_turn_is_known_by_the_seq_its_own_write_set() {
        // Looked up after the next turn began, the document shows that turn's seq already.
        let mut touch = update(doc! { "updated_at": DateTime::now(), "last_seq": 4 }, session(true, "Hi"));
        touch.get_document_mut("fullDocument").unwrap().insert("last_seq", 5i64);
        assert_eq!(written_seq(&raw(&touch)), Some(4));
        assert_eq!(seq_of(&raw(&touch)).map(|(_, seq)| seq), Some(5));
        let mut created = session(true, "Hi");
        created.insert("last_seq", 1i32);
        assert_eq!(written_seq(&raw(&doc! { "operationType": "insert", "fullDocument": created })), Some(1));
        // A rename writes no turn.
        assert_eq!(written_seq(&raw(&update(doc! { "title": "New" }, session(true, "New")))), None);
    }

    #[test]
    fn a_fact_change_names_its_owner_when_the_event_says() {
        let insert = doc! {
            "operationType": "insert", "ns": { "coll": "memories" }, "fullDocument": { "user_id": "u1" },
        };
        assert_eq!(collection(&raw(&insert)), Some("memories"));
        assert_eq!(memory_owner(&raw(&insert)).as_deref(), Some("u1"));
        // A delete carries only the `_id`: whose is unknown, so every kept fact goes.
        let delete = doc! { "operationType": "delete", "ns": { "coll": "memories" }, "documentKey": { "_id": "m" } };
        assert_eq!(memory_owner(&raw(&delete)), None);
    }

    #[tokio::test]
    async fn each_collection_goes_to_its_cache() {
        let db =
            Db::from_client(Client::with_options(mongodb::options::ClientOptions::default()).unwrap(), "events_test");
        let caches = Caches { hub: Hub::default(), recent: RecentCache::new(4), memories: MemoryCache::default() };
        let (out, mut socket) = tokio::sync::mpsc::channel(16);
        let _subscribed = caches.hub.subscribe("u1", out);
        let keep = |user: &str| caches.memories.keep(user, caches.memories.generation(user), &["I run.".to_string()]);
        keep("u1");
        keep("u2");

        // A session change reaches the user's sockets and leaves the facts alone.
        let mut created = session(true, "Hi");
        created.insert("last_seq", 1i32);
        caches.handle(
            &db,
            &raw(&doc! { "operationType": "insert", "ns": { "coll": "chat_sessions" }, "fullDocument": created }),
        );
        assert!(matches!(socket.try_recv().as_deref(), Ok(ServerFrame::SessionCreated { .. })));
        assert!(caches.memories.get("u1").is_some());

        // A fact change drops its owner's facts and reaches no socket.
        let fact =
            doc! { "operationType": "insert", "ns": { "coll": "memories" }, "fullDocument": { "user_id": "u1" } };
        caches.handle(&db, &raw(&fact));
        assert!(caches.memories.get("u1").is_none());
        assert!(caches.memories.get("u2").is_some());
        assert!(socket.try_recv().is_err());
        caches.handle(&db, &raw(&doc! { "operationType": "delete", "ns": { "coll": "memories" } }));
        assert!(caches.memories.get("u2").is_none());

        // Another collection's change means nothing here.
        keep("u2");
        caches.handle(
            &db,
            &raw(&doc! { "operationType": "insert", "ns": { "coll": "users" }, "fullDocument": session(true, "x") }),
        );
        assert!(caches.memories.get("u2").is_some());
        assert!(socket.try_recv().is_err());
    }

    #[test]
    fn the_backoff_doubles_up_to_five_seconds() {
        let mut b = MIN_BACKOFF;
        let mut seen = vec![b];
        while b < MAX_BACKOFF {
            b = next_backoff(b);
            seen.push(b);
        }
        assert_eq!(seen.first(), Some(&Duration::from_millis(100)));
        assert_eq!(next_backoff(MAX_BACKOFF), MAX_BACKOFF);
        assert_eq!(seen.len(), 7, "{seen:?}");
    }
}
