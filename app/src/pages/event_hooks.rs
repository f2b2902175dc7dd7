//! Settings → Webhooks: the endpoints Dial posts events to (an owner's own; every one for
//! an administrator), a form to add one (its signing secret shown once), and each
//! endpoint's page: its settings, enable and disable, rotate the secret (shown once),
//! delete with a confirmation, and the delivery log with replay. Works without
//! JavaScript: a new secret then reaches the page through the session, once.

use crate::{
    components::{
        action_outcome, field_error, href_with, icons, notice_resource, query_value, stacked_time,
        successes, EmptyState, ErrorBanner, Field, Loading, MeResource, NoticeOf, PageHeader,
        Pager,
    },
    error::AppError,
    functions::event_hooks::{
        endpoint_page, get_webhook_endpoint, list_webhook_deliveries, list_webhook_endpoints,
        take_created_webhook_secret, CreateWebhookEndpoint, DeleteWebhookEndpoint,
        DisableWebhookEndpoint, EnableWebhookEndpoint, ReplayWebhookDelivery, RotateWebhookSecret,
        UpdateWebhookEndpoint, WEBHOOKS_PAGE,
    },
    model::{
        format_time, CreatedWebhookEndpoint, DeliveryStatus, EventKind, Page, WebhookDeliveryView,
        WebhookEndpointView,
    },
    pages::api_keys::copy_to_clipboard,
};
use leptos::{form::ActionForm, html, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// What a receiver checks, in one line (the README has a full example).
const VERIFY_HINT: &str = "Each delivery is a POST of JSON with Dial-Event-Id, Dial-Event-Type and Dial-Signature: t=<unix time>,v1=<HMAC-SHA256 of \"<t>.<body>\" with the secret, in hex>. Refuse a signature that does not match or whose time is more than 5 minutes from yours, and handle each event id once.";

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let create = ServerAction::<CreateWebhookEndpoint>::new();
    let created = successes(create.value());
    let endpoints = Resource::new(move || created.get(), |_| list_webhook_endpoints());
    // A secret made by a form post without JavaScript, handed over once by the server.
    let stashed = Resource::new(|| (), |_| take_created_webhook_secret(None));
    let notice = notice_resource();
    let me = use_context::<MeResource>();
    let value = create.value();
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if created.get() > 0 {
            if let Some(f) = form.get() {
                f.reset();
            }
        }
    });
    let just_created = move || {
        value
            .get()
            .and_then(|r| r.ok())
            .filter(|c| !c.secret.is_empty())
    };
    view! {
        <Title text="Webhooks"/>
        <PageHeader title="Webhooks" subtitle="Dial posts what happens to your calls and campaigns to your own systems, signed so they can tell it came from Dial.">
            <a class="button button-primary" href="#new-endpoint">"Add endpoint"</a>
        </PageHeader>
        <NoticeOf notice/>
        {move || just_created().map(|c| view! { <NewSecret created=c title="New endpoint"/> })}
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let stashed = stashed.await.ok().flatten();
                stashed
                    .filter(|_| value.with_untracked(Option::is_none))
                    .map(|c| view! { <NewSecret created=c title="New endpoint"/> })
            })}
        </Suspense>
        <section class="card" aria-labelledby="endpoints-title">
            <h2 id="endpoints-title">"Endpoints"</h2>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    let admin = match me {
                        Some(m) => m.0.await.ok().flatten().is_some_and(|u| u.is_admin()),
                        None => false,
                    };
                    match endpoints.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState icon=icons::plug title="No endpoints yet"
                                body="Add the address of a system that should hear about calls and campaigns: Dial posts each event there as it happens, and retries for 24 hours if it cannot."/>
                        }.into_any(),
                        Ok(list) => view! { <EndpointTable endpoints=list admin/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="card" id="new-endpoint" aria-labelledby="new-endpoint-title">
            <h2 id="new-endpoint-title">"Add an endpoint"</h2>
            {action_outcome(value, "Endpoint added. Copy its signing secret now: it is shown above, once.")}
            <ActionForm action=create node_ref=form>
                <Field label="Address" name="url" required=true autocomplete="off"
                    placeholder="https://example.com/dial-webhooks"
                    hint="Where Dial posts events: https://, on the public Internet."
                    error=Signal::derive(field_error(value, "url"))/>
                <Field label="Description (optional)" name="description" autocomplete="off"
                    placeholder="CRM: call results"
                    error=Signal::derive(field_error(value, "description"))/>
                <EventChoices selected=vec![EventKind::CallEnded] id_prefix="new-"
                    error=Signal::derive(field_error(value, "events"))/>
                <button class="button button-primary" type="submit" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Adding…" } else { "Add endpoint" }}
                </button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="verify-title">
            <h2 id="verify-title">"Checking a delivery"</h2>
            <p>{VERIFY_HINT}</p>
            <p class="muted small">"Dial retries a delivery that is not answered with a 2xx status, with growing pauses, for 24 hours. The README has the events, their bodies, and a receiver in Python."</p>
        </section>
    }
}

