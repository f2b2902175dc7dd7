//! Assistants: the list with its "New assistant" form, and one assistant's page (its
//! settings, the numbers it answers, and delete).

use crate::{
    components::{
        action_outcome, field_error, icons, signed_in, signed_in_admin, successes, EmptyState,
        ErrorBanner, Field, Loading, MeResource, Notice, PageHeader,
    },
    error::AppError,
    functions::{
        assignment::{assignable_numbers, AssignNumber},
        assistants::{
            assistant_numbers, get_assistant, list_assistants, CreateAssistant, DeleteAssistant,
            UpdateAssistant,
        },
        numbers::owner_options,
    },
    model::{format_time, Assistant, AssistantOption, NumberRow},
    pages::numbers::status_badge,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

fn count(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[component]
pub fn AssistantsPage() -> impl IntoView {
    let me = use_context::<MeResource>();
    let create = ServerAction::<CreateAssistant>::new();
    let created = successes(create.value());
    let assistants = Resource::new(move || created.get(), |_| list_assistants());
    let value = create.value();
    view! {
        <Title text="Assistants"/>
        <PageHeader title="Assistants" subtitle="Each assistant is a LiveKit agent that answers and places calls on your numbers.">
            <a class="button button-primary" href="#new-assistant">"New assistant"</a>
        </PageHeader>
        <Notice/>
        <section class="card" aria-label="Assistants">
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    let admin = signed_in(me).await.is_some_and(|u| u.is_admin());
                    match assistants.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState icon=icons::bot title="No assistants yet"
                                body="An assistant is the LiveKit agent that answers your numbers: Dial dispatches the agent by its name, hands it your metadata, and puts each call in a room of its own. Create one below, then assign numbers to it.">
                                <a class="button button-primary" href="#new-assistant">"New assistant"</a>
                            </EmptyState>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                            <table class="table">
                                <thead><tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Agent name"</th>
                                    <th scope="col">"Room prefix"</th>
                                    <th scope="col">"Numbers"</th>
                                    {admin.then(|| view! { <th scope="col">"Owner"</th> })}
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|a| view! {
                                        <tr data-assistant=a.name.clone()>
                                            <td>
                                                <a href=format!("/dashboard/assistants/{}", a.id)><strong>{a.name.clone()}</strong></a>
                                                {(!a.description.is_empty()).then(|| view! { <p class="muted small">{a.description.clone()}</p> })}
                                            </td>
                                            <td><code>{a.agent_name.clone()}</code></td>
                                            <td><code>{a.room_prefix.clone()}</code></td>
                                            <td>{a.numbers}</td>
                                            {admin.then(|| view! { <td>{a.owner.clone()}</td> })}
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="card" id="new-assistant" aria-labelledby="new-assistant-title">
            <h2 id="new-assistant-title">"New assistant"</h2>
            {action_outcome(value, "Assistant created.")}
            <ActionForm action=create>
                <OwnerSelect errors=value/>
                <AssistantFields assistant=None errors=value/>
                <button class="button button-primary" type="submit" disabled=move || create.pending().get()>"Create assistant"</button>
            </ActionForm>
        </section>
    }
}

/// Admins choose whose assistant they create (themselves by default); owners create
/// their own and see no choice.
#[component]
fn OwnerSelect<T>(errors: MappedSignal<Option<Result<T, AppError>>>) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
{
    let me = use_context::<MeResource>();
    // Only an admin's page asks for the users (owners choose nobody).
    let owners = Resource::new(
        || (),
        move |_| async move {
            match signed_in_admin(me).await {
                Some(_) => owner_options().await.unwrap_or_default(),
                None => Vec::new(),
            }
        },
    );
    let error = field_error(errors, "owner_id");
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let admin = signed_in(me).await.filter(|u| u.is_admin())?;
                let list = owners.await;
                Some(view! {
                    <div class="field" class:has-error=move || error().is_some()>
                        <label for="field-owner_id">"Owner"</label>
                        <select id="field-owner_id" name="owner_id" aria-describedby="field-owner_id-hint">
                            {list.into_iter().map(|o| {
                                let is = o.id == admin.id;
                                let label = o.label(&admin.id);
                                view! { <option value=o.id selected=is>{label}</option> }
                            }).collect_view()}
                        </select>
                        <p class="hint" id="field-owner_id-hint">"The assistant can answer only its owner's numbers."</p>
                        {move || error().map(|e| view! { <p class="field-error">{e}</p> })}
                    </div>
                })
            })}
        </Suspense>
    }
}

