//! The landing page: what the coach is, and the way in. Signed in, it is the chat.

use leptos::prelude::*;

use crate::components::guard::RedirectIfSignedIn;

#[component]
pub fn HomePage() -> impl IntoView {
    // A small interactive piece: it only works once the WASM has hydrated the page.
    let (show_tips, set_show_tips) = signal(false);
    view! {
        <RedirectIfSignedIn/>
        <main class="page-center">
            <section class="card narrow home">
                <h1>"Your health coach"</h1>
                <p class="lead">
                    "Talk through training, food, sleep and recovery with an assistant that knows your profile and remembers every conversation."
                </p>
                <nav class="actions">
                    <a class="button primary" href="/signup">"Create an account"</a>
                    <a class="button" href="/signin">"Sign in"</a>
                </nav>
                <button
                    class="link"
                    data-testid="tips-toggle"
                    aria-expanded=move || show_tips.get().to_string()
                    on:click=move |_| set_show_tips.update(|v| *v = !*v)
                >
                    {move || if show_tips.get() { "Hide what it can do" } else { "What can it do?" }}
                </button>
                <Show when=move || show_tips.get()>
                    <ul class="tips" data-testid="tips">
                        <li>"Plan workouts that fit your fitness level and goals."</li>
                        <li>"Talk about nutrition, sleep and stress."</li>
                        <li>"Urgent symptoms always get pointed to emergency help first."</li>
                    </ul>
                </Show>
            </section>
        </main>
    }
}
