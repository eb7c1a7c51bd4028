//! MongoDB access: the client, typed collections and the indexes they need.
//! Written against the MongoDB API; SecantusDB (the embedded default) is one server it runs on.

pub mod embedded;
pub mod models;

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use mongodb::{
    bson::doc,
    error::ErrorKind,
    event::{cmap::CmapEvent, command::CommandEvent, EventHandler},
    options::{ClientOptions, IndexOptions},
    Client, Collection, Database, IndexModel,
};

use models::{
    AuthCodeDoc, ForgottenDoc, MemoryDoc, MessageDoc, RateLimitDoc, RefreshTokenDoc, SessionDoc, SigninDoc, UserDoc,
};

const WRITE_COMMANDS: [&str; 4] = ["insert", "update", "delete", "findAndModify"];

/// How long a pooled connection may sit unused before the driver closes it. SecantusDB
/// closes connections idle for 300 s, and NAT gateways, proxies and cloud load balancers drop
/// idle TCP flows to a real MongoDB after a few minutes too (often silently); a connection
/// the pool still trusts after that fails the first request sent on it. Retiring idle
/// connections well before any such cutoff means a quiet server starts on fresh ones. A
/// `maxIdleTimeMS` in the URI wins.
pub const MAX_IDLE_TIME: Duration = Duration::from_secs(60);

/// The driver's options for `uri`, with this app's defaults for what the URI leaves unset.
pub async fn client_options(uri: &str) -> mongodb::error::Result<ClientOptions> {
    let mut options = ClientOptions::parse(uri).await?;
    options.app_name = Some("healthchat".into());
    options.server_selection_timeout.get_or_insert(Duration::from_secs(5));
    options.connect_timeout.get_or_insert(Duration::from_secs(5));
    options.max_idle_time.get_or_insert(MAX_IDLE_TIME);
    Ok(options)
}

/// Whether a second attempt on a fresh connection can get past `error`: the connection
/// broke (closed by the server or by something on the way), or the pool was cleared because
/// another one did.
pub fn is_connection_error(error: &mongodb::error::Error) -> bool {
    matches!(*error.kind, ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. })
}

/// Runs `op` and, should it fail on a broken connection, once more. Only for operations that
/// are safe to repeat (reads, `ping`, `createIndexes`, `$set` updates of fixed values): the
/// driver retries reads itself (retryReads), but not commands sent with `run_command`, and
/// not writes while `retryWrites=false` (the embedded SecantusDB).
pub async fn retry_idempotent<T, F, Fut>(mut op: F) -> mongodb::error::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = mongodb::error::Result<T>>,
{
    match op().await {
        Err(error) if is_connection_error(&error) => {
            tracing::warn!(%error, "database connection broke; trying once more on a fresh one");
            op().await
        }
        done => done,
    }
}

/// The remembered facts' collection (its reads are counted).
const MEMORIES: &str = "memories";

/// The database handle every repository uses; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pub client: Client,
    pub database: Database,
    pub users: Collection<UserDoc>,
    pub sessions: Collection<SessionDoc>,
    pub messages: Collection<MessageDoc>,
    pub auth_codes: Collection<AuthCodeDoc>,
    pub refresh_tokens: Collection<RefreshTokenDoc>,
    pub signins: Collection<SigninDoc>,
    pub rate_limits: Collection<RateLimitDoc>,
    pub memories: Collection<MemoryDoc>,
    pub forgotten_memories: Collection<ForgottenDoc>,
    /// Write commands sent, when counting is on (tests and the benchmark).
    writes: Arc<AtomicU64>,
    /// `find` commands on `memories` (any: turns, learning, listing), when counting is on.
    memory_reads: Arc<AtomicU64>,
    /// Microseconds spent waiting for a pooled connection and for command replies, when
    /// counting is on.
    waited_us: Arc<AtomicU64>,
}

impl Db {
    pub async fn connect(uri: &str, database_name: &str) -> mongodb::error::Result<Self> {
        Self::connect_with(uri, database_name, false).await
    }

