//! The message list: the stored history (server-rendered from `get_session`, with "Load
//! older" by cursor) followed by the questions asked on this page, whose answers stream in.

use leptos::{html, prelude::*};

use super::{
    composer::{type_label, Composer},
    expect_ctx,
    live::{ChatCtx, Editing},
    state::{format_response_time, shown_live, LiveKey, LiveTurn, Phase},
};
use crate::{
    api::get_session,
    markdown,
    wire::{
        chat::{MessageStatus, MessageType, MessageView, SessionDetail},
        guidance::Source,
        ApiError, ErrorCode,
    },
};

pub type DetailResource = Resource<Result<Option<SessionDetail>, ApiError>>;

/// Older pages loaded for one session: (session id, messages oldest first, next cursor).
type Older = Option<(String, Vec<MessageView>, Option<String>)>;

/// Distance from the bottom (px) within which new text keeps the list scrolled down.
const PIN_SLACK: i32 = 80;

#[component]
pub fn Conversation(detail: DetailResource) -> impl IntoView {
    let ctx = expect_ctx();
    let list = NodeRef::<html::Div>::new();
    let older: RwSignal<Older> = RwSignal::new(None);
    let loading_older = RwSignal::new(false);
    // Whether the list follows new text (true unless the reader scrolled up).
    let pinned = StoredValue::new(true);

    // What the stored history must leave out; changes when ids do, not on every delta.
    let live_keys =
        Memo::new(move |_| ctx.turns.with(|ts| ts.iter().map(|t| t.with(LiveTurn::key)).collect::<Vec<LiveKey>>()));
    let here_turns = move || {
        let current = ctx.current.get();
        ctx.turns.with(|ts| ts.iter().filter(|t| t.with(|t| t.session_id == current)).cloned().collect::<Vec<_>>())
    };
    let busy = Memo::new(move |_| here_turns().iter().any(|t| t.with(LiveTurn::in_flight)));
    // The turn Regenerate and Edit apply to: the newest one shown, live or stored.
    let last_id = Memo::new(move |_| {
        let replaced = ctx.replaced.get();
        let gone = |id: &String| replaced.contains(id);
        if let Some(live) =
            here_turns().iter().rev().filter_map(|t| t.with(|t| t.message_id.clone())).find(|id| !gone(id))
        {
            return Some(live);
        }
        detail.with(|d| {
            let messages = d.as_ref().and_then(|r| r.as_ref().ok()).and_then(Option::as_ref).map(|d| &d.messages);
            messages.and_then(|m| m.iter().rev().map(|m| m.message_id.clone()).find(|id| !gone(id)))
        })
    });
    let turn_ui = TurnUi { ctx, last_id, busy };
    // An edit belongs to its chat: switching chats ends it.
    Effect::new(move |_| {
        let current = ctx.current.get();
        if ctx.editing.with_untracked(|e| e.as_ref().is_some_and(|e| Some(&e.session_id) != current.as_ref())) {
            ctx.editing.set(None);
        }
    });

    // Follow the stream: after any change of history or answer text, stay at the bottom.
    Effect::new(move |_| {
        detail.track();
        older.track();
        // Reading every turn subscribes to each one's text and phase.
        let _content: usize = ctx.turns.with(|ts| ts.iter().map(|t| t.with(|t| t.text.len() + 1)).sum());
        if pinned.get_value() {
            if let Some(el) = list.get_untracked() {
                el.set_scroll_top(el.scroll_height());
            }
        }
    });
    let on_scroll = move |_| {
        if let Some(el) = list.get_untracked() {
            pinned.set_value(el.scroll_height() - el.scroll_top() - el.client_height() < PIN_SLACK);
        }
    };

    let load_older = move |_| {
        let Some(session_id) = ctx.current.get_untracked() else { return };
        let cursor = match older.get_untracked() {
            Some((s, _, cursor)) if s == session_id => cursor,
            _ => detail.with_untracked(|d| {
                d.as_ref().and_then(|r| r.as_ref().ok()).flatten().and_then(|d| d.next_before.clone())
            }),
        };
        let Some(before) = cursor else { return };
        loading_older.set(true);
        pinned.set_value(false);
        leptos::task::spawn_local(async move {
            match get_session(session_id.clone(), Some(before)).await {
                Ok(page) => older.update(|o| {
                    let mut messages = page.messages;
                    if let Some((s, earlier, _)) = o.take().filter(|(s, _, _)| *s == session_id) {
                        debug_assert_eq!(s, session_id);
                        messages.extend(earlier);
                    }
                    *o = Some((session_id, messages, page.next_before));
                }),
                Err(e) => ctx.notice.set(Some(e.message)),
            }
            loading_older.set(false);
        });
    };

    view! {
        <section class="conversation" aria-label="Conversation">
            <div class="messages" node_ref=list on:scroll=on_scroll data-testid="messages">
                <Transition fallback=|| view! { <p class="muted pad">"Loading messages…"</p> }>
                    {move || {
                        let current = ctx.current.get();
                        detail
                            .get()
                            .map(|result| match result {
                                Ok(Some(d)) => {
                                    let (extra, cursor) = match older.get() {
                                        Some((s, msgs, cursor)) if Some(&s) == current.as_ref() => (msgs, cursor),
                                        _ => (Vec::new(), d.next_before.clone()),
                                    };
                                    let has_more = cursor.is_some();
                                    let all: Vec<MessageView> = extra.into_iter().chain(d.messages).collect();
                                    view! {
                                        <h1 class="visually-hidden">{d.session.title.clone()}</h1>
                                        {has_more
                                            .then(|| {
                                                view! {
                                                    <button
                                                        type="button"
                                                        class="button small load-older"
                                                        on:click=load_older
                                                        disabled=move || loading_older.get()
                                                        data-testid="load-older"
                                                    >
                                                        {move || if loading_older.get() { "Loading…" } else { "Load older messages" }}
                                                    </button>
                                                }
                                            })}
                                        {all
                                            .into_iter()
                                            .map(|m| {
                                                let key = m.clone();
                                                let hidden = Memo::new(move |_| {
                                                    live_keys.with(|k| shown_live(&key, k))
                                                        || ctx.replaced.with(|r| r.contains(&key.message_id))
                                                });
                                                view! { <StoredTurn message=m hidden=hidden ui=turn_ui/> }
                                            })
                                            .collect_view()}
                                    }
                                        .into_any()
                                }
                                Ok(None) => view! { <EmptyState ctx=ctx/> }.into_any(),
                                Err(e) if matches!(e.error, ErrorCode::NotFound | ErrorCode::SessionNotFound) => {
                                    view! {
                                        <div class="empty-state">
                                            <h1>"Chat not found"</h1>
                                            <p>"It may have been deleted. " <a href="/chat">"Start a new chat"</a></p>
                                        </div>
                                    }
                                        .into_any()
                                }
                                Err(e) => view! { <p class="form-alert" role="alert">{e.message}</p> }.into_any(),
                            })
                    }}
                </Transition>
                <For each=here_turns key=|t| t.with_untracked(|t| t.local_id) let:turn>
                    <LiveTurnView turn=turn ui=turn_ui/>
                </For>
            </div>
            <Composer on_send=move || pinned.set_value(true)/>
        </section>
    }
    .into_any()
}

