//! The registry of answers in flight. A turn belongs to the server, not to the socket that
//! started it: if the socket drops, the answer still finishes and is stored, and a
//! reconnecting client can `resume` it. Each turn keeps its frames so a follower can replay
//! what it missed. A leaf: it knows frames, not the app state or the database.
//!
//! A live frame goes straight into each following socket's channel (no task in between):
//! every task hop per delta costs a task wake-up (BENCHMARKS.md, rounds 6 and 7).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::wire::chat::ServerFrame;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// Where a socket's outgoing frames go. Shared, so the channel's first block of slots
/// (allocated with the channel, one per open socket) costs pointers, not whole frames, and a
/// frame for several sockets (and the turn's log) is built once.
pub type FrameSender = mpsc::Sender<Arc<ServerFrame>>;

/// How long a finished turn stays replayable for `resume`.
const KEEP_FINISHED: Duration = Duration::from_secs(30);

/// Why a turn was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The user pressed stop.
    Stopped,
    /// The server is shutting down.
    Shutdown,
}

#[derive(Default)]
struct Log {
    /// The turn's frames in order: deltas, then any error, then the response.
    frames: Vec<Arc<ServerFrame>>,
    /// Once finished: where each delta ended in the response text. The deltas themselves
    /// are dropped then (the response repeats their text) and rebuilt for a `resume`.
    delta_ends: Option<Vec<usize>>,
    finished: bool,
    /// Sockets that have every frame so far and get the next one as it is emitted.
    live: Vec<Follower>,
}

impl Log {
    /// The turn's frames as sent, rebuilding compacted deltas.
    fn replay(&self, turn: &Turn) -> Vec<Arc<ServerFrame>> {
        let (Some(ends), Some(ServerFrame::Response { message, .. })) =
            (&self.delta_ends, self.frames.last().map(|f| &**f))
        else {
            return self.frames.clone();
        };
        let mut start = 0;
        let mut frames: Vec<Arc<ServerFrame>> = ends
            .iter()
            .zip(1..)
            .map(|(&end, seq)| {
                let text = message.get(start..end).unwrap_or_default().to_string();
                start = end;
                Arc::new(ServerFrame::Delta {
                    session_id: turn.session_id.clone(),
                    message_id: turn.message_id.clone(),
                    seq,
                    text,
                })
            })
            .collect();
        frames.extend(self.frames.iter().cloned());
        frames
    }

    /// Drops the deltas of a finished turn when the response holds exactly their text.
    fn compact(&mut self) {
        let Some(ServerFrame::Response { message, .. }) = self.frames.last().map(|f| &**f) else { return };
        let mut ends = Vec::new();
        let mut at = 0;
        for frame in &self.frames {
            if let ServerFrame::Delta { text, .. } = &**frame {
                if message.get(at..at + text.len()) != Some(text.as_str()) {
                    return;
                }
                at += text.len();
                ends.push(at);
            }
        }
        if at != message.len() {
            return;
        }
        self.frames.retain(|f| !matches!(**f, ServerFrame::Delta { .. }));
        self.frames.shrink_to_fit();
        self.delta_ends = Some(ends);
    }
}

pub struct Turn {
    pub message_id: String,
    pub session_id: String,
    pub user_id: String,
    /// When the turn began (checkpoints start once it has run a while).
    pub begun: Instant,
    log: Mutex<Log>,
    cancel: CancellationToken,
    reason: Mutex<Option<CancelReason>>,
}

impl Turn {
    /// The answer so far and where each delta ended in it, while the turn runs; `None` once
    /// it finished.
    pub fn progress(&self) -> Option<(String, Vec<i64>)> {
        let log = self.lock();
        if log.finished {
            return None;
        }
        let mut text = String::new();
        let mut ends = Vec::new();
        for frame in &log.frames {
            if let ServerFrame::Delta { text: delta, .. } = &**frame {
                text.push_str(delta);
                ends.push(i64::try_from(text.len()).unwrap_or(i64::MAX));
            }
        }
        Some((text, ends))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a frame and hands it to the live followers, under one lock so a follower
    /// that catches up from the log and then goes live can never miss or double a frame.
    pub fn emit(self: &Arc<Self>, frame: ServerFrame) {
        let mut log = self.lock();
        let last = matches!(frame, ServerFrame::Response { .. });
        let frame = Arc::new(frame);
        log.frames.push(frame.clone());
        let mut behind = Vec::new();
        log.live.retain_mut(|follower| match follower.try_forward(&frame) {
            Forwarded::Sent => true,
            Forwarded::Done => false,
            Forwarded::Full => {
                behind.push(follower.clone());
                false
            }
        });
        if last {
            log.live.clear();
            // Kept for `resume` a while, at the cost of the response alone.
            log.compact();
            log.finished = true;
        }
        drop(log);
        // A socket whose queue is full catches up from the log at its own pace.
        for follower in behind {
            tokio::spawn(self.clone().catch_up(follower));
        }
    }

    pub fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// Resolves once the turn is cancelled.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Why the turn was cancelled, if it was.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn cancel(&self, reason: CancelReason) {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
        self.cancel.cancel();
    }

