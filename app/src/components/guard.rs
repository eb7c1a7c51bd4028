//! Redirects decided by who is signed in: the home and auth pages send a signed-in visitor
//! to the chat.
//! (Pages that need a user redirect signed-out visitors themselves, since they need the
//! user anyway.) The routes render with `SsrMode::Async`, so on the server these become
//! real 302 responses.

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::api::current_user;

/// Renders nothing; redirects to `/chat` when someone is signed in.
#[component]
pub fn RedirectIfSignedIn() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(_)) => Some(view! { <Redirect path="/chat"/> }),
                    _ => None,
                }
            })}
        </Suspense>
    }
}
