//! The header of the signed-in pages: the app name, the model notice, navigation and
//! sign-out.

use leptos::prelude::*;

use crate::{
    components::rest::{hard_navigate, post_json},
    wire::{auth::UserView, chat::ModelInfo},
};

/// Which page the header sits on (that link is marked current).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Here {
    Chat,
    Profile,
}

#[component]
pub fn AppHeader(
    user: UserView,
    model: Option<ModelInfo>,
    here: Here,
    /// Controls placed before the app name (the chat page's sidebar toggle).
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    let current = |page: Here| (page == here).then_some("page");
    let who = user.name.clone().unwrap_or_else(|| user.email.clone());
    view! {
        <header class="app-header">
            {children.map(|c| c())}
            <a class="brand" href="/chat">"Health Coach"</a>
            <span class="ai-label" data-testid="ai-label" title="Answers come from an AI model. It cannot examine or diagnose you.">
                "AI coach · not a clinician"
            </span>
            {model
                .filter(|m| m.is_local_demo)
                .map(|m| {
                    view! {
                        <span class="demo-label" data-testid="demo-label" title=m.name>
                            "Offline demo model — answers can be wrong"
                        </span>
                    }
                })}
            <nav class="header-nav" aria-label="Main">
                <a href="/chat" aria-current=current(Here::Chat)>"Chat"</a>
                <a href="/profile" aria-current=current(Here::Profile) data-testid="profile-link">"Profile"</a>
                <span class="who" title=user.email.clone()>{who}</span>
                <SignOutButton/>
            </nav>
        </header>
    }
    .into_any()
}

/// POSTs `/auth/signout` (the server clears the cookies), then loads `/signin` afresh.
#[component]
pub fn SignOutButton() -> impl IntoView {
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let sign_out = move |_| {
        pending.set(true);
        leptos::task::spawn_local(async move {
            let result = post_json::<_, serde_json::Value>("/auth/signout", &serde_json::json!({})).await;
            match result {
                Ok(_) => hard_navigate("/signin"),
                // Signed out already (an expired session) is still signed out.
                Err(e) if e.error == crate::wire::ErrorCode::Unauthorized => hard_navigate("/signin"),
                Err(e) => {
                    error.set(Some(e.message));
                    pending.set(false);
                }
            }
        });
    };
    view! {
        <button type="button" class="button small" on:click=sign_out disabled=move || pending.get() data-testid="sign-out">
            "Sign out"
        </button>
        {move || error.get().map(|e| view! { <span class="inline-alert" role="alert">{e}</span> })}
    }
}
