//! The sign-up page: email, password and an optional name; a code is emailed to confirm the
//! address, entered on `/verify`.

use leptos::prelude::*;

use super::form::{AuthCard, Credentials, CredentialsForm, Input};
use crate::{components::field::TextField, validation, wire::auth::SignupRequest};

#[component]
pub fn SignupPage() -> impl IntoView {
    let credentials = Credentials::default();
    let Credentials { password, .. } = credentials;
    let name = Input::new("name", String::new());
    let submit = credentials.ask_for_code(vec![name], "/auth/signup", "/verify", move |checks, email| {
        checks.take(validation::password(&password.get()));
        let name = Some(name.get().trim().to_string()).filter(|n| !n.is_empty());
        SignupRequest { email, password: password.get(), name }
    });

    view! {
        <AuthCard title="Create your account">
            <p class="lead">"We will email you a 6-digit code to confirm it is you."</p>
            <CredentialsForm credentials=credentials on_submit=submit idle="Create account" busy="Creating…"
                password_autocomplete="new-password" password_hint="At least 8 characters.">
                <TextField id="name" label="Name (optional)" value=name.value error=name.error autocomplete="name"/>
            </CredentialsForm>
            <p class="alt">"Already have an account? " <a href="/signin">"Sign in"</a></p>
        </AuthCard>
    }
    .into_any()
}
