//! The Leptos application: pages and components rendered on the server and hydrated in the
//! browser, plus the wire types both sides share.

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod components;
pub mod markdown;
pub mod pages;
pub mod validation;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// The HTML document around the app; only ever rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                // Hashed names when the build made them (`hash-files`), so they are cached for good.
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, after hydration: mark the page as interactive
    // (end-to-end tests wait for this instead of guessing).
    Effect::new(|_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Title text="Health Coach"/>
        <Router>
            // Pages that read the session render only once their data is ready
            // (`SsrMode::Async`): a signed-out visitor gets a real 302, and a chat's history
            // is in the HTML itself, readable without JavaScript.
            <Routes fallback=pages::not_found::NotFound>
                <Route path=path!("/") view=pages::home::HomePage ssr=SsrMode::Async/>
                <Route path=path!("/signup") view=pages::auth::SignupPage ssr=SsrMode::Async/>
                <Route path=path!("/verify") view=pages::auth::VerifySignupPage ssr=SsrMode::Async/>
                <Route path=path!("/signin") view=pages::auth::SigninPage ssr=SsrMode::Async/>
                <Route
                    path=path!("/verify-signin")
                    view=pages::auth::VerifySigninPage
                    ssr=SsrMode::Async
                />
                <Route path=path!("/profile") view=pages::profile::ProfilePage ssr=SsrMode::Async/>
                // One route for both, so moving from a new chat to its URL keeps the page
                // (and its socket) and only changes the parameter.
                <Route path=path!("/chat/:session_id?") view=pages::chat::ChatPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
