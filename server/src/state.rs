//! `AppState`: everything a handler, server function or socket task needs, cloned cheaply.

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use tokio_util::sync::CancellationToken;

use crate::{
    agent::SharedAgent,
    auth::{signins::Signins, tokens::JwtKeys},
    chat::{
        answer_writer::AnswerWriter, backlog::Backlog, claim_writer::ClaimWriter, events::StreamHealth, hub::Hub,
        limits::Windows, recent::RecentCache, turns::Turns,
    },
    config::Config,
    db::Db,
    mail::Mailer,
    memory::cache::MemoryCache,
    users::profile_cache::ProfileCache,
};

/// The shared parts behind one `Arc`: every request and every turn clones the state, and a
/// clone of the parts themselves took an atomic count per part (BENCHMARKS.md, round 12).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub db: Db,
    /// Write 1 of a turn in a session this server answered last, grouped into shared
    /// update commands.
    pub claims: ClaimWriter,
    /// Write 2 of every turn: finished answers, grouped into shared insert commands.
    pub answers: AnswerWriter,
    /// Finished answers waiting for the database to come back.
    pub backlog: Backlog,
    /// This process's id among the instances (random per start; names its claims).
    pub instance: Arc<str>,
    pub keys: JwtKeys,
    /// Whether each sign-in is still on (cached a few seconds per instance).
    pub signins: Signins,
    pub mailer: Mailer,
    pub agent: SharedAgent,
    /// The guideline library the agent searches; stored answers name its entries by id.
    pub library: Arc<crate::agent::guidance::Library>,
    /// Session events for every open socket of a user.
    pub hub: Hub,
    /// Whether the change stream feeding `hub` runs (readiness).
    pub session_events: StreamHealth,
    /// Answers in flight, for busy checks, stop and resume.
    pub turns: Turns,
    /// Health profiles read by every turn.
    pub profiles: ProfileCache,
    /// Remembered facts quoted by every turn, kept current by the change stream.
    pub memories: MemoryCache,
    /// Title, `seq` and recent exchanges of the sessions this server answered in.
    pub recent: RecentCache,
    /// Per-user message and resume counts (see `chat::limits`).
    pub windows: Windows,
    /// Cancelled at shutdown: sockets close and turns store what they have.
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