    /// Forwards this turn's frames after delta `after_seq` into `out` until its final frame:
    /// what the log holds first, then live.
    pub async fn follow(self: Arc<Self>, after_seq: u64, out: FrameSender) {
        self.catch_up(Follower { last_seq: after_seq, others_sent: 0, out }).await;
    }

    /// Sends the frames of the log this follower lacks (waiting for room in its queue), then
    /// joins the live followers once nothing is missing.
    async fn catch_up(self: Arc<Self>, mut follower: Follower) {
        loop {
            let unsent = {
                let mut log = self.lock();
                let unsent = follower.unsent(&log.replay(&self));
                if unsent.is_empty() {
                    if !log.finished {
                        log.live.push(follower);
                    }
                    return;
                }
                unsent
            };
            for frame in &unsent {
                if !follower.forward(frame).await {
                    return;
                }
            }
        }
    }
}

/// What became of a frame handed to a live follower.
enum Forwarded {
    Sent,
    /// The turn ended for this follower (its final frame went out, or its socket is gone).
    Done,
    /// Its socket's queue is full: it must catch up from the log.
    Full,
}

/// One socket's place in a turn: deltas are counted by `seq`, the few other frames by
/// number, so catching up from the log works even after the deltas were dropped.
#[derive(Clone)]
struct Follower {
    last_seq: u64,
    others_sent: usize,
    out: FrameSender,
}

impl Follower {
    /// The frames of `log` this follower has not sent yet.
    fn unsent(&self, log: &[Arc<ServerFrame>]) -> Vec<Arc<ServerFrame>> {
        let mut others = 0;
        log.iter()
            .filter(|f| match &***f {
                ServerFrame::Delta { seq, .. } => *seq > self.last_seq,
                _ => {
                    others += 1;
                    others > self.others_sent
                }
            })
            .cloned()
            .collect()
    }

    /// Sends one frame unless it is a delta already sent; false once the turn ended or
    /// the socket is gone.
    async fn forward(&mut self, frame: &Arc<ServerFrame>) -> bool {
        if self.already_sent(frame) {
            return true;
        }
        if self.out.send(frame.clone()).await.is_err() {
            return false;
        }
        self.count(frame);
        !matches!(**frame, ServerFrame::Response { .. })
    }

    /// `forward` without waiting: a full queue is reported, and the frame counts as unsent.
    fn try_forward(&mut self, frame: &Arc<ServerFrame>) -> Forwarded {
        if self.already_sent(frame) {
            return Forwarded::Sent;
        }
        match self.out.try_send(frame.clone()) {
            Ok(()) => {
                self.count(frame);
                match &**frame {
                    ServerFrame::Response { .. } => Forwarded::Done,
                    _ => Forwarded::Sent,
                }
            }
            Err(TrySendError::Full(_)) => Forwarded::Full,
            Err(TrySendError::Closed(_)) => Forwarded::Done,
        }
    }

    fn already_sent(&self, frame: &ServerFrame) -> bool {
        matches!(frame, ServerFrame::Delta { seq, .. } if *seq <= self.last_seq)
    }

    fn count(&mut self, frame: &ServerFrame) {
        match frame {
            ServerFrame::Delta { seq, .. } => self.last_seq = *seq,
            _ => self.others_sent += 1,
        }
    }
}

/// Why a turn could not begin.
#[derive(Debug, PartialEq, Eq)]
pub enum BeginError {
    /// This user's session already has an answer running.
    Busy,
    /// This user already has as many answers running as allowed.
    TooMany,
    /// Another user's session: answered like a missing one.
    NotYours,
}

