//! `/chat` and `/chat/:session_id`: the session sidebar, the conversation (rendered on the
//! server, so a reload shows the history at once and it reads without JavaScript) and the
//! composer, with answers streaming in over one WebSocket per page.

mod composer;
mod conversation;
mod live;
mod sidebar;
pub mod socket;
pub mod state;

use leptos::prelude::*;
use leptos_router::{
    components::Redirect,
    hooks::{use_navigate, use_params_map},
};

use crate::{
    api::{coach_model, current_user, get_session, list_sessions},
    components::header::{AppHeader, Here},
};
use live::ChatCtx;

#[component]
pub fn ChatPage() -> impl IntoView {
    let params = use_params_map();
    let current = Memo::new(move |_| params.with(|p| p.get("session_id")).filter(|s| !s.is_empty()));
    let user = Resource::new(|| (), |_| current_user());
    let model = Resource::new(|| (), |_| coach_model());
    let first_page = Resource::new(|| (), |_| list_sessions(None));
    let detail = Resource::new(
        move || current.get(),
        |id| async move {
            match id {
                Some(id) => get_session(id, None).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let ctx = ChatCtx::new(current, first_page);
    provide_context(ctx);

    // The socket opens in the browser once we know someone is signed in.
    let navigate = use_navigate();
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        let signed_in = user.with(|u| matches!(u, Some(Ok(Some(_)))));
        if signed_in {
            ctx.start(navigate.clone());
        }
        signed_in
    });
    on_cleanup(move || ctx.shutdown());

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let user = user.await;
                let model = model.await.ok();
                match user {
                    Ok(Some(user)) => view! { <ChatLayout user=user model=model detail=detail/> }.into_any(),
                    Ok(None) => view! { <Redirect path="/signin"/> }.into_any(),
                    Err(e) => view! { <p class="form-alert" role="alert">{e.message}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ChatLayout(
    user: crate::wire::auth::UserView,
    model: Option<crate::wire::chat::ModelInfo>,
    detail: conversation::DetailResource,
) -> impl IntoView {
    let ctx = expect_ctx();
    let open = ctx.sidebar_open;
    // The new-chat notice names this deployment's emergency number and crisis line.
    provide_context(model.as_ref().map(|m| m.safety.clone()).unwrap_or_default());
    view! {
        <div class="app-page chat-page" class:sidebar-open=move || open.get()>
            <AppHeader user=user model=model here=Here::Chat>
                <button
                    type="button"
                    class="sidebar-toggle button small"
                    aria-controls="sidebar"
                    aria-expanded=move || open.get().to_string()
                    data-testid="sidebar-toggle"
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    <span aria-hidden="true">"☰"</span>
                    " Chats"
                </button>
            </AppHeader>
            <div class="chat-layout">
                <sidebar::Sidebar/>
                <div class="sidebar-scrim" aria-hidden="true" on:click=move |_| open.set(false)></div>
                <conversation::Conversation detail=detail/>
            </div>
            <sidebar::ToastView/>
        </div>
    }
    .into_any()
}

/// The page's state; present under `ChatPage`, so a miss is a programming error shown as
/// an empty state rather than a panic.
fn use_ctx() -> Option<ChatCtx> {
    use_context::<ChatCtx>()
}

fn expect_ctx() -> ChatCtx {
    // Every caller is rendered inside ChatPage, which provides the context first.
    use_ctx().unwrap_or_else(|| ChatCtx::new(Memo::new(|_| None), Resource::new(|| (), |_| list_sessions(None))))
}
