//! The sign-in page: email and password; a code is emailed, entered on `/verify-signin`.

use leptos::prelude::*;

use super::form::{AuthCard, Credentials, CredentialsForm};
use crate::wire::{auth::SigninRequest, FieldError};

/// Signing in only needs a password typed (the length rules are for new passwords).
fn entered(password: &str) -> Result<(), FieldError> {
    if password.is_empty() {
        Err(FieldError { field: "password".into(), message: "Enter your password.".into() })
    } else {
        Ok(())
    }
}

#[component]
pub fn SigninPage() -> impl IntoView {
    let credentials = Credentials::default();
    let Credentials { password, .. } = credentials;
    let submit = credentials.ask_for_code(Vec::new(), "/auth/signin", "/verify-signin", move |checks, email| {
        checks.take(entered(&password.get()));
        SigninRequest { email, password: password.get() }
    });

    view! {
        <AuthCard title="Sign in">
            <p class="lead">"After your password we email you a 6-digit code."</p>
            <CredentialsForm credentials=credentials on_submit=submit idle="Continue" busy="Signing in…" password_autocomplete="current-password"/>
            <p class="alt">"New here? " <a href="/signup">"Create an account"</a></p>
        </AuthCard>
    }
    .into_any()
}
