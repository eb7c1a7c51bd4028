//! The composer: Enter sends, Shift+Enter adds a line; a topic select; Send, and Stop
//! while an answer streams. Also shows the connection state and errors that belong to no
//! message.

use leptos::{ev::SubmitEvent, prelude::*};

use super::{expect_ctx, live::Conn};
use crate::wire::chat::{MessageType, MAX_MESSAGE_CHARS};

/// A person-friendly name for a message type.
pub fn type_label(message_type: MessageType) -> &'static str {
    match message_type {
        MessageType::General => "General",
        MessageType::FitnessPlan => "Fitness plan",
        MessageType::Nutrition => "Nutrition",
        MessageType::Sleep => "Sleep",
        MessageType::Recovery => "Recovery",
        MessageType::MentalHealth => "Mental health",
    }
}

#[component]
pub fn Composer(
    /// Called after a message is handed to the socket.
    on_send: impl Fn() + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let ctx = expect_ctx();
    let text = RwSignal::new(String::new());
    let message_type = RwSignal::new(MessageType::General);
    let error = RwSignal::new(None::<String>);
    let busy = Memo::new(move |_| {
        let current = ctx.current.get();
        ctx.turns.with(|ts| ts.iter().any(|t| t.with(|t| t.in_flight() && t.session_id == current)))
    });

    // Edit: the last question comes back into the composer; sending replaces it.
    Effect::new(move |_| {
        if let Some(editing) = ctx.editing.get() {
            text.set(editing.message);
            message_type.set(editing.message_type);
        }
    });
    let send = move || {
        let message = text.get_untracked();
        if message.trim().is_empty() || busy.get_untracked() {
            return;
        }
        if message.chars().count() > MAX_MESSAGE_CHARS {
            error.set(Some(format!("A message is at most {MAX_MESSAGE_CHARS} characters.")));
            return;
        }
        error.set(None);
        ctx.send(message, message_type.get_untracked());
        text.set(String::new());
        on_send();
    };
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        send();
    };
    let keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };

    view! {
        <form class="composer" on:submit=submit data-testid="composer">
            <div class="composer-status">
                {move || {
                    (ctx.conn.get() == Conn::Reconnecting)
                        .then(|| view! { <span class="conn-state" role="status" data-testid="reconnecting">"Reconnecting…"</span> })
                }}
                <div class="form-alert-slot" id="chat-notice" role="alert" data-testid="chat-notice">
                    {move || ctx.notice.get().or_else(|| error.get()).map(|n| view! { <p class="form-alert">{n}</p> })}
                </div>
            </div>
            {move || {
                ctx.editing
                    .get()
                    .map(|_| {
                        view! {
                            <p class="editing-note" data-testid="editing">
                                "Editing your last question: sending replaces it and its answer. "
                                <button
                                    type="button"
                                    class="button small"
                                    on:click=move |_| {
                                        ctx.editing.set(None);
                                        text.set(String::new());
                                    }
                                    data-testid="cancel-edit"
                                >
                                    "Cancel"
                                </button>
                            </p>
                        }
                    })
            }}
            <label for="composer-input" class="visually-hidden">"Message"</label>
            <textarea
                id="composer-input"
                name="message"
                rows="2"
                placeholder="Ask about training, food, sleep… (Enter sends, Shift+Enter for a new line)"
                aria-describedby="chat-notice"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
                on:keydown=keydown
                data-testid="composer-input"
            ></textarea>
            <div class="composer-bar">
                <label for="message-type" class="topic-label">"Topic"</label>
                <select
                    id="message-type"
                    name="message_type"
                    prop:value=move || message_type.get().as_str()
                    on:change=move |ev| message_type.set(MessageType::parse(&event_target_value(&ev)).unwrap_or_default())
                    data-testid="message-type"
                >
                    {MessageType::ALL
                        .into_iter()
                        .map(|t| {
                            view! {
                                <option value=t.as_str() selected=t == MessageType::default()>
                                    {type_label(t)}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
                <span class="spacer"></span>
                <button
                    type="button"
                    class="button stop"
                    class:invisible=move || !busy.get()
                    disabled=move || !busy.get()
                    on:click=move |_| ctx.stop()
                    data-testid="stop"
                >
                    "Stop"
                </button>
                <button type="submit" class="button primary" disabled=move || busy.get() data-testid="send">
                    "Send"
                </button>
            </div>
        </form>
    }
    .into_any()
}
