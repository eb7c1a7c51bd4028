//! The profile page's "Your data" card: download everything stored about you, or delete
//! the account and all of it (confirmed with the password).

use leptos::{ev::SubmitEvent, prelude::*};

use crate::{
    api::delete_account,
    components::{
        field::{FormAlert, SubmitButton, TextField},
        rest::hard_navigate,
    },
};

#[component]
pub fn YourData() -> impl IntoView {
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        if password.with_untracked(String::is_empty) {
            error.set(Some("Type your password to confirm.".into()));
            return;
        }
        pending.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match delete_account(password.get_untracked()).await {
                // Nothing of the account is left, the session included: start afresh.
                Ok(()) => hard_navigate("/signup"),
                Err(e) => {
                    error.set(Some(e.message));
                    pending.set(false);
                }
            }
        });
    };
    view! {
        <section class="card" data-testid="your-data">
            <h2>"Your data"</h2>
            <p>
                "Everything stored about you — profile, chats, answers and sign-ins — as one file. "
                <a class="button" href="/users/me/export" download="health-coach-export.json" data-testid="export-data">
                    "Download my data"
                </a>
            </p>
            <form class="stack" on:submit=submit novalidate>
                <p>"Deleting the account removes all of it for good and signs you out everywhere."</p>
                <TextField
                    id="delete_password"
                    label="Password"
                    input_type="password"
                    autocomplete="current-password"
                    value=password
                    error=Signal::derive(|| None::<String>)
                />
                <FormAlert error=error/>
                <div class="actions">
                    <SubmitButton pending=pending idle="Delete my account" busy="Deleting…"/>
                </div>
            </form>
        </section>
    }
}
