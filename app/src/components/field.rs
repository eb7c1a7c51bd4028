//! Labelled form fields whose inline error is tied to the input (`aria-invalid`,
//! `aria-describedby`), so screen readers announce it with the field.

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
    #[prop(optional)] hint: Option<&'static str>,
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
