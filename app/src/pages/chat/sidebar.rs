//! The list of chats: newest first, "Load more" by cursor, inline rename, delete with an
//! "Undo" toast; kept in step with other tabs by the socket's `session_*` frames.

use std::time::Duration;

use leptos::{
    ev::{MouseEvent, SubmitEvent},
    html,
    prelude::*,
};

use super::{expect_ctx, live::ChatCtx};
use crate::{
    api::{delete_session, list_sessions, rename_session, restore_session},
    wire::chat::{SessionSummary, MAX_TITLE_CHARS},
};

/// How long the "Undo" of a delete stays offered.
const UNDO_FOR: Duration = Duration::from_secs(8);

#[component]
pub fn Sidebar() -> impl IntoView {
    let ctx = expect_ctx();
    let loading_more = RwSignal::new(false);
    let load_more = move |_: ()| {
        let Some(cursor) = untrack(|| ctx.next_cursor()) else { return };
        loading_more.set(true);
        leptos::task::spawn_local(async move {
            match list_sessions(Some(cursor)).await {
                Ok(page) => {
                    ctx.more.update(|m| m.extend(page.sessions));
                    ctx.more_cursor.set(Some(page.next_cursor));
                }
                Err(e) => ctx.notice.set(Some(e.message)),
            }
            loading_more.set(false);
        });
    };
    // Reaching the end of the list loads the next page, like the button does.
    let on_scroll = move |ev: leptos::ev::Event| {
        use leptos::wasm_bindgen::JsCast;
        let Some(el) = ev.target().and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok()) else { return };
        let near_end = el.scroll_top() + el.client_height() >= el.scroll_height() - 40;
        if near_end && !loading_more.get_untracked() && untrack(|| ctx.next_cursor()).is_some() {
            load_more(());
        }
    };
    let new_chat = move |_| {
        ctx.sidebar_open.set(false);
        ctx.notice.set(None);
    };
    view! {
        <aside id="sidebar" class="sidebar" aria-label="Chats" on:scroll=on_scroll>
            <a class="button primary new-chat" href="/chat" on:click=new_chat data-testid="new-chat">
                "+ New chat"
            </a>
            <Transition fallback=|| view! { <p class="muted pad">"Loading chats…"</p> }>
                {move || {
                    ctx.first_page
                        .with(|p| p.as_ref().map(|r| r.as_ref().err().map(|e| e.message.clone())))
                        .map(|error| match error {
                            Some(message) => view! { <p class="form-alert" role="alert">{message}</p> }.into_any(),
                            None => {
                                view! {
                                    <ul class="session-list" data-testid="session-list">
                                        <For
                                            each=move || ctx.sessions()
                                            key=|s| (s.session_id.clone(), s.title.clone())
                                            let:session
                                        >
                                            <SessionItem session=session/>
                                        </For>
                                    </ul>
                                    <Show when=move || ctx.sessions().is_empty()>
                                        <p class="muted pad">"No chats yet. Ask your first question!"</p>
                                    </Show>
                                    <Show when=move || ctx.next_cursor().is_some()>
                                        <button
                                            type="button"
                                            class="button small load-more"
                                            on:click=move |_| load_more(())
                                            disabled=move || loading_more.get()
                                            data-testid="load-more-sessions"
                                        >
                                            {move || if loading_more.get() { "Loading…" } else { "Load more" }}
                                        </button>
                                    </Show>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </aside>
    }
    .into_any()
}

#[component]
fn SessionItem(session: SessionSummary) -> impl IntoView {
    let ctx = expect_ctx();
    let id = session.session_id.clone();
    let title = session.title.clone();
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(title.clone());
    let error = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Input>::new();
    let is_current = {
        let id = id.clone();
        Memo::new(move |_| ctx.current.with(|c| c.as_deref() == Some(id.as_str())))
    };

    let start_edit = {
        let title = title.clone();
        move |_| {
            draft.set(title.clone());
            error.set(None);
            editing.set(true);
            // Focus the field once it is in the DOM.
            request_animation_frame(move || {
                if let Some(el) = input.get_untracked() {
                    let _ = el.focus();
                    el.select();
                }
            });
        }
    };
    let save = {
        let session = session.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let new_title = draft.get_untracked().trim().to_string();
            if new_title.is_empty() || new_title.chars().count() > MAX_TITLE_CHARS {
                error.set(Some(format!("A title is 1 to {MAX_TITLE_CHARS} characters.")));
                return;
            }
            if new_title == session.title {
                editing.set(false);
                return;
            }
            let id = session.session_id.clone();
            leptos::task::spawn_local(async move {
                match rename_session(id, new_title).await {
                    Ok(s) => {
                        editing.set(false);
                        ctx.upsert_session(s);
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let delete = {
        let session = session.clone();
        move |_| {
            let session = session.clone();
            leptos::task::spawn_local(async move {
                match delete_session(session.session_id.clone()).await {
                    Ok(()) => {
                        ctx.remove_session(&session.session_id);
                        let toast = ctx.show_toast(format!("Deleted “{}”.", session.title), Some(session));
                        set_timeout(
                            move || {
                                if ctx.toast.try_with_untracked(|t| t.as_ref().map(|t| t.id)).flatten() == Some(toast) {
                                    ctx.toast.set(None);
                                }
                            },
                            UNDO_FOR,
                        );
                    }
                    Err(e) => ctx.notice.set(Some(e.message)),
                }
            });
        }
    };
    let href = format!("/chat/{id}");
    let input_id = format!("rename-{id}");
    let error_id = format!("rename-{id}-error");
    view! {
        <li class="session-item" class:current=move || is_current.get() data-testid="session-item" data-session-id=id.clone()>
            <Show
                when=move || editing.get()
                fallback={
                    let href = href.clone();
                    let title = title.clone();
                    let start_edit = start_edit.clone();
                    let delete = delete.clone();
                    move || {
                        view! {
                            <a
                                class="session-link"
                                href=href.clone()
                                aria-current=move || is_current.get().then_some("page")
                                on:click=move |_| ctx.sidebar_open.set(false)
                            >
                                {title.clone()}
                            </a>
                            <span class="session-actions">
                                <ActionButton action=Action::Rename of=title.clone() on_click=start_edit.clone()/>
                                <ActionButton action=Action::Delete of=title.clone() on_click=delete.clone()/>
                            </span>
                        }
                    }
                }
            >
                <form class="rename-form" on:submit=save.clone()>
                    <label class="visually-hidden" for=input_id.clone()>"Chat title"</label>
                    <input
                        id=input_id.clone()
                        node_ref=input
                        maxlength=MAX_TITLE_CHARS.to_string()
                        prop:value=move || draft.get()
                        aria-invalid=move || error.with(|e| e.is_some()).then_some("true")
                        aria-describedby={
                            let error_id = error_id.clone();
                            move || error.with(|e| e.is_some()).then(|| error_id.clone())
                        }
                        data-testid="rename-input"
                        on:input=move |ev| draft.set(event_target_value(&ev))
                        on:keydown=move |ev| {
                            if ev.key() == "Escape" {
                                editing.set(false);
                            }
                        }
                    />
                    <button type="submit" class="button small">"Save"</button>
                    <button type="button" class="button small" on:click=move |_| editing.set(false)>"Cancel"</button>
                    {
                        let error_id = error_id.clone();
                        move || error.get().map(|e| view! { <p class="field-error" id=error_id.clone()>{e}</p> })
                    }
                </form>
            </Show>
        </li>
    }
    .into_any()
}

/// What a session's icon buttons do.
#[derive(Debug, Clone, Copy)]
enum Action {
    Rename,
    Delete,
}

impl Action {
    /// Class, title (also the start of the accessible name), test id and icon.
    fn looks(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Action::Rename => ("icon-button", "Rename", "rename-session", "✎"),
            Action::Delete => ("icon-button danger", "Delete", "delete-session", "✕"),
        }
    }
}

/// A session's icon button, named "Rename “title”" (or "Delete …") for screen readers.
#[component]
fn ActionButton(action: Action, of: String, on_click: impl Fn(MouseEvent) + 'static) -> impl IntoView {
    let (class, title, testid, icon) = action.looks();
    view! {
        <button type="button" class=class aria-label=format!("{title} “{of}”") title=title data-testid=testid on:click=on_click>
            <span aria-hidden="true">{icon}</span>
        </button>
    }
}

/// The toast region ("Deleted … Undo").
#[component]
pub fn ToastView() -> impl IntoView {
    let ctx = expect_ctx();
    view! {
        <div class="toast-region" aria-live="polite">
            {move || ctx.toast.get().map(|toast| view! { <Toast toast=toast ctx=ctx/> })}
        </div>
    }
}

#[component]
fn Toast(toast: super::live::Toast, ctx: ChatCtx) -> impl IntoView {
    let undo = toast.undo_session.clone().map(|session| {
        let restore = move |_| {
            let session = session.clone();
            ctx.toast.set(None);
            leptos::task::spawn_local(async move {
                match restore_session(session.session_id.clone()).await {
                    Ok(s) => ctx.upsert_session(s),
                    Err(e) => ctx.notice.set(Some(e.message)),
                }
            });
        };
        view! {
            <button type="button" class="button small" on:click=restore data-testid="undo-delete">"Undo"</button>
        }
    });
    view! {
        <div class="toast" role="status" data-testid="toast">
            <span>{toast.text}</span>
            {undo}
            <button type="button" class="icon-button" aria-label="Dismiss" on:click=move |_| ctx.toast.set(None)>
                <span aria-hidden="true">"×"</span>
            </button>
        </div>
    }
}