#[component]
fn EmptyState(ctx: ChatCtx) -> impl IntoView {
    let nothing_live = move || ctx.turns.with(|ts| !ts.iter().any(|t| t.with(|t| t.session_id.is_none())));
    let safety = use_context::<crate::wire::safety::SafetyInfo>().unwrap_or_default();
    // Once per chat, here rather than in every answer.
    let disclosure = format!(
        "You are talking to an AI coach, not a clinician: it can be wrong and cannot examine or diagnose you. \
         In an emergency call {}. If you are thinking about suicide or self-harm, {}.",
        safety.emergency_number, safety.crisis_line
    );
    view! {
        <Show when=nothing_live>
            <div class="empty-state">
                <h1>"New chat"</h1>
                <p>"Ask about training, food, sleep, recovery or stress. The coach knows your profile."</p>
                <p class="ai-disclosure" data-testid="ai-disclosure">{disclosure.clone()}</p>
            </div>
        </Show>
    }
}

/// Shown under an answer that reached the length limit.
const CUT_OFF_NOTE: &str = "Cut off at the length limit";
/// What Continue sends: the coach has the cut-off answer in its history.
const CONTINUE_MESSAGE: &str = "Please continue where you left off.";

/// What every turn's buttons need to know about the conversation.
#[derive(Clone, Copy)]
struct TurnUi {
    ctx: ChatCtx,
    /// The newest turn shown (the one Regenerate and Edit apply to).
    last_id: Memo<Option<String>>,
    /// An answer is streaming in this chat.
    busy: Memo<bool>,
}

