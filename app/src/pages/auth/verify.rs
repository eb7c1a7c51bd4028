//! The two "enter the code from the email" pages (`/verify` after sign-up, `/verify-signin`
//! after sign-in): one form with a purpose, plus "Resend code".

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_router::hooks::use_navigate;

use super::form::{query_email, AuthCard, FormState, Input};
use crate::{
    components::{
        field::{FieldErrorText, FormAlert, SubmitButton, TextField},
        rest::post_json,
    },
    validation::{self, Checks},
    wire::{
        auth::{ResendCodeRequest, TokenResponse, VerifyCodeRequest},
        ApiError, ErrorCode, FieldError,
    },
};

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

/// The code endpoints refuse a wrong, expired or used-up code with a `bad_request` that
/// names no field; on this form that can only be the code's problem.
fn on_the_code(mut e: ApiError) -> ApiError {
    if e.error == ErrorCode::BadRequest && e.fields.is_empty() {
        e.fields.push(FieldError { field: "code".into(), message: e.message.clone() });
    }
    e
}

#[component]
fn VerifyForm(purpose: Purpose) -> impl IntoView {
    let email = Input::new("email", query_email());
    let email_known = !email.get().trim().is_empty();
    let code = Input::new("code", String::new());
    let form = FormState::default();
    let resender = form.sharing_alert();
    let notice = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    // The email input is only there when the address did not come with the link.
    let shown = move |others: &[Input]| {
        let mut inputs = if email_known { Vec::new() } else { vec![email] };
        inputs.extend_from_slice(others);
        inputs
    };
    // Both actions start alike: the notice goes, the email is checked.
    let start = move |checks: &mut Checks| {
        notice.set(None);
        let address = email.get().trim().to_string();
        checks.take(validation::email(&address));
        address
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let navigate = navigate.clone();
        let call = || {
            let mut checks = Checks::default();
            let address = start(&mut checks);
            let digits = checks.take(validation::code(&code.get())).unwrap_or_default();
            checks.finish()?;
            let body = VerifyCodeRequest { email: address, code: digits };
            Ok(async move { post_json::<_, TokenResponse>(purpose.endpoint(), &body).await.map_err(on_the_code) })
        };
        form.send(shown(&[code]), call, move |_| navigate("/chat", Default::default()));
    };

    let resend = move |_| {
        let call = || {
            let mut checks = Checks::default();
            let address = start(&mut checks);
            checks.finish()?;
            let body = ResendCodeRequest { email: address, purpose: purpose.name().into() };
            Ok(async move { post_json::<_, serde_json::Value>("/auth/resend-code", &body).await.map(|_| body.email) })
        };
        let done = move |to: String| {
            notice.set(Some(format!("A new code is on its way to {to}.")));
            resender.pending.set(false);
        };
        resender.send(shown(&[]), call, done);
    };

    let (title, back_href, back_text) = match purpose {
        Purpose::Signup => ("Confirm your email", "/signup", "Use a different email"),
        Purpose::Signin => ("Enter your sign-in code", "/signin", "Back to sign in"),
    };
    let shown_email = email.get();
    view! {
        <AuthCard title=title>
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
                            <TextField id="email" label="Email" value=email.value error=email.error input_type="email" autocomplete="email" required=true/>
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
                        prop:value=move || code.value.get()
                        aria-invalid=move || code.error.with(|e| e.is_some()).then_some("true")
                        aria-describedby=move || code.error.with(|e| e.is_some()).then_some("code-error")
                        on:input=move |ev| code.value.set(event_target_value(&ev))
                    />
                    <FieldErrorText id="code" error=code.error/>
                </div>
                <FormAlert error=form.alert/>
                <p class="status-line" role="status">{move || notice.get()}</p>
                <div class="actions">
                    <SubmitButton pending=form.pending idle="Verify" busy="Checking…"/>
                    <button type="button" class="button" on:click=resend disabled=move || resender.pending.get() data-testid="resend-code">
                        "Resend code"
                    </button>
                </div>
            </form>
            <p class="alt"><a href=back_href>{back_text}</a></p>
        </AuthCard>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_code_is_the_code_fields_problem() {
        let e = on_the_code(ApiError::new(ErrorCode::BadRequest, "The code is wrong or has expired."));
        assert_eq!(e.field("code").as_deref(), Some("The code is wrong or has expired."));
        let limited = on_the_code(ApiError::new(ErrorCode::RateLimited, "Too many attempts."));
        assert!(limited.fields.is_empty());
    }
}
