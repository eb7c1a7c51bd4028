//! The chat page's shared state (`ChatCtx`, provided as context) and what each socket
//! event does to it: send, stream, resume after a reconnect, stop, retry, and keep the
//! sidebar in step with other tabs.

// The socket only exists in the browser: on the server the event handlers are unused.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use std::rc::Rc;

use leptos::prelude::*;
use leptos_router::NavigateOptions;

#[cfg(feature = "hydrate")]
use super::socket::ChatSocket;
use super::state::merge_sessions;
use super::{
    socket::SocketEvent,
    state::{LiveTurn, Phase},
};
use crate::wire::{
    chat::{
        ClientFrame, ControlFrame, MessageStatus, MessageType, SendMessage, ServerFrame, SessionPage, SessionSummary,
    },
    ApiError, ErrorCode,
};

/// The socket's state, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Open,
    Reconnecting,
}

/// A short-lived message with an optional action (the delete "Undo").
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub text: String,
    /// The session to restore when "Undo" is pressed.
    pub undo_session: Option<SessionSummary>,
}

type Navigate = Rc<dyn Fn(&str, NavigateOptions)>;

/// The question being edited in the composer.
#[derive(Debug, Clone, PartialEq)]
pub struct Editing {
    /// Its chat: the edit applies only while that chat is open.
    pub session_id: String,
    pub message_id: String,
    pub message: String,
    pub message_type: MessageType,
}

#[derive(Clone, Copy)]
pub struct ChatCtx {
    /// The session in the URL (`None` on `/chat`).
    pub current: Memo<Option<String>>,
    /// Questions asked from this page, oldest first; each turn is its own signal so a
    /// delta re-renders one answer, not the list.
    pub turns: RwSignal<Vec<ArcRwSignal<LiveTurn>>>,
    next_id: StoredValue<u64>,
    pub conn: RwSignal<Conn>,
    /// An error that belongs to no turn.
    pub notice: RwSignal<Option<String>>,
    /// The first page of the session list, as the server rendered it.
    pub first_page: Resource<Result<SessionPage, ApiError>>,
    /// Pages loaded with "Load more", in order.
    pub more: RwSignal<Vec<SessionSummary>>,
    /// The cursor of the next page once "Load more" has been used (`None` before).
    pub more_cursor: RwSignal<Option<Option<String>>>,
    /// Sessions created, renamed or restored since the page loaded (newest version wins).
    pub upserts: RwSignal<Vec<SessionSummary>>,
    /// Sessions deleted since the page loaded.
    pub deleted: RwSignal<Vec<String>>,
    pub toast: RwSignal<Option<Toast>>,
    /// The sidebar on narrow screens.
    pub sidebar_open: RwSignal<bool>,
    /// Turns replaced by a regenerated or edited one on this page (no longer shown).
    pub replaced: RwSignal<Vec<String>>,
    /// The last question, while the composer edits it.
    pub editing: RwSignal<Option<Editing>>,
    // Browser-only values (not `Send`). On the server a page is rendered and dropped on
    // whichever thread the runtime picks, so thread-local storage must not exist there.
    #[cfg(feature = "hydrate")]
    socket: StoredValue<Option<ChatSocket>, LocalStorage>,
    #[cfg(feature = "hydrate")]
    navigate: StoredValue<Option<Navigate>, LocalStorage>,
}

impl ChatCtx {
    pub fn new(current: Memo<Option<String>>, first_page: Resource<Result<SessionPage, ApiError>>) -> Self {
        ChatCtx {
            current,
            first_page,
            more: RwSignal::new(Vec::new()),
            more_cursor: RwSignal::new(None),
            turns: RwSignal::new(Vec::new()),
            next_id: StoredValue::new(1),
            conn: RwSignal::new(Conn::Connecting),
            notice: RwSignal::new(None),
            upserts: RwSignal::new(Vec::new()),
            deleted: RwSignal::new(Vec::new()),
            toast: RwSignal::new(None),
            sidebar_open: RwSignal::new(false),
            replaced: RwSignal::new(Vec::new()),
            editing: RwSignal::new(None),
            #[cfg(feature = "hydrate")]
            socket: StoredValue::new_local(None),
            #[cfg(feature = "hydrate")]
            navigate: StoredValue::new_local(None),
        }
    }

