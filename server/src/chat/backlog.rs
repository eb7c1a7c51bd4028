//! Finished answers the database could not take (a failover, a restart of the database):
//! kept and retried until it is back, so nothing the user saw is lost. Up to
//! `MAX_IN_MEMORY` answers wait in memory for up to `KEEP_IN_MEMORY`; older or further ones
//! are appended to a spill file in the data folder (readable by this user only: it holds
//! health data), which is read back at the next start and whenever the database takes
//! answers again. At shutdown whatever still waits is spilled.

use std::{
    collections::VecDeque,
    io::{BufRead, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{chat::answer_writer::AnswerWriter, db::models::MessageDoc};

const MAX_IN_MEMORY: usize = 1_000;
const KEEP_IN_MEMORY: Duration = Duration::from_secs(120);
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// The spill file's name in the data folder: one JSON answer per line.
pub const SPILL_FILE: &str = "unsaved-answers.jsonl";

struct Waiting {
    message: Arc<MessageDoc>,
    since: Instant,
}

/// Answers waiting for the database; cheap to clone.
#[derive(Clone)]
pub struct Backlog {
    waiting: Arc<Mutex<VecDeque<Waiting>>>,
    spill: PathBuf,
    answers: AnswerWriter,
}

impl Backlog {
    pub fn new(answers: AnswerWriter, data_dir: &Path) -> Self {
        Backlog { waiting: Arc::default(), spill: data_dir.join(SPILL_FILE), answers }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps an answer until the database takes it.
    pub fn keep(&self, message: Arc<MessageDoc>) {
        let overflow = {
            let mut waiting = self.lock();
            waiting.push_back(Waiting { message, since: Instant::now() });
            let over = waiting.len().saturating_sub(MAX_IN_MEMORY);
            let overflow: Vec<Waiting> = waiting.drain(..over).collect();
            crate::metrics::unsaved_answers(waiting.len());
            overflow
        };
        self.spill(overflow);
    }

    /// How many answers wait in memory.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends answers to the spill file. Failing that, they stay in memory: losing them
    /// quietly would be worse than holding more than planned.
    fn spill(&self, answers: Vec<Waiting>) {
        if answers.is_empty() {
            return;
        }
        if let Err(e) = append(&self.spill, answers.iter().map(|w| &*w.message)) {
            tracing::error!(error = %e, file = %self.spill.display(), "could not spill unsaved answers; keeping them in memory");
            let mut waiting = self.lock();
            for w in answers.into_iter().rev() {
                waiting.push_front(w);
            }
            return;
        }
        tracing::warn!(count = answers.len(), file = %self.spill.display(), "unsaved answers spilled to disk");
    }

    /// Moves the spill file's answers back into memory, to be retried.
    fn load_spilled(&self) {
        let Ok(file) = std::fs::File::open(&self.spill) else { return };
        let mut loaded = Vec::new();
        for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
            match serde_json::from_str::<MessageDoc>(&line) {
                Ok(message) => loaded.push(Arc::new(message)),
                Err(e) => tracing::error!(error = %e, "an unreadable line in the spill file was skipped"),
            }
        }
        if let Err(e) = std::fs::remove_file(&self.spill) {
            tracing::error!(error = %e, "could not remove the spill file; its answers may be stored twice (harmless)");
        }
        tracing::info!(count = loaded.len(), "replaying answers spilled by an earlier run");
        let mut waiting = self.lock();
        waiting.extend(loaded.into_iter().map(|message| Waiting { message, since: Instant::now() }));
        crate::metrics::unsaved_answers(waiting.len());
    }

    /// Tries the waiting answers every few seconds until `stop`, then spills what is left.
    pub fn spawn(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let backlog = self.clone();
        backlog.load_spilled();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETRY_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => backlog.retry().await,
                }
            }
            // One last try, then keep the rest for the next start.
            backlog.retry().await;
            let rest: Vec<Waiting> = backlog.lock().drain(..).collect();
            backlog.spill(rest);
        })
    }

    /// Stores what it can, oldest first; stops at the first failure (the database is still
    /// away) and spills answers that waited too long.
    async fn retry(&self) {
        let mut all_stored = true;
        loop {
            let Some(message) = self.lock().front().map(|w| w.message.clone()) else { break };
            if let Err(e) = self.answers.store(message).await {
                tracing::debug!(error = ?e, "the database still refuses unsaved answers");
                all_stored = false;
                break;
            }
            let stored = self.lock().pop_front();
            if let Some(w) = stored {
                tracing::info!(message_id = %w.message.id, "an unsaved answer is stored now");
            }
        }
        let aged: Vec<Waiting> = {
            let mut waiting = self.lock();
            let aged = waiting.iter().take_while(|w| w.since.elapsed() >= KEEP_IN_MEMORY).count();
            let aged = waiting.drain(..aged).collect();
            crate::metrics::unsaved_answers(waiting.len());
            aged
        };
        self.spill(aged);
        if all_stored && self.spill.exists() {
            self.load_spilled();
        }
    }
}

fn append<'a>(path: &Path, messages: impl Iterator<Item = &'a MessageDoc>) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    let mut text = String::new();
    for message in messages {
        text.push_str(&serde_json::to_string(message).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