#[derive(Default)]
struct Registry {
    /// Running and recently finished turns, by message id.
    by_message: HashMap<String, Arc<Turn>>,
    /// The running turn of each busy session, by session id.
    running: HashMap<String, Arc<Turn>>,
    /// Finished turns in the order they finished, to forget after `KEEP_FINISHED` (one
    /// queue rather than a timer per turn).
    finished: VecDeque<(Instant, String)>,
}

impl Registry {
    /// Forgets the finished turns kept long enough.
    fn forget_old(&mut self) {
        while let Some((at, id)) = self.finished.front() {
            if at.elapsed() < KEEP_FINISHED {
                break;
            }
            self.by_message.remove(id);
            self.finished.pop_front();
        }
    }
}

/// All turns of this process.
#[derive(Clone, Default)]
pub struct Turns {
    inner: Arc<Mutex<Registry>>,
}

impl Turns {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new turn unless the session already has one running, or the user has
    /// `max_per_user` running (checked under the same lock, so two sockets cannot both slip in).
    pub fn begin(
        &self,
        message_id: &str,
        session_id: &str,
        user_id: &str,
        max_per_user: Option<usize>,
    ) -> Result<Arc<Turn>, BeginError> {
        let mut turns = self.lock();
        turns.forget_old();
        if let Some(running) = turns.running.get(session_id).filter(|t| !t.is_finished()) {
            return Err(if running.user_id == user_id { BeginError::Busy } else { BeginError::NotYours });
        }
        let users_running = || turns.running.values().filter(|t| t.user_id == user_id && !t.is_finished()).count();
        if max_per_user.is_some_and(|max| users_running() >= max) {
            return Err(BeginError::TooMany);
        }
        let turn = Arc::new(Turn {
            message_id: message_id.into(),
            session_id: session_id.into(),
            user_id: user_id.into(),
            begun: Instant::now(),
            log: Mutex::new(Log::default()),
            cancel: CancellationToken::new(),
            reason: Mutex::new(None),
        });
        turns.by_message.insert(message_id.into(), turn.clone());
        turns.running.insert(session_id.into(), turn.clone());
        Ok(turn)
    }

    /// Removes a turn that never started (its first write failed).
    pub fn abandon(&self, turn: &Turn) {
        let mut turns = self.lock();
        turns.by_message.remove(&turn.message_id);
        turns.running.remove(&turn.session_id);
        turn.lock().finished = true;
    }

    /// This user's turn with this id (running or recently finished).
    pub fn get(&self, user_id: &str, message_id: &str) -> Option<Arc<Turn>> {
        self.lock().by_message.get(message_id).filter(|t| t.user_id == user_id).cloned()
    }

    /// Whether this process is answering the turn with this id.
    pub fn is_running(&self, message_id: &str) -> bool {
        self.lock().by_message.get(message_id).is_some_and(|t| !t.is_finished())
    }

    /// Every running turn of this process.
    pub fn all_running(&self) -> Vec<Arc<Turn>> {
        self.lock().running.values().filter(|t| !t.is_finished()).cloned().collect()
    }

    /// This user's running turns, optionally only in one session.
    pub fn running(&self, user_id: &str, session_id: Option<&str>) -> Vec<Arc<Turn>> {
        self.lock()
            .running
            .values()
            .filter(|t| t.user_id == user_id && !t.is_finished() && session_id.is_none_or(|s| t.session_id == s))
            .cloned()
            .collect()
    }

    /// Frees the session for its next turn now, and forgets the turn after a while.
    pub fn finished(&self, turn: &Arc<Turn>) {
        let mut turns = self.lock();
        if turns.running.get(&turn.session_id).is_some_and(|t| Arc::ptr_eq(t, turn)) {
            turns.running.remove(&turn.session_id);
        }
        turns.finished.push_back((Instant::now(), turn.message_id.clone()));
        turns.forget_old();
    }