/// The one time a secret is shown.
#[component]
fn NewSecret(created: CreatedWebhookEndpoint, title: &'static str) -> impl IntoView {
    let label = format!("{title}: {}", created.endpoint.url);
    let aria_label = label.clone();
    let secret = created.secret.clone();
    let href = endpoint_page(&created.endpoint.id);
    // The Copy button needs JavaScript: without it the secret is selectable text.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let copied = RwSignal::new(None::<bool>);
    let on_copy = move |_| copy_to_clipboard(secret.clone(), copied);
    view! {
        <section class="banner banner-info new-key" role="status" aria-label=aria_label data-testid="new-webhook-secret">
            {icons::lock()}
            <div class="new-key-body">
                <p><strong>{label}</strong></p>
                <p>"Its signing secret:"</p>
                <div class="secret-copy">
                    <pre class="readonly-value"><code data-secret="webhook-secret">{created.secret}</code></pre>
                    <button type="button" class="button button-secondary button-small"
                        hidden=move || !hydrated.get() on:click=on_copy>
                        {move || if copied.get() == Some(true) { icons::check() } else { icons::copy() }}
                        {move || if copied.get() == Some(true) { "Copied" } else { "Copy" }}
                    </button>
                </div>
                <p aria-live="polite">{move || match copied.get() {
                    Some(false) => "The browser did not allow copying: select the secret and copy it now. Dial cannot show it again.",
                    _ => "Copy it now into your receiver's settings: Dial cannot show it again (rotate it to get a new one).",
                }}</p>
                <p><a href=href>"Open the endpoint"</a></p>
            </div>
        </section>
    }
}

/// The event types, one checkbox each.
#[component]
fn EventChoices(
    selected: Vec<EventKind>,
    #[prop(into)] id_prefix: String,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let error_id = format!("{id_prefix}events-error");
    let described = error_id.clone();
    view! {
        <fieldset class="field event-choices" aria-describedby=move || error.get().map(|_| described.clone())>
            <legend>"Events"</legend>
            {EventKind::ALL.iter().map(|kind| {
                let id = format!("{id_prefix}event-{}", kind.as_str().replace('.', "-"));
                let label_for = id.clone();
                view! {
                    <div class="field-check">
                        <label class="check" for=label_for>
                            <input id=id type="checkbox" name="events[]" value=kind.as_str()
                                checked=selected.contains(kind)/>
                            <span><code>{kind.as_str()}</code>" — "{kind.description()}</span>
                        </label>
                    </div>
                }
            }).collect_view()}
            {move || error.get().map(|e| view! { <p class="field-error" id=error_id.clone()>{e}</p> })}
        </fieldset>
    }
}

fn state_badge(enabled: bool) -> impl IntoView {
    if enabled {
        view! { <span class="badge badge-ok">"Enabled"</span> }.into_any()
    } else {
        view! { <span class="badge badge-muted">"Disabled"</span> }.into_any()
    }
}

