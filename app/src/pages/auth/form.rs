//! What the sign-up, sign-in and code forms share: the card they sit in, their inputs and
//! error signals, the submit with its pending state, and how an `ApiError` lands on the
//! form (each `fields` entry under its input, anything else in the form alert).

use std::future::Future;

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::{
    components::{
        field::{focus_by_id, FormAlert, SubmitButton, TextField},
        guard::RedirectIfSignedIn,
        rest::{encode_query_value, post_json},
    },
    validation::{self, Checks},
    wire::{auth::CodeSent, ApiError},
};

/// The `email` query parameter, or empty.
pub fn query_email() -> String {
    use_query_map().with_untracked(|q| q.get("email").unwrap_or_default())
}

/// One input of a form: its `id` (also the field name the server uses), what is typed and
/// the error shown under it.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub id: &'static str,
    pub value: RwSignal<String>,
    pub error: RwSignal<Option<String>>,
}

impl Input {
    pub fn new(id: &'static str, initial: String) -> Self {
        Input { id, value: RwSignal::new(initial), error: RwSignal::new(None) }
    }

    /// What is typed now.
    pub fn get(self) -> String {
        self.value.get_untracked()
    }
}

/// The form alert and whether a request is under way.
#[derive(Debug, Clone, Copy)]
pub struct FormState {
    pub alert: RwSignal<Option<String>>,
    pub pending: RwSignal<bool>,
}

impl Default for FormState {
    fn default() -> Self {
        FormState { alert: RwSignal::new(None), pending: RwSignal::new(false) }
    }
}

impl FormState {
    /// A second action of the same form (e.g. "Resend code"): its own pending state, the
    /// same alert.
    pub fn sharing_alert(self) -> Self {
        FormState { alert: self.alert, pending: RwSignal::new(false) }
    }

    /// Puts each problem `e` names under its input and focuses the first such input; what
    /// no input of `inputs` takes (or the message, when `e` names no field) goes to the
    /// form alert.
    pub fn show(self, e: ApiError, inputs: &[Input]) {
        for input in inputs {
            input.error.set(e.field(input.id));
        }
        let first = inputs.iter().find(|i| e.field(i.id).is_some());
        let elsewhere: Vec<&str> =
            e.fields.iter().filter(|f| !inputs.iter().any(|i| i.id == f.field)).map(|f| f.message.as_str()).collect();
        let alert = if !elsewhere.is_empty() {
            Some(elsewhere.join(" "))
        } else if first.is_none() {
            Some(e.message.clone())
        } else {
            None
        };
        self.alert.set(alert);
        if let Some(input) = first {
            focus_by_id(input.id);
        }
    }

    /// One submit: nothing while a request is under way; otherwise `call` runs the browser's
    /// checks (their `ApiError` is shown like the server's) and makes the request. `done`
    /// gets the answer and the form stays pending (the page moves on); a failure is shown
    /// and the form can be sent again.
    pub fn send<T, F>(
        self,
        inputs: Vec<Input>,
        call: impl FnOnce() -> Result<F, ApiError>,
        done: impl FnOnce(T) + 'static,
    ) where
        T: 'static,
        F: Future<Output = Result<T, ApiError>> + 'static,
    {
        if self.pending.get_untracked() {
            return;
        }
        self.alert.set(None);
        let request = match call() {
            Ok(request) => request,
            Err(e) => return self.show(e, &inputs),
        };
        for input in &inputs {
            input.error.set(None);
        }
        self.pending.set(true);
        leptos::task::spawn_local(async move {
            match request.await {
                Ok(answer) => done(answer),
                Err(e) => {
                    self.show(e, &inputs);
                    self.pending.set(false);
                }
            }
        });
    }
}

/// What the sign-up and sign-in forms both have: email (first filled from `?email=`),
/// password, and the form's alert and pending state.
#[derive(Debug, Clone, Copy)]
pub struct Credentials {
    pub form: FormState,
    pub email: Input,
    pub password: Input,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            form: FormState::default(),
            email: Input::new("email", query_email()),
            password: Input::new("password", String::new()),
        }
    }
}

