//! Labelled form fields whose inline error is tied to the input (`aria-invalid`,
//! `aria-describedby`), so screen readers announce it with the field; plus the form alert
//! and the submit button every form has.

use leptos::prelude::*;

/// The id of a field's error text.
pub fn error_id(id: &str) -> String {
    format!("{id}-error")
}

/// The `aria-describedby` value for a field with an optional hint and an optional error.
pub fn described_by(id: &str, has_hint: bool, has_error: bool) -> Option<String> {
    let mut ids = Vec::new();
    if has_hint {
        ids.push(format!("{id}-hint"));
    }
    if has_error {
        ids.push(error_id(id));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// The error line under a field; empty (and absent) when there is no error.
#[component]
pub fn FieldErrorText(id: &'static str, #[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    move || {
        error.get().map(|message| {
            view! { <p class="field-error" id=error_id(id)>{message}</p> }
        })
    }
}

/// A labelled single-line input bound to `value`.
#[component]
pub fn TextField(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(optional_no_strip, into)] hint: Option<&'static str>,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    let initial = value.get_untracked();
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {hint.map(|h| view! { <p class="hint" id=format!("{id}-hint")>{h}</p> })}
            <input
                id=id
                name=id
                type=input_type
                autocomplete=autocomplete
                inputmode=inputmode
                required=required
                value=initial
                prop:value=move || value.get()
                aria-invalid=move || error.with(|e| e.is_some()).then_some("true")
                aria-describedby=move || described_by(id, hint.is_some(), error.with(|e| e.is_some()))
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            <FieldErrorText id=id error=error/>
        </div>
    }
}

/// A labelled multi-line input bound to `value`, with a hint under its label.
#[component]
pub fn TextAreaField(
    id: &'static str,
    label: &'static str,
    hint: &'static str,
    rows: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <p class="hint" id=format!("{id}-hint")>{hint}</p>
            <textarea
                id=id
                rows=rows
                prop:value=move || value.get()
                aria-invalid=move || error.with(|e| e.is_some()).then_some("true")
                aria-describedby=move || described_by(id, true, error.with(|e| e.is_some()))
                on:input=move |ev| value.set(event_target_value(&ev))
            >
                // Leptos writes a text area's children raw when rendering on the server, so
                // the person's text is escaped here (else `</textarea><script>` would run).
                // In the browser `prop:value` sets the real value either way.
                {crate::markdown::escape_text(&value.get_untracked())}
            </textarea>
            <FieldErrorText id=id error=error/>
        </div>
    }
}

/// A labelled `<select>` of `options` (shown capitalised) bound to `value`; `none` adds a
/// first option with an empty value and that text.
#[component]
pub fn SelectField(
    id: &'static str,
    label: &'static str,
    options: &'static [&'static str],
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(optional)] none: Option<&'static str>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select
                id=id
                prop:value=move || value.get()
                aria-invalid=move || error.with(|e| e.is_some()).then_some("true")
                aria-describedby=move || described_by(id, false, error.with(|e| e.is_some()))
                on:change=move |ev| value.set(event_target_value(&ev))
            >
                {none.map(|text| view! { <option value="" selected=value.get_untracked().is_empty()>{text}</option> })}
                {options
                    .iter()
                    .map(|o| view! { <option value=*o selected=value.get_untracked() == *o>{capitalise(o)}</option> })
                    .collect_view()}
            </select>
            <FieldErrorText id=id error=error/>
        </div>
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The form-level error line (server errors), announced when it appears.
#[component]
pub fn FormAlert(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    view! {
        <div class="form-alert-slot" role="alert" data-testid="form-error">
            {move || error.get().map(|e| view! { <p class="form-alert">{e}</p> })}
        </div>
    }
}

/// A form's submit button: disabled, and saying `busy`, while the form is being sent.
#[component]
pub fn SubmitButton(pending: RwSignal<bool>, idle: &'static str, busy: &'static str) -> impl IntoView {
    view! {
        <button type="submit" class="button primary" disabled=move || pending.get()>
            {move || if pending.get() { busy } else { idle }}
        </button>
    }
}

/// Moves keyboard focus to the element with `id` (the first invalid field after a submit).
pub fn focus_by_id(id: &str) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = id;
}