    /// Opens the socket (browser only).
    pub fn start(self, navigate: impl Fn(&str, NavigateOptions) + 'static) {
        #[cfg(feature = "hydrate")]
        {
            self.navigate.set_value(Some(Rc::new(navigate)));
            if self.socket.with_value(|s| s.is_none()) {
                let socket = ChatSocket::open(move |event| self.on_socket(event));
                self.socket.set_value(Some(socket));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = navigate;
    }

    /// Closes the socket for good (the page is going away).
    pub fn shutdown(self) {
        #[cfg(feature = "hydrate")]
        if let Some(socket) = self.socket.try_update_value(|s| s.take()).flatten() {
            socket.close();
        }
    }

    fn send_text(&self, text: String) -> bool {
        #[cfg(feature = "hydrate")]
        return self.socket.with_value(|s| s.as_ref().map(|s| s.send(text)).unwrap_or(false));
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = text;
            false
        }
    }

    fn go(&self, path: &str, replace: bool) {
        #[cfg(feature = "hydrate")]
        if let Some(nav) = self.navigate.get_value() {
            nav(path, NavigateOptions { replace, scroll: false, ..Default::default() });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (path, replace);
    }

    fn next_local_id(&self) -> u64 {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        id
    }

    pub fn show_toast(&self, text: String, undo_session: Option<SessionSummary>) -> u64 {
        let id = self.next_local_id();
        self.toast.set(Some(Toast { id, text, undo_session }));
        id
    }

    /// Asks a question in the current session (or a new one); while the last question is
    /// being edited, the new one replaces it.
    pub fn send(&self, message: String, message_type: MessageType) {
        let session_id = self.current.get_untracked();
        let editing = self.editing.try_update(Option::take).flatten();
        let replaces = editing.filter(|e| Some(&e.session_id) == session_id.as_ref()).map(|e| e.message_id);
        self.ask(session_id, message, message_type, replaces);
    }

    /// Asks a question again, in its session (`None`: a new chat).
    pub fn resend(&self, session_id: Option<String>, message: String, message_type: MessageType) {
        self.ask(session_id, message, message_type, None);
    }

    /// Asks the last question again; the new answer replaces the old one once it completes.
    pub fn regenerate(&self, session_id: String, message_id: String, message: String, message_type: MessageType) {
        self.editing.set(None);
        self.ask(Some(session_id), message, message_type, Some(message_id));
    }

    /// Adds a live turn for `message` and sends it.
    fn ask(&self, session_id: Option<String>, message: String, message_type: MessageType, replaces: Option<String>) {
        let mut turn = LiveTurn::new(self.next_local_id(), session_id, message, message_type);
        turn.replaces = replaces;
        let turn = ArcRwSignal::new(turn);
        self.turns.update(|t| t.push(turn.clone()));
        self.deliver(&turn);
    }

    /// Sends a failed turn's message again, into the same session, as a new turn (the
    /// failed one stays, as it does in the stored history).
    pub fn retry(&self, turn: &ArcRwSignal<LiveTurn>) {
        let (session_id, message, message_type, replaces) =
            turn.with_untracked(|t| (t.session_id.clone(), t.message.clone(), t.message_type, t.replaces.clone()));
        turn.update(|t| t.retried = true);
        // A failed regenerate or edit is retried as one, not added as a new question.
        self.ask(session_id, message, message_type, replaces);
    }

    fn deliver(&self, turn: &ArcRwSignal<LiveTurn>) {
        self.notice.set(None);
        let frame = turn.with_untracked(|t| {
            ClientFrame::Send(SendMessage {
                message: t.message.clone(),
                session_id: t.session_id.clone(),
                message_type: Some(t.message_type.as_str().to_string()),
                replaces: t.replaces.clone(),
            })
        });
        let delivered = self.send_text(frame.to_text());
        turn.update(|t| t.delivered = delivered);
    }

    /// Stops the answer streaming in the current session.
    pub fn stop(&self) {
        let session_id = self
            .in_flight_here()
            .and_then(|t| t.with_untracked(|t| t.session_id.clone()))
            .or_else(|| self.current.get_untracked());
        self.send_text(ClientFrame::Control(ControlFrame::Stop { session_id }).to_text());
    }

    /// The turn of the current session that is still waiting for its answer.
    pub fn in_flight_here(&self) -> Option<ArcRwSignal<LiveTurn>> {
        let current = self.current.get_untracked();
        self.turns.with_untracked(|turns| {
            turns.iter().find(|t| t.with_untracked(|t| t.in_flight() && t.session_id == current)).cloned()
        })
    }

    fn find(&self, pred: impl Fn(&LiveTurn) -> bool) -> Option<ArcRwSignal<LiveTurn>> {
        self.turns.with_untracked(|turns| turns.iter().rev().find(|t| t.with_untracked(&pred)).cloned())
    }

    fn by_message(&self, message_id: &str) -> Option<ArcRwSignal<LiveTurn>> {
        self.find(|t| t.message_id.as_deref() == Some(message_id))
    }

    /// The newest turn that was sent and has not been told its message id yet.
    fn awaiting(&self, session_id: Option<&str>) -> Option<ArcRwSignal<LiveTurn>> {
        self.find(|t| {
            t.message_id.is_none()
                && t.phase == Phase::Sending
                && (t.session_id.is_none() || session_id.is_none() || t.session_id.as_deref() == session_id)
        })
    }

    /// The sidebar's list: server pages plus live changes, newest first (tracked).
    pub fn sessions(&self) -> Vec<SessionSummary> {
        let mut pages: Vec<SessionSummary> = self
            .first_page
            .with(|p| p.as_ref().and_then(|r| r.as_ref().ok()).map(|p| p.sessions.clone()).unwrap_or_default());
        self.more.with(|m| pages.extend(m.iter().cloned()));
        self.upserts.with(|u| self.deleted.with(|d| merge_sessions(&pages, u, d)))
    }

    /// Where "Load more" continues from; `None` when everything is shown (tracked).
    pub fn next_cursor(&self) -> Option<String> {
        match self.more_cursor.get() {
            Some(cursor) => cursor,
            None => {
                self.first_page.with(|p| p.as_ref().and_then(|r| r.as_ref().ok()).and_then(|p| p.next_cursor.clone()))
            }
        }
    }

    pub fn upsert_session(&self, session: SessionSummary) {
        let id = session.session_id.clone();
        self.deleted.update(|d| d.retain(|x| *x != id));
        self.upserts.update(|u| {
            u.retain(|s| s.session_id != id);
            u.push(session);
        });
    }

    pub fn remove_session(&self, session_id: &str) {
        if !self.deleted.with_untracked(|d| d.iter().any(|x| x == session_id)) {
            self.deleted.update(|d| d.push(session_id.to_string()));
        }
        if self.current.get_untracked().as_deref() == Some(session_id) {
            self.go("/chat", false);
        }
    }

    /// A new chat was created for the message this page just sent: adopt its id and put
    /// it in the URL (no reload; the page and socket stay).
    fn adopt_session(&self, session_id: &str) {
        if let Some(turn) = self.find(|t| t.session_id.is_none() && t.in_flight()) {
            turn.update(|t| t.session_id = Some(session_id.to_string()));
            if self.current.get_untracked().is_none() {
                self.go(&format!("/chat/{session_id}"), true);
            }
        }
    }

    fn on_socket(&self, event: SocketEvent) {
        match event {
            SocketEvent::Open => {
                // Frames queued while down have just gone out.
                self.conn.set(Conn::Open);
                self.turns.with_untracked(|turns| {
                    for t in turns {
                        if t.with_untracked(|t| t.in_flight() && !t.delivered) {
                            t.update(|t| t.delivered = true);
                        }
                    }
                });
            }
            SocketEvent::Closed => {
                self.conn.set(Conn::Reconnecting);
                // A message that left but was never acknowledged cannot be resumed.
                self.turns.with_untracked(|turns| {
                    for t in turns {
                        if t.with_untracked(|t| t.in_flight() && t.delivered && t.message_id.is_none()) {
                            t.update(|t| {
                                t.phase = Phase::Failed {
                                    message: "The connection dropped before the answer started.".into(),
                                }
                            });
                        }
                    }
                });
            }
            SocketEvent::Frame(frame) => self.on_frame(*frame),
        }
    }

    fn on_frame(&self, frame: ServerFrame) {
        match frame {
            ServerFrame::Connected { .. } => {
                // Pick up answers that were streaming when the connection dropped.
                let resumes: Vec<String> = self.turns.with_untracked(|turns| {
                    turns
                        .iter()
                        .filter_map(|t| {
                            t.with_untracked(|t| {
                                let id = t.message_id.clone().filter(|_| t.in_flight())?;
                                Some(
                                    ClientFrame::Control(ControlFrame::Resume {
                                        message_id: id,
                                        after_seq: t.resume_after(),
                                    })
                                    .to_text(),
                                )
                            })
                        })
                        .collect()
                });
                for frame in resumes {
                    self.send_text(frame);
                }
            }
            ServerFrame::Typing { session_id, message_id } => {
                if self.by_message(&message_id).is_some() {
                    return;
                }
                if let Some(turn) = self.awaiting(Some(&session_id)) {
                    let adopt = turn.with_untracked(|t| t.session_id.is_none());
                    turn.update(|t| {
                        t.message_id = Some(message_id);
                        t.delivered = true;
                    });
                    if adopt {
                        self.adopt_session(&session_id);
                    }
                }
            }
            ServerFrame::Delta { message_id, seq, text, .. } => {
                if let Some(turn) = self.by_message(&message_id) {
                    turn.update(|t| {
                        t.apply_delta(seq, &text);
                    });
                }
            }
            ServerFrame::Response { message, session_id, timestamp, data, .. } => {
                if let Some(turn) = self.by_message(&data.message_id).or_else(|| self.awaiting(Some(&session_id))) {
                    turn.update(|t| {
                        t.message_id = Some(data.message_id.clone());
                        t.session_id.get_or_insert_with(|| session_id.clone());
                        t.text = message;
                        t.sources = data.sources.clone();
                        match data.status {
                            // The error frame before this one said why; keep it (and Retry).
                            _ if matches!(t.phase, Phase::Failed { .. }) => {}
                            MessageStatus::Failed | MessageStatus::Interrupted => {
                                t.phase = Phase::Failed { message: "The coach could not finish this answer.".into() }
                            }
                            _ => t.phase = Phase::Done { status: data.status, response_time_ms: data.response_time_ms },
                        }
                    });
                }
                if let Some(old) = data.replaced {
                    self.replaced.update(|r| r.push(old));
                }
                // The first answer names the chat: show the title without waiting.
                if !data.title.is_empty() {
                    let known = untrack(|| self.sessions()).into_iter().find(|s| s.session_id == session_id);
                    if let Some(mut s) = known.filter(|s| s.title != data.title) {
                        s.title = data.title;
                        s.updated_at = timestamp;
                        self.upsert_session(s);
                    }
                }
            }
            // Stop raced the answer's end: the answer is already complete.
            ServerFrame::Error { code: ErrorCode::NothingToStop, .. } => {}
            ServerFrame::Error { code, message, session_id, message_id } => {
                let turn = message_id
                    .as_deref()
                    .and_then(|id| self.by_message(id))
                    .or_else(|| self.awaiting(session_id.as_deref()))
                    .or_else(|| self.find(|t| t.in_flight()).filter(|_| code == ErrorCode::Busy));
                match turn {
                    Some(turn) => turn.update(|t| {
                        if let Some(id) = message_id {
                            t.message_id = Some(id);
                        }
                        t.phase = Phase::Failed { message };
                    }),
                    None => self.notice.set(Some(message)),
                }
            }
            ServerFrame::SessionCreated { session } => {
                let id = session.session_id.clone();
                self.upsert_session(session);
                self.adopt_session(&id);
            }
            ServerFrame::SessionUpdated { session } => {
                if session.is_active {
                    self.upsert_session(session);
                } else {
                    self.remove_session(&session.session_id);
                }
            }
            ServerFrame::SessionDeleted { session_id } => self.remove_session(&session_id),
            // The page renews by reconnecting with its refreshed cookie, never with `auth`.
            ServerFrame::Pong | ServerFrame::Authenticated { .. } => {}
        }
    }
}