impl Credentials {
    /// The submit: the email check plus the page's own (`body` adds its checks and makes the
    /// request body from the trimmed email), the POST to `endpoint`, then `next`, the page
    /// that takes the emailed code. `others` are the page's further inputs.
    pub fn ask_for_code<B: serde::Serialize + 'static>(
        self,
        others: Vec<Input>,
        endpoint: &'static str,
        next: &'static str,
        body: impl Fn(&mut Checks, String) -> B + 'static,
    ) -> impl Fn(SubmitEvent) + 'static {
        let navigate = use_navigate();
        let inputs: Vec<Input> = [self.email, self.password].into_iter().chain(others).collect();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let navigate = navigate.clone();
            let call = || {
                let mut checks = Checks::default();
                let email = self.email.get().trim().to_string();
                checks.take(validation::email(&email));
                let body = body(&mut checks, email.clone());
                checks.finish()?;
                Ok(async move {
                    let sent = post_json::<_, CodeSent>(endpoint, &body).await?;
                    Ok(if sent.email.is_empty() { email } else { sent.email })
                })
            };
            let done =
                move |to: String| navigate(&format!("{next}?email={}", encode_query_value(&to)), Default::default());
            self.form.send(inputs.clone(), call, done);
        }
    }
}

/// The frame of every auth page: signed-in visitors go to the chat; a narrow card.
#[component]
pub fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <RedirectIfSignedIn/>
        <main class="page-center">
            <section class="card narrow">
                <h1>{title}</h1>
                {children()}
            </section>
        </main>
    }
}

/// The form of the sign-up and sign-in pages: email, password, any further inputs
/// (`children`), the alert and the submit button.
#[component]
pub fn CredentialsForm(
    credentials: Credentials,
    on_submit: impl Fn(SubmitEvent) + 'static,
    password_autocomplete: &'static str,
    #[prop(optional)] password_hint: Option<&'static str>,
    idle: &'static str,
    busy: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let Credentials { form, email, password } = credentials;
    view! {
        <form class="stack" on:submit=on_submit novalidate>
            <TextField id="email" label="Email" value=email.value error=email.error input_type="email" autocomplete="email" required=true/>
            <TextField
                id="password"
                label="Password"
                value=password.value
                error=password.error
                input_type="password"
                autocomplete=password_autocomplete
                hint=password_hint
                required=true
            />
            {children.map(|c| c())}
            <FormAlert error=form.alert/>
            <SubmitButton pending=form.pending idle=idle busy=busy/>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ErrorCode, FieldError};

    fn problem(field: &str, message: &str) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }

    /// Runs `test` with a form and its email and password inputs (signals need an owner).
    fn with_form(test: impl FnOnce(FormState, Input, Input)) {
        Owner::new().with(|| {
            test(FormState::default(), Input::new("email", String::new()), Input::new("password", String::new()))
        });
    }

    /// What the email input, the password input and the alert show after a 422 naming
    /// `fields` (the alert held "old" before).
    fn after_fields(fields: &[(&str, &str)]) -> [Option<String>; 3] {
        let mut shown = Default::default();
        with_form(|form, email, password| {
            form.alert.set(Some("old".into()));
            let fields = fields.iter().map(|(f, m)| problem(f, m)).collect();
            form.show(ApiError::invalid("Some fields are not valid.", fields), &[email, password]);
            shown = [email.error.get_untracked(), password.error.get_untracked(), form.alert.get_untracked()];
        });
        shown
    }

    #[test]
    fn each_named_field_lands_under_its_input_and_the_others_in_the_alert() {
        let shown = after_fields(&[("email", "Bad email."), ("name", "Too long.")]);
        assert_eq!(shown, [Some("Bad email.".into()), None, Some("Too long.".into())]);
    }

    #[test]
    fn an_error_naming_no_field_goes_to_the_alert_only() {
        with_form(|form, email, password| {
            email.error.set(Some("old".into()));
            form.show(ApiError::new(ErrorCode::RateLimited, "Too many attempts."), &[email, password]);
            assert_eq!(email.error.get_untracked(), None);
            assert_eq!(form.alert.get_untracked().as_deref(), Some("Too many attempts."));
        });
    }

    #[test]
    fn field_errors_alone_leave_the_alert_empty() {
        assert_eq!(after_fields(&[("password", "Too short.")]), [None, Some("Too short.".into()), None]);
    }
}