fn events_list(events: &[EventKind]) -> String {
    if events.len() == EventKind::ALL.len() {
        return "All events".into();
    }
    events
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[component]
fn EndpointTable(endpoints: Vec<WebhookEndpointView>, admin: bool) -> impl IntoView {
    view! {
        <div class="table-wrap">
        <table class="table">
            <thead><tr>
                <th scope="col">"Address"</th><th scope="col">"Events"</th>
                {admin.then(|| view! { <th scope="col">"Registered by"</th> })}
                <th scope="col">"Waiting"</th><th scope="col">"Status"</th>
                <th scope="col">"Added"</th>
            </tr></thead>
            <tbody>
            {endpoints.into_iter().map(|e| {
                let href = endpoint_page(&e.id);
                let waiting = match (e.pending, e.failed) {
                    (0, 0) => "—".to_string(),
                    (p, 0) => format!("{p} waiting"),
                    (0, f) => format!("{f} failed"),
                    (p, f) => format!("{p} waiting, {f} failed"),
                };
                view! {
                    <tr data-endpoint=e.url.clone()>
                        <td>
                            <a href=href><strong class="endpoint-url">{e.url.clone()}</strong></a>
                            {(!e.description.is_empty()).then(|| view! { <div class="cell-sub muted">{e.description.clone()}</div> })}
                        </td>
                        <td class="small">{events_list(&e.events)}</td>
                        {admin.then(|| view! { <td>{e.owner.clone()}</td> })}
                        <td>{waiting}</td>
                        <td>{state_badge(e.enabled)}</td>
                        <td>{stacked_time(e.created_at)}</td>
                    </tr>
                }
            }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}

#[component]
pub fn WebhookEndpointPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id")).unwrap_or_default();
    let status = query_value("status");
    let page = query_value("page");
    let update = ServerAction::<UpdateWebhookEndpoint>::new();
    let enable = ServerAction::<EnableWebhookEndpoint>::new();
    let disable = ServerAction::<DisableWebhookEndpoint>::new();
    let rotate = ServerAction::<RotateWebhookSecret>::new();
    let delete = ServerAction::<DeleteWebhookEndpoint>::new();
    let replay = ServerAction::<ReplayWebhookDelivery>::new();
    let (updated, enabled, disabled, rotated, replayed) = (
        successes(update.value()),
        successes(enable.value()),
        successes(disable.value()),
        successes(rotate.value()),
        successes(replay.value()),
    );
    // Every resource of the page is created here, outside the Suspense that renders it.
    let endpoint = Resource::new(
        move || {
            (
                id(),
                updated.get(),
                enabled.get(),
                disabled.get(),
                rotated.get(),
                replayed.get(),
            )
        },
        |(id, ..)| get_webhook_endpoint(id),
    );
    let deliveries = Resource::new(
        move || (id(), status(), page(), replayed.get(), enabled.get()),
        |(id, status, page, ..)| {
            list_webhook_deliveries(id, status, page.and_then(|p| p.parse().ok()))
        },
    );
    let stashed = Resource::new(id, |id| take_created_webhook_secret(Some(id)));
    let actions = EndpointActions {
        update,
        enable,
        disable,
        rotate,
        delete,
        replay,
    };
    let rotate_value = rotate.value();
    let just_rotated = move || {
        rotate_value
            .get()
            .and_then(|r| r.ok())
            .filter(|c| !c.secret.is_empty())
    };
    view! {
        <Title text="Webhook endpoint"/>
        {move || just_rotated().map(|c| view! { <NewSecret created=c title="New secret for"/> })}
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let stashed = stashed.await.ok().flatten();
                stashed
                    .filter(|_| rotate_value.with_untracked(Option::is_none))
                    .map(|c| view! { <NewSecret created=c title="New secret for"/> })
            })}
        </Suspense>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match endpoint.await {
                    Err(AppError::NotFound { .. }) => view! { <EndpointNotFound/> }.into_any(),
                    Err(e) => view! {
                        <PageHeader title="Webhook endpoint"/>
                        <ErrorBanner message=e.to_string()/>
                        <a class="button button-secondary" href=WEBHOOKS_PAGE>"Back to webhooks"</a>
                    }.into_any(),
                    Ok(e) => view! {
                        <EndpointDetails endpoint=e actions deliveries/>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// An endpoint that does not exist or belongs to someone else (the two are not told
/// apart).
#[component]
fn EndpointNotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="error-page" aria-labelledby="not-found-title">
            <p class="error-code">"404"</p>
            <h1 id="not-found-title">"Webhook endpoint not found"</h1>
            <p>"There is no endpoint you can open at this address. It may have been deleted."</p>
            <a class="button button-primary" href=WEBHOOKS_PAGE>"Back to webhooks"</a>
        </section>
    }
}

/// The forms of an endpoint's page.
#[derive(Clone, Copy)]
struct EndpointActions {
    update: ServerAction<UpdateWebhookEndpoint>,
    enable: ServerAction<EnableWebhookEndpoint>,
    disable: ServerAction<DisableWebhookEndpoint>,
    rotate: ServerAction<RotateWebhookSecret>,
    delete: ServerAction<DeleteWebhookEndpoint>,
    replay: ServerAction<ReplayWebhookDelivery>,
}

#[component]
fn EndpointDetails(
    endpoint: WebhookEndpointView,
    actions: EndpointActions,
    deliveries: Resource<Result<Page<WebhookDeliveryView>, AppError>>,
) -> impl IntoView {
    let EndpointActions {
        update,
        enable,
        disable,
        rotate,
        delete,
        replay,
    } = actions;
    let e = endpoint;
    let value = update.value();
    let subtitle = if e.description.is_empty() {
        format!("Registered by {}", e.owner)
    } else {
        format!("{} · registered by {}", e.description, e.owner)
    };
    let toggle = if e.enabled {
        let id = e.id.clone();
        view! {
            <ActionForm action=disable>
                <input type="hidden" name="id" value=id/>
                <button class="button button-secondary" type="submit">"Disable"</button>
            </ActionForm>
        }
        .into_any()
    } else {
        let id = e.id.clone();
        view! {
            <ActionForm action=enable>
                <input type="hidden" name="id" value=id/>
                <button class="button button-primary" type="submit">"Enable"</button>
            </ActionForm>
        }
        .into_any()
    };
    let state_note = if e.enabled {
        "Enabled: new events are sent as they happen."
    } else {
        "Disabled: no new events are sent. Deliveries already waiting are held until it is enabled again."
    };
    let (update_id, rotate_id, delete_id) = (e.id.clone(), e.id.clone(), e.id.clone());
    let delete_prompt = format!(
        "Delete the endpoint {}? Its delivery log goes with it and nothing more is sent there. This cannot be undone.",
        e.url
    );
    view! {
        <PageHeader title=e.url.clone() subtitle=subtitle>
            <a class="button button-secondary" href=WEBHOOKS_PAGE>"All endpoints"</a>
        </PageHeader>
        {action_outcome(enable.value(), "Enabled. New events are sent to it again.")}
        {action_outcome(disable.value(), "Disabled. No new events are sent to it.")}
        {action_outcome(replay.value(), "Queued: the delivery is sent again in a moment, with the same event id.")}
        <section class="card" aria-labelledby="endpoint-facts">
            <h2 id="endpoint-facts">"Endpoint"</h2>
            <dl class="facts">
                <dt>"Status"</dt><dd>{state_badge(e.enabled)}" "<span class="muted small">{state_note}</span></dd>
                <dt>"Events"</dt><dd>{events_list(&e.events)}</dd>
                <dt>"Waiting"</dt><dd>{format!("{} pending, {} failed", e.pending, e.failed)}</dd>
                <dt>"Added"</dt><dd>{format_time(e.created_at)}</dd>
                <dt>"Signing secret"</dt><dd>{format!("Made {}; Dial never shows it again.", format_time(e.secret_rotated_at))}</dd>
            </dl>
            <div class="card-actions">{toggle}</div>
        </section>
        <Deliveries endpoint_id=e.id.clone() deliveries replay/>
        <section class="card" aria-labelledby="edit-endpoint">
            <h2 id="edit-endpoint">"Settings"</h2>
            {action_outcome(value, "Saved.")}
            <ActionForm action=update>
                <input type="hidden" name="id" value=update_id/>
                <Field label="Address" name="url" required=true autocomplete="off" value=e.url.clone()
                    hint="https://, on the public Internet."
                    error=Signal::derive(field_error(value, "url"))/>
                <Field label="Description (optional)" name="description" autocomplete="off" value=e.description.clone()
                    error=Signal::derive(field_error(value, "description"))/>
                <EventChoices selected=e.events.clone() id_prefix="edit-"
                    error=Signal::derive(field_error(value, "events"))/>
                <button class="button button-primary" type="submit" disabled=move || update.pending().get()>
                    {move || if update.pending().get() { "Saving…" } else { "Save" }}
                </button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="rotate-title">
            <h2 id="rotate-title">"Signing secret"</h2>
            <p>"Rotate the secret if it may have been seen by someone else. The new one is shown once; deliveries are signed with it from then on, and those your receiver refuses meanwhile are retried."</p>
            {move || rotate.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBanner message=e.to_string()/> })}
            <details class="inline-form">
                <summary class="button button-secondary">"Rotate secret…"</summary>
                <ActionForm action=rotate>
                    <input type="hidden" name="id" value=rotate_id/>
                    <p class="small">"The current secret stops working at once. Put the new one in your receiver right away."</p>
                    <button class="button button-danger button-small" type="submit">"Rotate the secret"</button>
                </ActionForm>
            </details>
        </section>
        <section class="card danger-zone" aria-labelledby="delete-title">
            <h2 id="delete-title">"Delete endpoint"</h2>
            {action_outcome(delete.value(), "Endpoint deleted.")}
            <details class="inline-form">
                <summary class="button button-danger-outline">"Delete endpoint…"</summary>
                <ActionForm action=delete>
                    <input type="hidden" name="id" value=delete_id/>
                    <p>{delete_prompt}</p>
                    <button class="button button-danger" type="submit" disabled=move || delete.pending().get()>
                        "Delete this endpoint"
                    </button>
                </ActionForm>
            </details>
        </section>
    }
}