/// The guideline entries an answer drew on, numbered as the answer cites them.
#[component]
fn Sources(sources: Vec<Source>) -> impl IntoView {
    (!sources.is_empty()).then(|| {
        view! {
            <div class="sources" data-testid="sources">
                <p class="sources-title">"Sources"</p>
                <ol>
                    {sources
                        .into_iter()
                        .map(|s| {
                            view! {
                                <li data-source-id=s.id.clone()>
                                    <a href=s.url target="_blank" rel="noopener noreferrer nofollow">{s.title}</a>
                                    <span class="muted">{format!(" — {}, {} ({})", s.org, s.document, s.year)}</span>
                                </li>
                            }
                        })
                        .collect_view()}
                </ol>
            </div>
        }
    })
}

/// Regenerate and Edit, on the newest turn while nothing streams.
#[component]
fn TurnActions(
    ui: TurnUi,
    message_id: String,
    session_id: String,
    message: String,
    message_type: MessageType,
) -> impl IntoView {
    let shown = {
        let id = message_id.clone();
        move || !ui.busy.get() && ui.last_id.get().as_deref() == Some(id.as_str())
    };
    let regenerate = {
        let (session_id, message_id, message) = (session_id.clone(), message_id.clone(), message.clone());
        move |_| ui.ctx.regenerate(session_id.clone(), message_id.clone(), message.clone(), message_type)
    };
    let edit = move |_| {
        ui.ctx.editing.set(Some(Editing {
            session_id: session_id.clone(),
            message_id: message_id.clone(),
            message: message.clone(),
            message_type,
        }))
    };
    view! {
        <Show when=shown.clone()>
            <span class="turn-actions">
                <button type="button" class="button small" on:click=regenerate.clone() data-testid="regenerate">
                    "Regenerate"
                </button>
                <button type="button" class="button small" on:click=edit.clone() data-testid="edit">
                    "Edit question"
                </button>
            </span>
        </Show>
    }
}

/// One stored turn: the question, then the answer as Markdown.
#[component]
fn StoredTurn(message: MessageView, hidden: Memo<bool>, ui: TurnUi) -> impl IntoView {
    let ctx = ui.ctx;
    let note = match message.status {
        MessageStatus::Pending => Some("The answer is still being written — reload to see it."),
        MessageStatus::Stopped => Some("Stopped"),
        MessageStatus::CutOff => Some(CUT_OFF_NOTE),
        MessageStatus::Complete | MessageStatus::Failed | MessageStatus::Interrupted => None,
    };
    let cut_off = message.status == MessageStatus::CutOff;
    let continue_it = {
        let (session_id, kind) = (message.session_id.clone(), message.message_type);
        move |_| ctx.resend(Some(session_id.clone()), CONTINUE_MESSAGE.to_string(), kind)
    };
    let can_retry = matches!(message.status, MessageStatus::Failed | MessageStatus::Interrupted);
    let retry = {
        let (session_id, text, kind) = (message.session_id.clone(), message.message.clone(), message.message_type);
        move |_| ctx.resend(Some(session_id.clone()), text.clone(), kind)
    };
    let answer_html = markdown::render(&message.response);
    let has_answer = !message.response.is_empty();
    view! {
        <article class="turn" class:hidden=move || hidden.get() data-message-id=message.message_id.clone() data-testid="turn">
            <div class="bubble user">
                <p class="user-text" data-testid="user-text">{message.message.clone()}</p>
            </div>
            <div class="bubble coach" data-testid="answer">
                {has_answer.then(|| view! { <div class="markdown" inner_html=answer_html></div> })}
                <p class="meta">
                    <span class="tag">{type_label(message.message_type)}</span>
                    {message
                        .response_time_ms
                        .map(|ms| view! { <span class="response-time" data-testid="response-time">{format_response_time(ms)}</span> })}
                    {note.map(|n| view! { <span class="status-note">{n}</span> })}
                    {cut_off
                        .then(|| {
                            view! {
                                <button type="button" class="button small" on:click=continue_it data-testid="continue">
                                    "Continue"
                                </button>
                            }
                        })}
                    // Only stored turns: a question whose answer is still pending (or was cut
                    // off with its server) has no stored turn to replace yet.
                    {(message.status != MessageStatus::Pending && message.response_time_ms.is_some())
                        .then(|| {
                            view! {
                                <TurnActions
                                    ui=ui
                                    message_id=message.message_id.clone()
                                    session_id=message.session_id.clone()
                                    message=message.message.clone()
                                    message_type=message.message_type
                                />
                            }
                        })}
                </p>
                <Sources sources=message.sources.clone()/>
                {can_retry
                    .then(|| {
                        view! {
                            <div class="turn-error">
                                <span>"This answer did not finish."</span>
                                <button type="button" class="button small" on:click=retry data-testid="retry">"Retry"</button>
                            </div>
                        }
                    })}
            </div>
        </article>
    }
    .into_any()
}