/// The fields of the create and edit forms, with each field's error next to it.
#[component]
fn AssistantFields<T>(
    assistant: Option<Assistant>,
    errors: MappedSignal<Option<Result<T, AppError>>>,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
{
    let a = assistant.clone();
    let value = move |f: fn(&Assistant) -> String| a.as_ref().map(f).unwrap_or_default();
    let room_prefix = assistant
        .as_ref()
        .map(|a| a.room_prefix.clone())
        .unwrap_or_else(|| "call-".to_string());
    let metadata = value(|a| a.metadata.clone());
    let metadata_error = field_error(errors, "metadata");
    view! {
        <div class="form-row">
            <Field label="Name" name="name" value=value(|a| a.name.clone()) required=true placeholder="Front desk"
                error=Signal::derive(field_error(errors, "name"))/>
            <Field label="Agent name" name="agent_name" value=value(|a| a.agent_name.clone()) required=true placeholder="my-agent"
                hint="As registered with LiveKit: agent_name in the agent's WorkerOptions." autocomplete="off"
                error=Signal::derive(field_error(errors, "agent_name"))/>
        </div>
        <div class="form-row">
            <Field label="Room prefix" name="room_prefix" value=room_prefix autocomplete="off"
                hint="Each call gets a LiveKit room of its own, named with this prefix."
                error=Signal::derive(field_error(errors, "room_prefix"))/>
            <Field label="Description" name="description" value=value(|a| a.description.clone())
                hint="Optional; for you and your team (at most 500 characters)."
                error=Signal::derive(field_error(errors, "description"))/>
        </div>
        <div class="field" class:has-error=move || metadata_error().is_some()>
            <label for="field-metadata">"Metadata"</label>
            <textarea id="field-metadata" name="metadata" rows="6" spellcheck="false" autocomplete="off"
                placeholder=r#"{"language": "en"}"#
                aria-invalid=move || metadata_error().is_some().then_some("true")
                aria-describedby=move || if metadata_error().is_some() { "field-metadata-hint field-metadata-error" } else { "field-metadata-hint" }
            >{metadata}</textarea>
            <p class="hint" id="field-metadata-hint">"Optional. A JSON object your agent receives as its job metadata (at most 16 KiB), kept exactly as you type it."</p>
            {move || metadata_error().map(|e| view! { <p class="field-error" id="field-metadata-error">{e}</p> })}
        </div>
    }
}

#[component]
pub fn AssistantPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id")).unwrap_or_default();
    let update = ServerAction::<UpdateAssistant>::new();
    let delete = ServerAction::<DeleteAssistant>::new();
    // Refetch after a successful save only, so a form being corrected keeps its input.
    let saved = successes(update.value());
    let assistant = Resource::new(move || (id(), saved.get()), |(id, _)| get_assistant(id));
    // Every resource of the page is created here, outside the Suspense that renders it: a
    // resource created inside a Suspense's children is created anew each time the server
    // re-checks them, which can keep the server render waiting (leptos #4866).
    let numbers = Resource::new(move || (id(), saved.get()), |(id, _)| assistant_numbers(id));
    let assign = ServerAction::<AssignNumber>::new();
    let options = Resource::new(
        move || (id(), assign.version().get()),
        |(id, _)| assignable_numbers(id),
    );
    view! {
        <Title text="Assistant"/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match assistant.await {
                    Err(AppError::NotFound { .. }) => view! { <AssistantNotFound/> }.into_any(),
                    Err(e) => view! {
                        <PageHeader title="Assistant"/>
                        <ErrorBanner message=e.to_string()/>
                        <a class="button button-secondary" href="/dashboard/assistants">"Back to assistants"</a>
                    }.into_any(),
                    Ok(a) => view! { <AssistantDetails assistant=a update delete numbers assign options/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Shown for an assistant that does not exist or belongs to someone else (the two are
/// not told apart).
#[component]
fn AssistantNotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="error-page" aria-labelledby="not-found-title">
            <p class="error-code">"404"</p>
            <h1 id="not-found-title">"Assistant not found"</h1>
            <p>"There is no assistant you can open at this address. It may have been deleted."</p>
            <a class="button button-primary" href="/dashboard/assistants">"Back to assistants"</a>
        </section>
    }
}

#[component]
fn AssistantDetails(
    assistant: Assistant,
    update: ServerAction<UpdateAssistant>,
    delete: ServerAction<DeleteAssistant>,
    numbers: Resource<Result<Vec<NumberRow>, AppError>>,
    assign: ServerAction<AssignNumber>,
    options: Resource<Result<Vec<AssistantOption>, AppError>>,
) -> impl IntoView {
    let a = assistant.clone();
    let subtitle = if a.description.is_empty() {
        format!("Dispatches the LiveKit agent {}", a.agent_name)
    } else {
        a.description.clone()
    };
    let answers = count(a.numbers, "number", "numbers");
    let edit_note = (a.numbers > 0).then(|| format!(
        "{} answers {answers}. Saving a new agent, metadata, room prefix or name updates their LiveKit dispatch rules in place.",
        a.name
    ));
    let delete_refusal = (a.numbers > 0).then(|| {
        format!(
            "{} answers {answers}. Unassign them first (on each number's page), then delete the assistant.",
            a.name
        )
    });
    let delete_prompt = format!(
        "Delete \u{201c}{}\u{201d}? This cannot be undone. Your agent and LiveKit are not changed.",
        a.name
    );
    let delete_button = format!("Delete {}", a.name);
    let (update_id, delete_id) = (a.id.clone(), a.id.clone());
    let empty_body = format!(
        "Calls to a number assigned to {} reach the agent {} in a room named {}\u{2026}",
        a.name, a.agent_name, a.room_prefix
    );
    let calls_link = format!("/dashboard/calls?assistant={}", a.id);
    view! {
        <PageHeader title=a.name.clone() subtitle=subtitle>
            <a class="button button-secondary" href=calls_link>"Calls"</a>
            <a class="button button-primary" href="/dashboard/calls#place-call">"Place a call"</a>
            <a class="button button-secondary" href="/dashboard/assistants">"Back to assistants"</a>
        </PageHeader>
        <section class="card" aria-label="Details">
            <dl class="facts">
                <dt>"Agent name"</dt><dd><code data-testid="assistant-agent">{a.agent_name.clone()}</code></dd>
                <dt>"Room prefix"</dt><dd><code>{a.room_prefix.clone()}</code></dd>
                <dt>"Metadata"</dt><dd><pre class="readonly-value">{a.metadata.clone()}</pre></dd>
                <dt>"Owner"</dt><dd>{a.owner.clone()}</dd>
                <dt>"Numbers"</dt><dd>{a.numbers}</dd>
                <dt>"Created"</dt><dd>{format_time(a.created_at)}</dd>
                <dt>"Last changed"</dt><dd>{format_time(a.updated_at)}</dd>
            </dl>
        </section>
        <section class="card" aria-labelledby="numbers-title">
            <h2 id="numbers-title">"Numbers"</h2>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || {
                    let empty_body = empty_body.clone();
                    Suspend::new(async move {
                        match numbers.await {
                            Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                            Ok(list) if list.is_empty() => view! {
                                <EmptyState icon=icons::phone title="No numbers yet" body=empty_body/>
                            }.into_any(),
                            Ok(list) => numbers_table(list).into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
        <AssignSection assistant_id=a.id.clone() assign options/>
        <section class="card" aria-labelledby="edit-title">
            <h2 id="edit-title">"Settings"</h2>
            {edit_note.map(|note| view! { <div class="banner banner-info" role="note">{note}</div> })}
            {action_outcome(update.value(), "Assistant saved.")}
            <ActionForm action=update>
                <input type="hidden" name="id" value=update_id/>
                <AssistantFields assistant=Some(assistant) errors=update.value()/>
                <button class="button button-primary" type="submit" disabled=move || update.pending().get()>"Save changes"</button>
            </ActionForm>
        </section>
        <section class="card danger-zone" aria-labelledby="delete-title">
            <h2 id="delete-title">"Delete assistant"</h2>
            {action_outcome(delete.value(), "Assistant deleted.")}
            {match delete_refusal {
                Some(refusal) => {
                    let unassign_id = delete_id.clone();
                    let unassign_button = format!("Unassign {answers} and delete {}", a.name);
                    view! {
                        <p>{refusal}</p>
                        <details class="confirm">
                            <summary class="button button-danger-outline">"Unassign its numbers and delete…"</summary>
                            <ActionForm action=delete>
                                <input type="hidden" name="id" value=unassign_id/>
                                <input type="hidden" name="unassign" value="on"/>
                                <p>{format!("Unassign {answers} (calls to them will be rejected) and delete \u{201c}{}\u{201d}? This cannot be undone.", a.name)}</p>
                                <button class="button button-danger" type="submit" disabled=move || delete.pending().get()>
                                    {move || if delete.pending().get() { "Unassigning…".to_string() } else { unassign_button.clone() }}
                                </button>
                            </ActionForm>
                        </details>
                    }.into_any()
                }
                None => view! {
                    <details class="confirm">
                        <summary class="button button-danger-outline">"Delete assistant…"</summary>
                        <ActionForm action=delete>
                            <input type="hidden" name="id" value=delete_id/>
                            <p>{delete_prompt}</p>
                            <button class="button button-danger" type="submit">{delete_button}</button>
                        </ActionForm>
                    </details>
                }.into_any(),
            }}
        </section>
    }
}

fn numbers_table(list: Vec<NumberRow>) -> impl IntoView {
    view! {
        <div class="table-wrap">
        <table class="table">
            <thead><tr>
                <th scope="col">"Number"</th>
                <th scope="col">"Label"</th>
                <th scope="col">"Status"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|n| view! {
                    <tr data-number=n.e164.to_string()>
                        <td class="nowrap"><a href=format!("/dashboard/phone-numbers/{}", n.id)><strong>{n.e164.formatted()}</strong></a></td>
                        <td>{if n.label.is_empty() { "—".to_string() } else { n.label.clone() }}</td>
                        <td>{status_badge(n.assignment_status)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}

/// "Assign a number": the owner's numbers that no assistant answers yet.
#[component]
fn AssignSection(
    assistant_id: String,
    assign: ServerAction<AssignNumber>,
    options: Resource<Result<Vec<AssistantOption>, AppError>>,
) -> impl IntoView {
    view! {
        <section class="card" id="assign" aria-labelledby="assign-title">
            <h2 id="assign-title">"Assign a number"</h2>
            {action_outcome(assign.value(), "Assigned.")}
            <Suspense fallback=|| view! { <Loading/> }>
                {
                    let assistant_id = assistant_id.clone();
                    move || {
                        let assistant_id = assistant_id.clone();
                        Suspend::new(async move {
                            match options.await {
                                Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                                Ok(list) if list.is_empty() => view! {
                                    <p class="muted">"Every number of this assistant's owner is already assigned. "
                                        <a href="/dashboard/phone-numbers">"Buy or import a number"</a>" to add one."</p>
                                }.into_any(),
                                Ok(list) => view! {
                                    <p class="muted small">"Dial attaches the number to the Twilio trunk, creates its LiveKit trunks and a dispatch rule for this assistant's agent, and shows each step."</p>
                                    <ActionForm action=assign attr:class="inline-form">
                                        <input type="hidden" name="assistant_id" value=assistant_id/>
                                        <div class="field">
                                            <label for="assign-number">"Number"</label>
                                            <select id="assign-number" name="number_id">
                                                {list.into_iter().map(|n| view! { <option value=n.id>{n.name}</option> }).collect_view()}
                                            </select>
                                        </div>
                                        <button class="button button-primary" type="submit" disabled=move || assign.pending().get()>
                                            {move || if assign.pending().get() { "Assigning…" } else { "Assign number" }}
                                        </button>
                                    </ActionForm>
                                }.into_any(),
                            }
                        })
                    }
                }
            </Suspense>
        </section>
    }
}
