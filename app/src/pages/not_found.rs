//! The page for any unknown path.

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="page-center">
            <section class="card narrow">
                <h1>"Page not found"</h1>
                <p><a href="/">"Back to the start"</a></p>
            </section>
        </main>
    }
}
