//! Sign-up, sign-in and the two "enter the code from the email" steps. Each is a real
//! `<form>` posting JSON to `/auth/*` from the browser; the typed email travels between
//! the steps in the `?email=` query parameter.

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::{
    components::{
        field::{focus_by_id, FieldErrorText, TextField},
        guard::RedirectIfSignedIn,
        rest::{encode_query_value, post_json},
    },
    wire::ApiError,
    wire::auth::{CodeSent, ResendCodeRequest, SigninRequest, SignupRequest, TokenResponse, VerifyCodeRequest},
};

/// The `email` query parameter, or empty.
fn query_email() -> String {
    use_query_map().with_untracked(|q| q.get("email").unwrap_or_default())
}

/// The same checks the server makes, so most mistakes are caught before a round trip.
fn check_email(email: &str) -> Option<String> {
    let email = email.trim();
    let ok = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.ends_with('.'));
    (!ok).then(|| "Enter a valid email address, like you@example.com.".to_string())
}

fn check_password(password: &str) -> Option<String> {
    match password.chars().count() {
        0..8 => Some("The password must be at least 8 characters.".into()),
        129.. => Some("The password must be at most 128 characters.".into()),
        _ => None,
    }
}

fn check_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() != 6 || !digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| "The code is the 6 digits from the email.".to_string())
}

/// Which field a server error belongs to, when the server named one.
fn error_field(e: &ApiError) -> Option<&str> {
    e.fields.first().map(|f| f.field.as_str())
}

/// The form-level error line (server errors), announced when it appears.
#[component]
fn FormAlert(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    view! {
        <div class="form-alert-slot" role="alert" data-testid="form-error">
            {move || error.get().map(|e| view! { <p class="form-alert">{e}</p> })}
        </div>
    }
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let email = RwSignal::new(query_email());
    let password = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let email_error = RwSignal::new(None::<String>);
    let password_error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);
    let navigate = use_navigate();

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        form_error.set(None);
        email_error.set(check_email(&email.get_untracked()));
        password_error.set(check_password(&password.get_untracked()));
        if email_error.get_untracked().is_some() {
            return focus_by_id("email");
        }
        if password_error.get_untracked().is_some() {
            return focus_by_id("password");
        }
        let body = SignupRequest {
            email: email.get_untracked().trim().to_string(),
            password: password.get_untracked(),
            name: Some(name.get_untracked().trim().to_string()).filter(|n| !n.is_empty()),
        };
        pending.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match post_json::<_, CodeSent>("/auth/signup", &body).await {
                Ok(sent) => {
                    let to = if sent.email.is_empty() { body.email } else { sent.email };
                    navigate(&format!("/verify?email={}", encode_query_value(&to)), Default::default());
                }
                Err(e) => {
                    match error_field(&e) {
                        Some("email") => email_error.set(Some(e.message)),
                        Some(_) => password_error.set(Some(e.message)),
                        None => form_error.set(Some(e.message)),
                    }
                    pending.set(false);
                }
            }
        });
    };

    view! {
        <RedirectIfSignedIn/>
        <main class="page-center">
            <section class="card narrow">
                <h1>"Create your account"</h1>
                <p class="lead">"We will email you a 6-digit code to confirm it is you."</p>
                <form class="stack" on:submit=submit novalidate>
                    <TextField id="email" label="Email" value=email error=email_error input_type="email" autocomplete="email" required=true/>
                    <TextField
                        id="password"
                        label="Password"
                        value=password
                        error=password_error
                        input_type="password"
                        autocomplete="new-password"
                        hint="At least 8 characters."
                        required=true
                    />
                    <TextField id="name" label="Name (optional)" value=name error=Signal::derive(|| None::<String>) autocomplete="name"/>
                    <FormAlert error=form_error/>
                    <button type="submit" class="button primary" disabled=move || pending.get()>
                        {move || if pending.get() { "Creating…" } else { "Create account" }}
                    </button>
                </form>
                <p class="alt">"Already have an account? " <a href="/signin">"Sign in"</a></p>
            </section>
        </main>
    }
    .into_any()
}

#[component]
pub fn SigninPage() -> impl IntoView {
    let email = RwSignal::new(query_email());
    let password = RwSignal::new(String::new());
    let email_error = RwSignal::new(None::<String>);
    let password_error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);
    let navigate = use_navigate();

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        form_error.set(None);
        email_error.set(check_email(&email.get_untracked()));
        password_error.set(password.with_untracked(|p| p.is_empty()).then(|| "Enter your password.".to_string()));
        if email_error.get_untracked().is_some() {
            return focus_by_id("email");
        }
        if password_error.get_untracked().is_some() {
            return focus_by_id("password");
        }
        let body =
            SigninRequest { email: email.get_untracked().trim().to_string(), password: password.get_untracked() };
        pending.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match post_json::<_, CodeSent>("/auth/signin", &body).await {
                Ok(sent) => {
                    let to = if sent.email.is_empty() { body.email } else { sent.email };
                    navigate(&format!("/verify-signin?email={}", encode_query_value(&to)), Default::default());
                }
                Err(e) => {
                    if error_field(&e) == Some("email") {
                        email_error.set(Some(e.message));
                    } else {
                        form_error.set(Some(e.message));
                    }
                    pending.set(false);
                }
            }
        });
    };

    view! {
        <RedirectIfSignedIn/>
        <main class="page-center">
            <section class="card narrow">
                <h1>"Sign in"</h1>
                <p class="lead">"After your password we email you a 6-digit code."</p>
                <form class="stack" on:submit=submit novalidate>
                    <TextField id="email" label="Email" value=email error=email_error input_type="email" autocomplete="email" required=true/>
                    <TextField
                        id="password"
                        label="Password"
                        value=password
                        error=password_error
                        input_type="password"
                        autocomplete="current-password"
                        required=true
                    />
                    <FormAlert error=form_error/>
                    <button type="submit" class="button primary" disabled=move || pending.get()>
                        {move || if pending.get() { "Signing in…" } else { "Continue" }}
                    </button>
                </form>
                <p class="alt">"New here? " <a href="/signup">"Create an account"</a></p>
            </section>
        </main>
    }
    .into_any()
}

