//! The profile page's "What the coach remembers" card: the facts learned from chats or
//! added here, each editable and deletable; a deleted fact is never used again.

use leptos::{ev::SubmitEvent, prelude::*};

use crate::{
    api::{delete_memory, list_memories, save_memory},
    components::field::FormAlert,
    wire::memory::{Memory, MemoryInput, MemoryKind, MAX_MEMORY_CHARS},
};

#[component]
pub fn Memories() -> impl IntoView {
    let memories = Resource::new(|| (), |_| list_memories());
    // Changes made on this page, shown without reloading the list.
    let items: RwSignal<Option<Vec<Memory>>> = RwSignal::new(None);
    let error = RwSignal::new(None::<String>);
    let shown = move || items.get().or_else(|| memories.get().and_then(Result::ok)).unwrap_or_default();
    let draft = RwSignal::new(String::new());
    let kind = RwSignal::new(MemoryKind::Other);

    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        let input = MemoryInput { kind: kind.get_untracked(), text: draft.get_untracked() };
        leptos::task::spawn_local(async move {
            match save_memory(None, input).await {
                Ok(memory) => {
                    let mut list = shown_untracked(items, memories);
                    list.push(memory);
                    items.set(Some(list));
                    draft.set(String::new());
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };

    view! {
        <section class="card" data-testid="memories">
            <h2>"What the coach remembers"</h2>
            <p class="muted">
                "Facts you mention in chats (an injury, a condition, a goal, what you eat, when you train) are kept here \
                 and given to the coach with every question. Edit or delete any of them; a deleted fact is not used again."
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let list = shown();
                    if list.is_empty() {
                        view! { <p class="muted" data-testid="no-memories">"Nothing yet."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="memory-list">
                                {list
                                    .into_iter()
                                    .map(|m| view! { <MemoryRow memory=m items=items memories=memories error=error/> })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                }}
            </Transition>
            <form class="memory-add" on:submit=add novalidate>
                <label for="memory-new" class="visually-hidden">"Something the coach should remember"</label>
                <KindSelect kind=kind/>
                <input
                    id="memory-new"
                    type="text"
                    maxlength=MAX_MEMORY_CHARS
                    placeholder="e.g. I have a bad left knee"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    data-testid="memory-new"
                />
                <button type="submit" class="button small" data-testid="memory-add">"Add"</button>
            </form>
            <FormAlert error=error/>
        </section>
    }
}

type ListResource = Resource<Result<Vec<Memory>, crate::wire::ApiError>>;

fn shown_untracked(items: RwSignal<Option<Vec<Memory>>>, memories: ListResource) -> Vec<Memory> {
    items.get_untracked().or_else(|| memories.get_untracked().and_then(Result::ok)).unwrap_or_default()
}

#[component]
fn KindSelect(kind: RwSignal<MemoryKind>) -> impl IntoView {
    view! {
        <select
            aria-label="Kind"
            prop:value=move || kind.get().as_str()
            on:change=move |ev| kind.set(MemoryKind::parse(&event_target_value(&ev)).unwrap_or_default())
        >
            {MemoryKind::ALL
                .into_iter()
                .map(|k| view! { <option value=k.as_str() selected=move || kind.get() == k>{k.label()}</option> })
                .collect_view()}
        </select>
    }
}

#[component]
fn MemoryRow(
    memory: Memory,
    items: RwSignal<Option<Vec<Memory>>>,
    memories: ListResource,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let text = RwSignal::new(memory.text.clone());
    let kind = RwSignal::new(memory.kind);
    let id = memory.memory_id.clone();
    let save = {
        let id = id.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let id = id.clone();
            let input = MemoryInput { kind: kind.get_untracked(), text: text.get_untracked() };
            leptos::task::spawn_local(async move {
                match save_memory(Some(id.clone()), input).await {
                    Ok(saved) => {
                        let list = shown_untracked(items, memories)
                            .into_iter()
                            .map(|m| if m.memory_id == id { saved.clone() } else { m })
                            .collect();
                        items.set(Some(list));
                        error.set(None);
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let remove = move |_| {
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match delete_memory(id.clone()).await {
                Ok(()) => {
                    let list = shown_untracked(items, memories).into_iter().filter(|m| m.memory_id != id).collect();
                    items.set(Some(list));
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let label = memory.kind.label();
    let learned = memory.from_session_id.is_some();
    view! {
        <li class="memory" data-testid="memory" data-memory-id=memory.memory_id.clone()>
            <Show
                when=move || editing.get()
                fallback=move || {
                    view! {
                        <span class="tag">{label}</span>
                        <span class="memory-text" data-testid="memory-text">{text.get()}</span>
                        {learned.then(|| view! { <span class="muted">" (from a chat)"</span> })}
                        <button type="button" class="button small" on:click=move |_| editing.set(true) data-testid="memory-edit">
                            "Edit"
                        </button>
                    }
                }
            >
                <form class="memory-edit" on:submit=save.clone() novalidate>
                    <KindSelect kind=kind/>
                    <input
                        type="text"
                        maxlength=MAX_MEMORY_CHARS
                        aria-label="Remembered fact"
                        prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev))
                        data-testid="memory-input"
                    />
                    <button type="submit" class="button small" data-testid="memory-save">"Save"</button>
                    <button type="button" class="button small" on:click=move |_| editing.set(false) data-testid="memory-cancel">
                        "Cancel"
                    </button>
                </form>
            </Show>
            <button type="button" class="button small danger" on:click=remove data-testid="memory-delete">
                "Delete"
            </button>
        </li>
    }
}