/// A question asked on this page and its answer as it streams in.
#[component]
fn LiveTurnView(turn: ArcRwSignal<LiveTurn>, ui: TurnUi) -> impl IntoView {
    let ctx = ui.ctx;
    let t = turn.clone();
    let phase = Memo::new(move |_| t.with(|t| t.phase.clone()));
    let t = turn.clone();
    let text = Memo::new(move |_| t.with(|t| t.text.clone()));
    let t = turn.clone();
    let message_id = Memo::new(move |_| t.with(|t| t.message_id.clone()));
    let (message, message_type) = turn.with_untracked(|t| (t.message.clone(), t.message_type));
    let question = message.clone();
    let t = turn.clone();
    let retried = Memo::new(move |_| t.with(|t| t.retried));
    let streaming = move || matches!(phase.get(), Phase::Sending | Phase::Streaming);
    let typing =
        move || phase.get() == Phase::Sending || (phase.get() == Phase::Streaming && text.with(String::is_empty));
    let retry = {
        let turn = turn.clone();
        move |_| ctx.retry(&turn)
    };
    let replaced = move || message_id.with(|id| id.as_ref().is_some_and(|id| ctx.replaced.with(|r| r.contains(id))));
    view! {
        <article class="turn live" class:hidden=replaced data-message-id=move || message_id.get() data-testid="turn">
            <div class="bubble user">
                <p class="user-text" data-testid="user-text">{message}</p>
            </div>
            <div
                class="bubble coach"
                class:streaming=streaming
                aria-busy=move || streaming().to_string()
                data-testid="answer"
                data-state=move || match phase.get() {
                    Phase::Sending => "sending",
                    Phase::Streaming => "streaming",
                    Phase::Done { .. } => "done",
                    Phase::Failed { .. } => "failed",
                }
            >
                <Show when=typing>
                    <p class="typing" data-testid="typing">
                        <span class="visually-hidden">"The coach is typing"</span>
                        <span class="dot"></span>
                        <span class="dot"></span>
                        <span class="dot"></span>
                    </p>
                </Show>
                <Show when=move || !text.with(String::is_empty)>
                    <div class="markdown" data-testid="answer-text" inner_html=move || markdown::render(&text.get())></div>
                </Show>
                {move || match phase.get() {
                    Phase::Done { status, response_time_ms } => {
                        let note = match status {
                            MessageStatus::Stopped => Some("Stopped"),
                            MessageStatus::Interrupted => Some("Interrupted"),
                            MessageStatus::Failed => Some("The answer failed"),
                            MessageStatus::CutOff => Some(CUT_OFF_NOTE),
                            MessageStatus::Complete | MessageStatus::Pending => None,
                        };
                        let continue_it = {
                            let session_id = turn.with_untracked(|t| t.session_id.clone());
                            move |_| ctx.resend(session_id.clone(), CONTINUE_MESSAGE.to_string(), message_type)
                        };
                        let cut_off = (status == MessageStatus::CutOff).then(|| {
                            view! {
                                <button type="button" class="button small" on:click=continue_it data-testid="continue">
                                    "Continue"
                                </button>
                            }
                        });
                        let (ids, sources) = turn.with_untracked(|t| ((t.message_id.clone(), t.session_id.clone()), t.sources.clone()));
                        let actions = match ids {
                            (Some(message_id), Some(session_id)) => Some(view! {
                                <TurnActions
                                    ui=ui
                                    message_id=message_id
                                    session_id=session_id
                                    message=question.clone()
                                    message_type=message_type
                                />
                            }),
                            _ => None,
                        };
                        view! {
                            <p class="meta">
                                <span class="tag">{type_label(message_type)}</span>
                                <span class="response-time" data-testid="response-time">{format_response_time(response_time_ms)}</span>
                                {note.map(|n| view! { <span class="status-note">{n}</span> })}
                                {cut_off}
                                {actions}
                            </p>
                            <Sources sources=sources/>
                        }
                            .into_any()
                    }
                    Phase::Failed { message, .. } => {
                        let retry = retry.clone();
                        let button = move || {
                            (!retried.get())
                                .then(|| {
                                    view! {
                                        <button type="button" class="button small" on:click=retry.clone() data-testid="retry">
                                            "Retry"
                                        </button>
                                    }
                                })
                        };
                        view! {
                            <div class="turn-error" role="alert" data-testid="turn-error">
                                <span>{message}</span>
                                {button}
                            </div>
                        }
                            .into_any()
                    }
                    _ => ().into_any(),
                }}
            </div>
        </article>
    }
    .into_any()
}
