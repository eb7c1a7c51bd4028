//! The health profile page and its form: checked in the browser with the same
//! `Profile::validate` the server runs, so every field error shows inline before a round
//! trip; the server's own refusals arrive as `ApiError::fields` and show the same way.

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_router::components::Redirect;

use crate::{
    api::{coach_model, current_user, get_profile, save_profile},
    components::{
        field::{focus_by_id, FormAlert, SelectField, SubmitButton, TextAreaField, TextField},
        header::{AppHeader, Here},
        rest::hard_navigate,
    },
    pages::{memories::Memories, your_data::YourData},
    wire::{
        profile::{FieldError, Profile, ReadinessQuestion, FITNESS_LEVELS, UNITS},
        ErrorCode,
    },
};

#[component]
pub fn ProfilePage() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    let model = Resource::new(|| (), |_| coach_model());
    let profile = Resource::new(|| (), |_| get_profile());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let user = user.await;
                let model = model.await.ok();
                let profile = profile.await;
                match user {
                    Ok(Some(user)) => {
                        view! {
                            <div class="app-page">
                                <AppHeader user=user model=model here=Here::Profile/>
                                <main class="page-center">
                                    {match profile {
                                        Ok(p) => view! { <ProfileForm profile=p/> <Memories/> <YourData/> }.into_any(),
                                        Err(e) => {
                                            view! {
                                                <section class="card narrow">
                                                    <p class="form-alert" role="alert">{e.message}</p>
                                                </section>
                                            }
                                                .into_any()
                                        }
                                    }}
                                </main>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <Redirect path="/signin"/> }.into_any(),
                    Err(e) => view! { <p class="form-alert" role="alert">{e.message}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn opt_number<T: ToString>(v: Option<T>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

/// What the form holds, as typed.
#[derive(Clone, Copy)]
struct Fields {
    age: RwSignal<String>,
    fitness_level: RwSignal<String>,
    goals: RwSignal<String>,
    health_notes: RwSignal<String>,
    units: RwSignal<String>,
    height: RwSignal<String>,
    weight: RwSignal<String>,
    /// One per readiness question, in `ReadinessQuestion::ALL` order: answered "yes".
    readiness: [RwSignal<bool>; 7],
}

impl Fields {
    fn new(p: &Profile) -> Self {
        Fields {
            age: RwSignal::new(opt_number(p.age)),
            fitness_level: RwSignal::new(p.fitness_level.clone().unwrap_or_default()),
            goals: RwSignal::new(p.goals.join("\n")),
            health_notes: RwSignal::new(p.health_notes.clone().unwrap_or_default()),
            units: RwSignal::new(p.units.clone()),
            height: RwSignal::new(opt_number(p.height_cm)),
            weight: RwSignal::new(opt_number(p.weight_kg)),
            readiness: ReadinessQuestion::ALL.map(|q| RwSignal::new(p.readiness_yes.contains(&q))),
        }
    }

    /// The typed values as a `Profile`, or the fields that are not numbers.
    fn to_profile(self) -> Result<Profile, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut number = |field: &str, raw: String| -> Option<f64> {
            let raw = raw.trim().replace(',', ".");
            if raw.is_empty() {
                return None;
            }
            match raw.parse::<f64>() {
                Ok(n) if n.is_finite() => Some(n),
                _ => {
                    errors.push(FieldError { field: field.into(), message: "Enter a number.".into() });
                    None
                }
            }
        };
        let age = number("age", self.age.get_untracked());
        let height_cm = number("height_cm", self.height.get_untracked());
        let weight_kg = number("weight_kg", self.weight.get_untracked());
        if age.is_some_and(|a| a.fract() != 0.0 || a < 0.0) {
            errors.push(FieldError { field: "age".into(), message: "Age must be a whole number of years.".into() });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let text = |s: RwSignal<String>| Some(s.get_untracked().trim().to_string()).filter(|s| !s.is_empty());
        Ok(Profile {
            age: age.map(|a| a.min(u32::MAX as f64) as u32),
            fitness_level: text(self.fitness_level),
            goals: self
                .goals
                .get_untracked()
                .lines()
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect(),
            health_notes: text(self.health_notes),
            units: self.units.get_untracked(),
            height_cm,
            weight_kg,
            readiness_yes: ReadinessQuestion::ALL
                .into_iter()
                .zip(self.readiness)
                .filter(|(_, yes)| yes.get_untracked())
                .map(|(q, _)| q)
                .collect(),
        })
    }
}

/// The fields in display order, for focusing the first one with an error.
const FIELD_ORDER: [&str; 8] =
    ["age", "fitness_level", "goals", "health_notes", "units", "height_cm", "weight_kg", "readiness_yes"];

#[component]
fn ProfileForm(profile: Profile) -> impl IntoView {
    let fields = Fields::new(&profile);
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let form_error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);
    let error_for = move |field: &'static str| {
        Signal::derive(move || errors.with(|es| es.iter().find(|e| e.field == field).map(|e| e.message.clone())))
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        form_error.set(None);
        saved.set(None);
        let profile = match fields.to_profile() {
            Ok(p) => p,
            Err(e) => {
                errors.set(e);
                return focus_first(&errors.get_untracked());
            }
        };
        let problems = profile.validate();
        if !problems.is_empty() {
            focus_first(&problems);
            errors.set(problems);
            return;
        }
        errors.set(Vec::new());
        pending.set(true);
        leptos::task::spawn_local(async move {
            match save_profile(profile).await {
                Ok(_) => saved.set(Some("Profile saved.".into())),
                Err(e) if e.error == ErrorCode::Unauthorized => hard_navigate("/signin"),
                // The server's field problems show under their fields, like the browser's.
                Err(e) if !e.fields.is_empty() => {
                    if e.fields.iter().any(|f| !FIELD_ORDER.contains(&f.field.as_str())) {
                        form_error.set(Some(e.message.clone()));
                    }
                    focus_first(&e.fields);
                    errors.set(e.fields);
                }
                Err(e) => form_error.set(Some(e.message)),
            }
            pending.set(false);
        });
    };

    view! {
        <section class="card">
            <h1>"Your profile"</h1>
            <p class="lead">"The coach reads this before every answer. Everything is optional."</p>
            <form class="stack profile-form" on:submit=submit novalidate>
                <div class="row">
                    <TextField id="age" label="Age" value=fields.age error=error_for("age") inputmode="numeric"/>
                    <SelectField
                        id="fitness_level"
                        label="Fitness level"
                        options=&FITNESS_LEVELS
                        value=fields.fitness_level
                        error=error_for("fitness_level")
                        none="Not set"
                    />
                </div>
                <TextAreaField id="goals" label="Goals" hint="One per line, up to 10." rows="3" value=fields.goals error=error_for("goals")/>
                <TextAreaField
                    id="health_notes"
                    label="Health notes"
                    hint="Injuries, conditions, medication — anything the coach should keep in mind."
                    rows="4"
                    value=fields.health_notes
                    error=error_for("health_notes")
                />
                <div class="row">
                    <SelectField id="units" label="Units" options=&UNITS value=fields.units error=error_for("units")/>
                    <TextField id="height_cm" label="Height (cm)" value=fields.height error=error_for("height_cm") inputmode="decimal"/>
                    <TextField id="weight_kg" label="Weight (kg)" value=fields.weight error=error_for("weight_kg") inputmode="decimal"/>
                </div>
                <fieldset class="readiness" data-testid="readiness">
                    <legend>"Ready for exercise?"</legend>
                    <p class="hint">
                        "Tick each that applies. Any tick and the coach will advise checking with a doctor \
                         before strenuous training."
                    </p>
                    {ReadinessQuestion::ALL
                        .into_iter()
                        .zip(fields.readiness)
                        .map(|(q, yes)| {
                            let id = format!("readiness-{}", q.as_str());
                            let label_for = id.clone();
                            view! {
                                <label class="check" for=label_for>
                                    <input
                                        type="checkbox"
                                        id=id
                                        name="readiness_yes"
                                        value=q.as_str()
                                        prop:checked=move || yes.get()
                                        on:change=move |ev| yes.set(event_target_checked(&ev))
                                    />
                                    {q.question()}
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <FormAlert error=form_error/>
                <p class="status-line" role="status" data-testid="profile-status">{move || saved.get()}</p>
                <div class="actions">
                    <SubmitButton pending=pending idle="Save profile" busy="Saving…"/>
                    <a class="button" href="/chat">"Back to chat"</a>
                </div>
            </form>
        </section>
    }
    .into_any()
}

fn focus_first(errors: &[FieldError]) {
    if let Some(field) = FIELD_ORDER.iter().find(|f| errors.iter().any(|e| e.field == **f)) {
        focus_by_id(field);
    }
}