fn delivery_badge(d: &WebhookDeliveryView) -> impl IntoView {
    match d.status {
        DeliveryStatus::Delivered => {
            view! { <span class="badge badge-ok">"Delivered"</span> }.into_any()
        }
        DeliveryStatus::Failed => {
            view! { <span class="badge badge-error">"Gave up"</span> }.into_any()
        }
        DeliveryStatus::Pending if d.attempts > 0 => {
            view! { <span class="badge badge-muted">"Retrying"</span> }.into_any()
        }
        DeliveryStatus::Pending => {
            view! { <span class="badge badge-muted">"Waiting"</span> }.into_any()
        }
    }
}

/// The last answer in words: "HTTP 500", "no answer within 10 s", …
fn last_answer(d: &WebhookDeliveryView) -> String {
    match (d.last_status_code, d.last_error.as_deref()) {
        (Some(code), Some(error)) => format!("HTTP {code}: {error}"),
        (Some(code), None) => format!("HTTP {code}"),
        (None, Some(error)) => error.to_string(),
        (None, None) => "—".to_string(),
    }
}

#[component]
fn Deliveries(
    endpoint_id: String,
    deliveries: Resource<Result<Page<WebhookDeliveryView>, AppError>>,
    replay: ServerAction<ReplayWebhookDelivery>,
) -> impl IntoView {
    let base = endpoint_page(&endpoint_id);
    let status = query_value("status");
    let tabs = [
        (None, "All"),
        (Some(DeliveryStatus::Pending), "Waiting"),
        (Some(DeliveryStatus::Delivered), "Delivered"),
        (Some(DeliveryStatus::Failed), "Gave up"),
    ];
    let tab_links = {
        let base = base.clone();
        tabs.into_iter()
            .map(|(tab, label)| {
                let href = href_with(&base, &["status"], &[("status", tab.map(|s| s.as_str().to_string()).unwrap_or_default())]);
                let current = move || status() == tab.map(|s| s.as_str().to_string());
                view! {
                    <a href=href class="button button-small" class:button-primary=current class:button-secondary=move || !current()
                        aria-current=move || current().then_some("page")>{label}</a>
                }
            })
            .collect_view()
    };
    view! {
        <section class="card" aria-labelledby="deliveries-title">
            <h2 id="deliveries-title">"Deliveries"</h2>
            <nav class="actions-row" aria-label="Show deliveries">{tab_links}</nav>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || {
                    let base = base.clone();
                    let endpoint_id = endpoint_id.clone();
                    Suspend::new(async move {
                        match deliveries.await {
                            Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                            Ok(p) if p.items.is_empty() => view! {
                                <EmptyState icon=icons::activity title="No deliveries here"
                                    body="Events this endpoint hears appear here as they are sent, with each attempt's answer."/>
                            }.into_any(),
                            Ok(p) => {
                                let pages = p.pages();
                                let link = |n: u32| href_with(&base, &["status", "page"], &[("page", n.to_string())]);
                                view! {
                                    <div class="table-wrap" tabindex="0" role="region" aria-label="Deliveries">
                                    <table class="table">
                                        <thead><tr>
                                            <th scope="col">"Event"</th><th scope="col">"Status"</th>
                                            <th scope="col">"Attempts"</th><th scope="col">"Last answer"</th>
                                            <th scope="col">"Next attempt / delivered"</th><th scope="col">"Created"</th>
                                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                                        </tr></thead>
                                        <tbody>
                                        {p.items.into_iter().map(|d| view! { <DeliveryRow delivery=d endpoint_id=endpoint_id.clone() replay/> }).collect_view()}
                                        </tbody>
                                    </table>
                                    </div>
                                    <Pager page=p.page pages=pages total=p.total noun="delivery" nouns="deliveries"
                                        prev=(p.page > 1).then(|| link(p.page - 1))
                                        next=(p.page < pages).then(|| link(p.page + 1))
                                        labels=("← Newer", "Older →")/>
                                }.into_any()
                            }
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn DeliveryRow(
    delivery: WebhookDeliveryView,
    endpoint_id: String,
    replay: ServerAction<ReplayWebhookDelivery>,
) -> impl IntoView {
    let d = delivery;
    let when = match (d.status, d.delivered_at, d.next_attempt_at) {
        (DeliveryStatus::Delivered, Some(at), _) => format!("Delivered {}", format_time(at)),
        (DeliveryStatus::Pending, _, Some(at)) => format!("Next {}", format_time(at)),
        (DeliveryStatus::Failed, ..) => "No more attempts".to_string(),
        _ => "—".to_string(),
    };
    // The accessible name starts with the visible word (WCAG 2.5.3), then says what it sends.
    let button = format!("Replay: send {} again", d.event_type);
    let delivery_id = d.id.clone();
    view! {
        <tr data-delivery=d.id.clone() data-event=d.event_id.clone()>
            <td><code>{d.event_type.as_str()}</code><div class="cell-sub muted small"><code>{d.event_id.clone()}</code></div></td>
            <td>{delivery_badge(&d)}</td>
            <td>{d.attempts}</td>
            <td class="small">{last_answer(&d)}</td>
            <td class="small">{when}</td>
            <td>{stacked_time(d.created_at)}</td>
            <td class="actions">
                <ActionForm action=replay>
                    <input type="hidden" name="id" value=endpoint_id/>
                    <input type="hidden" name="delivery_id" value=delivery_id/>
                    <button class="button button-secondary button-small" type="submit" title="The same event, with the same id and body" aria-label=button>"Replay"</button>
                </ActionForm>
            </td>
        </tr>
    }
}