    /// At shutdown: lets the running turns finish for up to `grace`, then cancels the rest
    /// (they store what they have) and waits for them up to `limit`.
    pub async fn shutdown(&self, grace: Duration, limit: Duration) {
        let running = self.all_running();
        let all_done = |deadline: Instant| {
            let running = &running;
            async move {
                while running.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        all_done(Instant::now() + grace).await;
        for turn in running.iter().filter(|t| !t.is_finished()) {
            turn.cancel(CancelReason::Shutdown);
        }
        all_done(Instant::now() + limit).await;
    }
}

#[cfg(test)]
mod tests {
    use app::wire::chat::{MessageStatus, ResponseData};
    use mongodb::bson::DateTime;

    use super::*;

    fn response(turn: &Turn, text: &str) -> ServerFrame {
        ServerFrame::Response {
            message: text.into(),
            session_id: turn.session_id.clone(),
            user_id: turn.user_id.clone(),
            timestamp: DateTime::now().to_chrono(),
            data: ResponseData {
                response_time_ms: 1,
                message_id: turn.message_id.clone(),
                title: String::new(),
                status: MessageStatus::Complete,
                raw_events: Vec::new(),
                sources: Vec::new(),
                replaced: None,
            },
        }
    }

    fn frames(shared: Vec<Arc<ServerFrame>>) -> Vec<ServerFrame> {
        shared.iter().map(|f| ServerFrame::clone(f)).collect()
    }

    fn delta(turn: &Turn, seq: u64, text: &str) -> ServerFrame {
        ServerFrame::Delta {
            session_id: turn.session_id.clone(),
            message_id: turn.message_id.clone(),
            seq,
            text: text.into(),
        }
    }

    #[test]
    fn a_finished_turn_keeps_only_its_response_and_replays_the_same_frames() {
        let turns = Turns::default();
        let Ok(turn) = turns.begin("m1", "s1", "u1", None) else { panic!("not busy") };
        let sent = vec![
            delta(&turn, 1, "Héllo, "),
            delta(&turn, 2, ""),
            delta(&turn, 3, "wörld."),
            response(&turn, "Héllo, wörld."),
        ];
        for f in &sent {
            turn.emit(f.clone());
        }
        assert_eq!(turn.lock().frames.len(), 1, "deltas dropped once finished");
        assert_eq!(frames(turn.lock().replay(&turn)), sent);
    }

    #[test]
    fn deltas_that_do_not_spell_the_response_are_kept() {
        let turns = Turns::default();
        let Ok(turn) = turns.begin("m1", "s1", "u1", None) else { panic!("not busy") };
        let sent = vec![delta(&turn, 1, "Hello"), response(&turn, "Something else")];
        for f in &sent {
            turn.emit(f.clone());
        }
        assert_eq!(frames(turn.lock().replay(&turn)), sent);
    }

    #[tokio::test]
    async fn a_follower_with_a_full_queue_catches_up_from_the_log_without_gaps_or_doubles() {
        let turns = Turns::default();
        let Ok(turn) = turns.begin("m1", "s1", "u1", None) else { panic!("not busy") };
        // Room for two frames: the turn outpaces this socket at once.
        let (out, mut received) = mpsc::channel(2);
        turn.clone().follow(0, out).await;
        let sent: Vec<ServerFrame> = (1..=40u64)
            .map(|seq| delta(&turn, seq, &format!("w{seq} ")))
            .chain(std::iter::once(response(&turn, "")))
            .collect();
        let reader = tokio::spawn(async move {
            let mut frames = Vec::new();
            while let Some(frame) = received.recv().await {
                frames.push(ServerFrame::clone(&frame));
                tokio::task::yield_now().await;
            }
            frames
        });
        for (i, frame) in sent.iter().enumerate() {
            turn.emit(frame.clone());
            if i % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let frames = tokio::time::timeout(Duration::from_secs(5), reader).await;
        let Ok(Ok(frames)) = frames else { panic!("the follower never finished") };
        assert_eq!(frames, sent);
    }

    #[test]
    fn a_busy_session_refuses_its_owner_and_hides_from_others() {
        let turns = Turns::default();
        let Ok(turn) = turns.begin("m1", "s1", "u1", None) else { panic!("not busy") };
        assert_eq!(turns.begin("m2", "s1", "u1", None).err(), Some(BeginError::Busy));
        assert_eq!(turns.begin("m3", "s1", "u2", None).err(), Some(BeginError::NotYours));
        turns.abandon(&turn);
        assert!(turns.begin("m4", "s1", "u1", None).is_ok(), "free again");
    }
}