/// Which code a verify page checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Signup,
    Signin,
}

impl Purpose {
    fn endpoint(self) -> &'static str {
        match self {
            Purpose::Signup => "/auth/verify-email",
            Purpose::Signin => "/auth/verify-signin",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Purpose::Signup => "signup",
            Purpose::Signin => "signin",
        }
    }
}

#[component]
pub fn VerifySignupPage() -> impl IntoView {
    view! { <VerifyForm purpose=Purpose::Signup/> }
}

#[component]
pub fn VerifySigninPage() -> impl IntoView {
    view! { <VerifyForm purpose=Purpose::Signin/> }
}

#[component]
fn VerifyForm(purpose: Purpose) -> impl IntoView {
    let initial_email = query_email();
    let email_known = !initial_email.trim().is_empty();
    let email = RwSignal::new(initial_email);
    let code = RwSignal::new(String::new());
    let email_error = RwSignal::new(None::<String>);
    let code_error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);
    let resending = RwSignal::new(false);
    let navigate = use_navigate();

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        form_error.set(None);
        notice.set(None);
        email_error.set(check_email(&email.get_untracked()));
        code_error.set(check_code(&code.get_untracked()));
        if email_error.get_untracked().is_some() {
            return focus_by_id("email");
        }
        if code_error.get_untracked().is_some() {
            return focus_by_id("code");
        }
        let body = VerifyCodeRequest {
            email: email.get_untracked().trim().to_string(),
            code: code.get_untracked().chars().filter(|c| !c.is_whitespace()).collect(),
        };
        pending.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match post_json::<_, TokenResponse>(purpose.endpoint(), &body).await {
                Ok(_) => navigate("/chat", Default::default()),
                Err(e) => {
                    if e.message.to_lowercase().contains("code") {
                        code_error.set(Some(e.message));
                        focus_by_id("code");
                    } else {
                        form_error.set(Some(e.message));
                    }
                    pending.set(false);
                }
            }
        });
    };

    let resend = move |_| {
        if resending.get_untracked() {
            return;
        }
        form_error.set(None);
        notice.set(None);
        email_error.set(check_email(&email.get_untracked()));
        if email_error.get_untracked().is_some() {
            return focus_by_id("email");
        }
        let body =
            ResendCodeRequest { email: email.get_untracked().trim().to_string(), purpose: purpose.name().into() };
        resending.set(true);
        leptos::task::spawn_local(async move {
            match post_json::<_, serde_json::Value>("/auth/resend-code", &body).await {
                Ok(_) => notice.set(Some(format!("A new code is on its way to {}.", body.email))),
                Err(e) => form_error.set(Some(e.message)),
            }
            resending.set(false);
        });
    };

    let (title, back_href, back_text) = match purpose {
        Purpose::Signup => ("Confirm your email", "/signup", "Use a different email"),
        Purpose::Signin => ("Enter your sign-in code", "/signin", "Back to sign in"),
    };
    let shown_email = email.get_untracked();
    view! {
        <RedirectIfSignedIn/>
        <main class="page-center">
            <section class="card narrow">
                <h1>{title}</h1>
                {if email_known {
                    view! {
                        <p class="lead">"We sent a 6-digit code to " <strong data-testid="code-email">{shown_email}</strong> "."</p>
                    }
                        .into_any()
                } else {
                    view! { <p class="lead">"Enter your email and the 6-digit code we sent you."</p> }.into_any()
                }}
                <form class="stack" on:submit=submit novalidate>
                    {(!email_known)
                        .then(|| {
                            view! {
                                <TextField id="email" label="Email" value=email error=email_error input_type="email" autocomplete="email" required=true/>
                            }
                        })}
                    <div class="field">
                        <label for="code">"Code"</label>
                        <input
                            id="code"
                            name="code"
                            class="code-input"
                            inputmode="numeric"
                            autocomplete="one-time-code"
                            maxlength="7"
                            required=true
                            prop:value=move || code.get()
                            aria-invalid=move || code_error.with(|e| e.is_some()).then_some("true")
                            aria-describedby=move || code_error.with(|e| e.is_some()).then_some("code-error")
                            on:input=move |ev| code.set(event_target_value(&ev))
                        />
                        <FieldErrorText id="code" error=code_error/>
                    </div>
                    <FormAlert error=form_error/>
                    <p class="status-line" role="status">{move || notice.get()}</p>
                    <div class="actions">
                        <button type="submit" class="button primary" disabled=move || pending.get()>
                            {move || if pending.get() { "Checking…" } else { "Verify" }}
                        </button>
                        <button type="button" class="button" on:click=resend disabled=move || resending.get() data-testid="resend-code">
                            "Resend code"
                        </button>
                    </div>
                </form>
                <p class="alt"><a href=back_href>{back_text}</a></p>
            </section>
        </main>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_checks_match_the_server_rules() {
        assert!(check_email("you@example.com").is_none());
        assert!(check_email("nope").is_some());
        assert!(check_email("a@b").is_some());
        assert!(check_password("1234567").is_some());
        assert!(check_password("12345678").is_none());
        assert!(check_code("123 456").is_none());
        assert!(check_code("12345").is_some());
        assert!(check_code("abcdef").is_some());
    }
}