    /// `count_commands` installs command monitoring (which copies every command, so it is
    /// off in normal running) and counts the write commands this client sends, and its
    /// `find`s on `memories`.
    pub async fn connect_with(uri: &str, database_name: &str, count_commands: bool) -> mongodb::error::Result<Self> {
        let mut options = client_options(uri).await?;
        let writes = Arc::new(AtomicU64::new(0));
        let memory_reads = Arc::new(AtomicU64::new(0));
        let waited_us = Arc::new(AtomicU64::new(0));
        if count_commands {
            let (counter, waited) = (writes.clone(), waited_us.clone());
            let memory_counter = memory_reads.clone();
            let add_wait = move |d: Duration| {
                waited.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed)
            };
            // Waiting for a free pooled connection is waiting for the database too.
            let checkout_wait = add_wait.clone();
            options.cmap_event_handler = Some(EventHandler::callback(move |event: CmapEvent| {
                if let CmapEvent::ConnectionCheckedOut(out) = event {
                    checkout_wait(out.duration);
                }
            }));
            options.command_event_handler = Some(EventHandler::callback(move |event: CommandEvent| match event {
                CommandEvent::Started(started) if WRITE_COMMANDS.contains(&started.command_name.as_str()) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                CommandEvent::Started(started) if started.command.get_str("find") == Ok(MEMORIES) => {
                    memory_counter.fetch_add(1, Ordering::Relaxed);
                }
                CommandEvent::Succeeded(done) => {
                    add_wait(done.duration);
                }
                CommandEvent::Failed(failed) => {
                    add_wait(failed.duration);
                }
                _ => {}
            }));
        }
        let client = Client::with_options(options)?;
        let mut db = Self::from_client(client, database_name);
        db.writes = writes;
        db.memory_reads = memory_reads;
        db.waited_us = waited_us;
        Ok(db)
    }

    /// Total time spent waiting for the database's replies (0 unless counting is on).
    pub fn waited(&self) -> Duration {
        Duration::from_micros(self.waited_us.load(Ordering::Relaxed))
    }

    /// `find`s on `memories` sent so far (always 0 unless connected with `count_commands`).
    pub fn memory_read_count(&self) -> u64 {
        self.memory_reads.load(Ordering::Relaxed)
    }

    /// Write commands sent so far (always 0 unless connected with `count_commands`).
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    pub fn from_client(client: Client, database_name: &str) -> Self {
        let database = client.database(database_name);
        Db {
            writes: Arc::new(AtomicU64::new(0)),
            memory_reads: Arc::new(AtomicU64::new(0)),
            waited_us: Arc::new(AtomicU64::new(0)),
            users: database.collection("users"),
            sessions: database.collection("chat_sessions"),
            messages: database.collection("chat_messages"),
            auth_codes: database.collection("auth_codes"),
            refresh_tokens: database.collection("refresh_tokens"),
            signins: database.collection("signins"),
            rate_limits: database.collection("rate_limits"),
            memories: database.collection(MEMORIES),
            forgotten_memories: database.collection("forgotten_memories"),
            database,
            client,
        }
    }

    /// `/health`'s check: a connection that broke while idle is retried once rather than
    /// reported as the database being down (the driver does not retry `run_command`).
    pub async fn ping(&self) -> mongodb::error::Result<()> {
        let database = &self.database;
        retry_idempotent(|| async move { database.run_command(doc! { "ping": 1 }).await.map(|_| ()) }).await
    }

    /// Creates every index the queries rely on; idempotent, run at start-up.
    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        let unique = || IndexOptions::builder().unique(true).build();
        let ttl = || IndexOptions::builder().expire_after(Duration::ZERO).build();
        self.users.create_index(IndexModel::builder().keys(doc! { "email": 1 }).options(unique()).build()).await?;
        self.sessions
            .create_index(IndexModel::builder().keys(doc! { "session_id": 1 }).options(unique()).build())
            .await?;
        self.sessions
            .create_index(IndexModel::builder().keys(doc! { "user_id": 1, "is_active": 1, "updated_at": -1 }).build())
            .await?;
        // Claims: the takeover sweep reads lapsed leases; `resume` on another instance finds
        // a running answer's session.
        self.sessions.create_index(IndexModel::builder().keys(doc! { "pending.lease_until": 1 }).build()).await?;
        self.sessions.create_index(IndexModel::builder().keys(doc! { "pending.message_id": 1 }).build()).await?;
        self.messages
            // Pages and the model's history are `seq` ranges within one session: the index
            // reads only the page, however long the session (MongoDB and SecantusDB alike).
            .create_index(IndexModel::builder().keys(doc! { "session_id": 1, "user_id": 1, "seq": 1 }).build())
            .await?;
        self.messages.create_index(IndexModel::builder().keys(doc! { "user_id": 1, "created_at": -1 }).build()).await?;
        // Expiring documents carry their own deadline in `expires_at`.
        self.auth_codes
            .create_index(IndexModel::builder().keys(doc! { "expires_at": 1 }).options(ttl()).build())
            .await?;
        self.auth_codes
            .create_index(IndexModel::builder().keys(doc! { "email": 1, "purpose": 1 }).options(unique()).build())
            .await?;
        self.refresh_tokens
            .create_index(IndexModel::builder().keys(doc! { "expires_at": 1 }).options(ttl()).build())
            .await?;
        self.refresh_tokens.create_index(IndexModel::builder().keys(doc! { "family_id": 1 }).build()).await?;
        self.rate_limits
            .create_index(IndexModel::builder().keys(doc! { "expires_at": 1 }).options(ttl()).build())
            .await?;
        self.signins.create_index(IndexModel::builder().keys(doc! { "expires_at": 1 }).options(ttl()).build()).await?;
        self.signins.create_index(IndexModel::builder().keys(doc! { "user_id": 1 }).build()).await?;
        // Every turn reads the person's facts, oldest first; the same fact is kept once.
        self.memories.create_index(IndexModel::builder().keys(doc! { "user_id": 1, "created_at": 1 }).build()).await?;
        self.memories
            .create_index(IndexModel::builder().keys(doc! { "user_id": 1, "words": 1 }).options(unique()).build())
            .await?;
        self.forgotten_memories.create_index(IndexModel::builder().keys(doc! { "user_id": 1 }).build()).await?;
        Ok(())
    }
}
