//! Calls: the live, filtered list with the "Place a call" form, and one call's page (its
//! facts, hang-up, transfer and refresh while it is on, and its timeline).
//!
//! Both pages render completely on the server (the state at that moment, with a refresh
//! link). Once hydrated they follow the calls: they refetch on every change the server
//! announces (`use_call_changes`, server-sent events) and, as a fallback for changes
//! the stream does not carry (another instance's), every 10 s.

use crate::{
    components::{
        action_outcome, field_error, href_with, icons, query_value, use_call_changes, use_me,
        EmptyState, ErrorBanner, Field, Loading, PageHeader, Pager, SuccessBanner,
    },
    error::AppError,
    functions::{
        assistants::list_assistants,
        calls::{
            callable_numbers, get_call, list_calls, HangUpCall, PlaceCall, ReconcileCalls,
            RefreshCall, TransferCall,
        },
        numbers::list_numbers,
    },
    model::{
        AssistantOption, CallDetail, CallEventView, CallRow, CallStatus, Direction, TransferResult,
    },
    phone::format_e164,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// How often an open page refetches its calls besides the change stream (which carries
/// only this instance's changes).
const POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// The filters of the calls list, in the order they appear in links.
const FILTERS: [&str; 6] = ["assistant", "number", "direction", "status", "date", "page"];

/// The calls list with the current filters, some replaced.
fn list_href(changes: &[(&str, String)]) -> String {
    href_with("/dashboard/calls", &FILTERS, changes)
}

/// Seconds since the epoch, on the server or in the browser.
fn now_secs() -> i64 {
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        (browser::date_now() / 1000.0) as i64
    }
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
mod browser {
    use wasm_bindgen::prelude::wasm_bindgen;

    #[wasm_bindgen]
    extern "C" {
        /// `Date.now()`: milliseconds since the epoch (the standard clock is not available
        /// in WebAssembly).
        #[wasm_bindgen(js_namespace = Date, js_name = now)]
        pub fn date_now() -> f64;
    }
}

/// Bumps `tick` every [`POLL`] while `follow` is true (only in the browser: effects do not
/// run on the server).
fn poll_while(tick: RwSignal<u32>, follow: impl Fn() -> bool + Send + Sync + 'static) {
    Effect::new(move |_| {
        tick.track();
        if follow() {
            set_timeout(
                move || {
                    tick.try_update(|t| *t = t.wrapping_add(1));
                },
                POLL,
            );
        }
    });
}

/// `m:ss` (or `h:mm:ss` from an hour on).
pub fn duration_words(seconds: i64) -> String {
    let s = seconds.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Epoch seconds as `2026-11-22 14:03:07 UTC`.
fn time_with_seconds(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "—".to_string())
}

/// Epoch seconds as `14:03:07` (UTC).
fn clock(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "—".to_string())
}

/// The call's status as a badge; calls that are on are highlighted.
pub fn call_status_badge(status: CallStatus) -> impl IntoView {
    let class = match status {
        CallStatus::Dialing | CallStatus::Ringing => "badge badge-live",
        CallStatus::Answered => "badge badge-live badge-ok",
        CallStatus::Ended => "badge badge-muted",
    };
    view! { <span class=class data-status=status.as_str()>{status.label()}</span> }
}

fn direction_badge(direction: Direction) -> impl IntoView {
    let arrow = match direction {
        Direction::Inbound => "↙",
        Direction::Outbound => "↗",
    };
    view! {
        <span class=format!("badge badge-direction badge-{}", direction.as_str())>
            <span aria-hidden="true">{arrow}</span>{direction.label()}
        </span>
    }
}

/// The call's heading: the other party.
fn call_title(call: &CallRow) -> String {
    if call.direction == Direction::Inbound {
        format!("Call from {}", format_e164(&call.from))
    } else {
        format!("Call to {}", format_e164(&call.to))
    }
}

/// A timeline entry's kind in words.
fn kind_words(kind: &str) -> String {
    let words = match kind {
        "call.requested" => "Call requested",
        "call.created" => "Call placed with LiveKit",
        "call.failed" => "Call failed",
        "call.hangup" => "Hung up from Dial",
        "transfer.started" => "Transfer started",
        "transfer.succeeded" => "Transfer succeeded",
        "transfer.failed" => "Transfer failed",
        "reconcile.closed" => "Closed by reconcile (LiveKit no longer has the call)",
        "room_started" => "Room started",
        "room_finished" => "Room finished",
        "participant_joined" => "Participant joined",
        "participant_left" => "Participant left",
        "participant_connection_aborted" => "Participant connection aborted",
        "twilio.voice" => "Twilio asked how to route the call",
        other => {
            if let Some(status) = other.strip_prefix("twilio.") {
                return format!("Twilio: {}", status.replace('-', " "));
            }
            let spaced = other.replace(['_', '.'], " ");
            let mut chars = spaced.chars();
            return match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            };
        }
    };
    words.to_string()
}

/// The details worth showing from an event's JSON, in this order.
const DETAIL_KEYS: [&str; 16] = [
    "to",
    "from",
    "room",
    "sip_call_status",
    "disconnect_reason",
    "sip_call_id",
    "error",
    "sip_status",
    "reason",
    "by",
    "assistant",
    "decision",
    "CallStatus",
    "SipResponseCode",
    "CallDuration",
    "dtmf",
];

fn event_details(detail: &str) -> Vec<(&'static str, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(detail)
    else {
        return Vec::new();
    };
    DETAIL_KEYS
        .iter()
        .filter_map(|key| {
            let text = match map.get(*key)? {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) if s.is_empty() => return None,
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((*key, text))
        })
        .collect()
}

/// The latest transfer's result, from the timeline (what a page without JavaScript shows
/// after the transfer form's post).
fn last_transfer(timeline: &[CallEventView]) -> Option<(bool, String)> {
    let event = timeline
        .iter()
        .rev()
        .find(|e| e.kind == "transfer.succeeded" || e.kind == "transfer.failed")?;
    let details = event_details(&event.detail);
    let get = |k: &str| {
        details
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.clone())
    };
    let to = get("to").unwrap_or_default();
    if event.kind == "transfer.succeeded" {
        Some((true, format!("Transferred to {to}")))
    } else {
        let status = get("sip_status")
            .map(|s| format!(" (SIP {s})"))
            .unwrap_or_default();
        let error = get("error").unwrap_or_else(|| "no reason given".into());
        Some((false, format!("Transfer to {to} failed: {error}{status}")))
    }
}

#[component]
pub fn CallsPage() -> impl IntoView {
    let (assistant, number, direction, status, date, page) = (
        query_value("assistant"),
        query_value("number"),
        query_value("direction"),
        query_value("status"),
        query_value("date"),
        query_value("page"),
    );
    let filtered = move || {
        assistant().is_some()
            || number().is_some()
            || direction().is_some()
            || status().is_some()
            || date().is_some()
    };
    let place = ServerAction::<PlaceCall>::new();
    // Live updates: the server's call-change stream, plus a slow poll as the fallback.
    let changes = use_call_changes();
    let tick = RwSignal::new(0u32);
    poll_while(tick, || true);
    // Every resource of the page is created here, outside the Suspense that renders it.
    let calls = Resource::new(
        move || {
            (
                (assistant(), number(), direction(), status(), date(), page()),
                tick.get(),
                changes.get(),
                place.version().get(),
            )
        },
        |((assistant, number, direction, status, date, page), _, _, _)| {
            list_calls(
                assistant,
                number,
                direction,
                status,
                date,
                page.and_then(|p| p.parse().ok()),
            )
        },
    );
    let assistants = Resource::new(
        || (),
        |_| async move { list_assistants().await.unwrap_or_default() },
    );
    let numbers = Resource::new(
        || (),
        |_| async move {
            list_numbers(None, None, None, None, None, None, None)
                .await
                .map(|p| p.items)
                .unwrap_or_default()
        },
    );
    let callable = Resource::new(|| (), |_| callable_numbers());
    view! {
        <Title text="Calls"/>
        <PageHeader title="Calls" subtitle="Every call to or from your numbers, live.">
            <a class="button button-secondary" href=move || list_href(&[])>"Refresh"</a>
            <a class="button button-primary" href="#place-call">"Place a call"</a>
        </PageHeader>
        <form class="filters card" method="get" action="/dashboard/calls" role="search" aria-label="Filter calls">
            <div class="field">
                <label for="filter-assistant">"Assistant"</label>
                <select id="filter-assistant" name="assistant">
                    <option value="" selected=move || assistant().is_none()>"All assistants"</option>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            assistants.await.into_iter().map(|a| {
                                let is = assistant().as_deref() == Some(a.id.as_str());
                                view! { <option value=a.id selected=is>{a.name}</option> }
                            }).collect_view()
                        })}
                    </Suspense>
                </select>
            </div>
            <div class="field">
                <label for="filter-number">"Number"</label>
                <select id="filter-number" name="number">
                    <option value="" selected=move || number().is_none()>"All numbers"</option>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            numbers.await.into_iter().map(|n| {
                                let is = number().as_deref() == Some(n.id.as_str());
                                view! { <option value=n.id selected=is>{format_e164(&n.e164)}</option> }
                            }).collect_view()
                        })}
                    </Suspense>
                </select>
            </div>
            <div class="field">
                <label for="filter-direction">"Direction"</label>
                <select id="filter-direction" name="direction">
                    <option value="" selected=move || direction().is_none()>"Both"</option>
                    <option value="inbound" selected=move || direction().as_deref() == Some("inbound")>"Inbound"</option>
                    <option value="outbound" selected=move || direction().as_deref() == Some("outbound")>"Outbound"</option>
                </select>
            </div>
            <div class="field">
                <label for="filter-status">"Status"</label>
                <select id="filter-status" name="status">
                    <option value="" selected=move || status().is_none()>"Any"</option>
                    {[("live", "Live (not ended)"), ("dialing", "Dialing"), ("ringing", "Ringing"), ("answered", "Answered"), ("ended", "Ended")]
                        .into_iter()
                        .map(|(value, label)| view! {
                            <option value=value selected=move || status().as_deref() == Some(value)>{label}</option>
                        })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-date">"Date (UTC)"</label>
                <input id="filter-date" type="date" name="date" value=date/>
            </div>
            <div class="filter-actions">
                <button class="button button-secondary" type="submit">"Apply"</button>
                <a class="button button-ghost-dark" href="/dashboard/calls">"Clear"</a>
            </div>
        </form>
        <section class="card" aria-label="Calls" data-testid="calls">
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match calls.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(p) if p.total == 0 && !filtered() => view! {
                            <EmptyState icon=icons::activity title="No calls yet"
                                body="Calls people make to your numbers that are assigned to an assistant, and the calls you place from them, appear here as they happen, with their status, duration and outcome.">
                                <a class="button button-primary" href="#place-call">"Place a call"</a>
                            </EmptyState>
                        }.into_any(),
                        Ok(p) if p.total == 0 => view! { <p class="muted">"No calls match these filters."</p> }.into_any(),
                        Ok(p) => {
                            let pages = p.pages();
                            let prev = (p.page > 1).then(|| list_href(&[("page", (p.page - 1).to_string())]));
                            let next = (p.page < pages).then(|| list_href(&[("page", (p.page + 1).to_string())]));
                            let now = now_secs();
                            view! {
                                <div class="table-wrap">
                                <table class="table calls-table">
                                    <thead><tr>
                                        <th scope="col">"Started"</th>
                                        <th scope="col">"Direction"</th>
                                        <th scope="col">"From"</th>
                                        <th scope="col">"To"</th>
                                        <th scope="col">"Assistant"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col">"Duration"</th>
                                        <th scope="col">"Outcome"</th>
                                    </tr></thead>
                                    <tbody>
                                        {p.items.into_iter().map(|c| {
                                            let href = format!("/dashboard/calls/{}", c.id);
                                            let duration = c.duration(now).map(duration_words).unwrap_or_else(|| "—".into());
                                            view! {
                                                <tr data-call=c.id.clone() class:call-live=c.is_live()>
                                                    <td class="nowrap"><a href=href>{crate::model::format_time(c.created_at)}</a></td>
                                                    <td>{direction_badge(c.direction)}</td>
                                                    <td class="nowrap">{format_e164(&c.from)}</td>
                                                    <td class="nowrap">{format_e164(&c.to)}</td>
                                                    <td>{c.assistant.clone().unwrap_or_else(|| "—".into())}</td>
                                                    <td>{call_status_badge(c.status)}</td>
                                                    <td class="nowrap">{duration}</td>
                                                    <td>{c.outcome_words()}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <Pager page=p.page pages=pages total=p.total noun="call" nouns="calls" prev next labels=("← Newer", "Older →")/>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
        <PlaceCallCard place callable/>
        <ReconcileCard/>
    }
}

/// Admins: compare the open calls with LiveKit now (it also happens every minute), for
/// calls whose last webhooks were lost.
#[component]
fn ReconcileCard() -> impl IntoView {
    let me = use_me();
    let reconcile = ServerAction::<ReconcileCalls>::new();
    let value = reconcile.value();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let admin = match me {
                    Some(m) => m.0.await.ok().flatten().is_some_and(|u| u.is_admin()),
                    None => false,
                };
                admin.then(|| view! {
                    <section class="card" aria-labelledby="reconcile-title">
                        <h2 id="reconcile-title">"Check calls against LiveKit"</h2>
                        <p class="muted">"Webhooks can be lost. Every minute Dial asks LiveKit which calls are still on and closes the rest; you can also do it now."</p>
                        {move || value.get().map(|r| match r {
                            Ok(message) => view! { <SuccessBanner message=message/> }.into_any(),
                            Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        })}
                        <ActionForm action=reconcile>
                            <button class="button button-secondary" type="submit" disabled=move || reconcile.pending().get()>
                                {move || if reconcile.pending().get() { "Checking…" } else { "Check now" }}
                            </button>
                        </ActionForm>
                    </section>
                })
            })}
        </Suspense>
    }
}

/// The "Place a call" form: from one of the user's assigned numbers to any number.
#[component]
fn PlaceCallCard(
    place: ServerAction<PlaceCall>,
    callable: Resource<Result<Vec<AssistantOption>, AppError>>,
) -> impl IntoView {
    let value = place.value();
    let number_error = field_error(value, "number_id");
    view! {
        <section class="card" id="place-call" aria-labelledby="place-call-title">
            <h2 id="place-call-title">"Place a call"</h2>
            {action_outcome(value, "Call placed.")}
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match callable.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted">
                                "Assign a number to an assistant first: calls go out from one of your numbers, and its assistant's agent takes the call. "
                                <a href="/dashboard/phone-numbers">"Choose a number"</a>
                            </p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ActionForm action=place>
                                <div class="form-row">
                                    <div class="field" class:has-error=move || number_error().is_some()>
                                        <label for="field-number_id">"From number"</label>
                                        <select id="field-number_id" name="number_id" aria-describedby="field-number_id-hint">
                                            {list.into_iter().map(|n| view! { <option value=n.id>{n.name}</option> }).collect_view()}
                                        </select>
                                        <p class="hint" id="field-number_id-hint">"The number's assistant takes the call."</p>
                                        {move || number_error().map(|e| view! { <p class="field-error">{e}</p> })}
                                    </div>
                                    <Field label="Destination" name="to" kind="tel" required=true placeholder="+14155550100"
                                        hint="In international format (E.164)." autocomplete="off"
                                        error=Signal::derive(field_error(value, "to"))/>
                                </div>
                                <details class="options">
                                    <summary>"Options"</summary>
                                    <div class="form-row">
                                        <Field label="DTMF after connect" name="dtmf" autocomplete="off" placeholder="1w2#"
                                            hint="Digits, * and #, sent once the call connects; w = ½ s pause."
                                            error=Signal::derive(field_error(value, "dtmf"))/>
                                        <Field label="Caller display name" name="display_name" autocomplete="off"
                                            hint="Shown to the callee where the network allows."
                                            error=Signal::derive(field_error(value, "display_name"))/>
                                    </div>
                                    <div class="form-row">
                                        <Field label="Ringing timeout (seconds)" name="ringing_timeout" kind="number"
                                            hint="Give up if nobody answers in this time."
                                            error=Signal::derive(field_error(value, "ringing_timeout"))/>
                                        <Field label="Max call duration (seconds)" name="max_duration" kind="number"
                                            hint="Hang up after this long."
                                            error=Signal::derive(field_error(value, "max_duration"))/>
                                    </div>
                                    <div class="field field-check">
                                        <label class="check">
                                            <input type="checkbox" name="play_dialtone" value="on"/>
                                            <span>"Play dial tone"</span>
                                        </label>
                                        <p class="hint">"The room hears a dial tone while the call rings."</p>
                                    </div>
                                    <div class="field field-check">
                                        <label class="check">
                                            <input type="checkbox" name="wait_until_answered" value="on" checked=true/>
                                            <span>"Wait until answered"</span>
                                        </label>
                                        <p class="hint">"LiveKit counts the call as connected only once the callee answers; if nobody does, the call ends with the reason."</p>
                                    </div>
                                </details>
                                <button class="button button-primary" type="submit" disabled=move || place.pending().get()>
                                    {move || if place.pending().get() { "Calling…" } else { "Call" }}
                                </button>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn CallPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id")).unwrap_or_default();
    let hang_up = ServerAction::<HangUpCall>::new();
    let transfer = ServerAction::<TransferCall>::new();
    let refresh = ServerAction::<RefreshCall>::new();
    let acted =
        move || hang_up.version().get() + transfer.version().get() + refresh.version().get();
    let changes = use_call_changes();
    let tick = RwSignal::new(0u32);
    // Every resource of the page is created here, outside the Suspense that renders it.
    let call = Resource::new(
        move || (id(), acted(), tick.get(), changes.get()),
        |(id, _, _, _)| get_call(id),
    );
    // Set once the followed call is seen to end: the controls then go away.
    let ended = RwSignal::new(false);
    Effect::new(move |_| {
        let over = call
            .get()
            .and_then(Result::ok)
            .is_some_and(|d| !d.call.is_live());
        if over && !ended.get_untracked() {
            ended.set(true);
        }
    });
    // Whether the controls are shown: refetched only when an action completes or the call
    // ends, so a transfer target being typed is not cleared by a refetch.
    let live = Resource::new(
        move || (id(), acted(), ended.get()),
        |(id, _, _)| async move { get_call(id).await.map(|d| d.call.is_live()) },
    );
    // While the call is on: the change stream, and the slow poll as the fallback.
    poll_while(tick, move || !ended.get());
    let controls = CallControls {
        hang_up,
        transfer,
        refresh,
        live,
    };
    view! {
        <Title text="Call"/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match call.await {
                    Err(e) => {
                        not_found_status(&e);
                        view! {
                        <PageHeader title="Call"/>
                        <ErrorBanner message=e.to_string()/>
                        <a class="button button-secondary" href="/dashboard/calls">"Back to calls"</a>
                    }.into_any()
                    }
                    Ok(detail) => view! { <CallSummary detail/> }.into_any(),
                }
            })}
        </Transition>
        <ControlsCard id=Signal::derive(id) controls/>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                call.await.ok().map(|detail| view! { <Timeline events=detail.timeline/> })
            })}
        </Transition>
    }
}

/// Another's call, or none: the page answers 404, as the server function does.
fn not_found_status(error: &AppError) {
    #[cfg(feature = "ssr")]
    if matches!(error, AppError::NotFound { .. }) {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = error;
}

#[derive(Clone, Copy)]
struct CallControls {
    hang_up: ServerAction<HangUpCall>,
    transfer: ServerAction<TransferCall>,
    refresh: ServerAction<RefreshCall>,
    live: Resource<Result<bool, AppError>>,
}

/// The header and the facts of the call.
#[component]
fn CallSummary(detail: CallDetail) -> impl IntoView {
    let call = detail.call;
    let transfer = last_transfer(&detail.timeline);
    let now = now_secs();
    let our_number = if call.direction == Direction::Inbound {
        call.to.clone()
    } else {
        call.from.clone()
    };
    let number = match call.number_id.clone() {
        Some(id) => view! { <a href=format!("/dashboard/phone-numbers/{id}")>{format_e164(&our_number)}</a> }.into_any(),
        None => view! { <span class="muted">"Not one of Dial's numbers"</span> }.into_any(),
    };
    let assistant = match (call.assistant_id.clone(), call.assistant.clone()) {
        (Some(id), Some(name)) => {
            view! { <a href=format!("/dashboard/assistants/{id}")>{name}</a> }.into_any()
        }
        _ => view! { <span class="muted">"None"</span> }.into_any(),
    };
    let code = |v: Option<String>| match v {
        Some(v) => view! { <code>{v}</code> }.into_any(),
        None => view! { <span class="muted">"—"</span> }.into_any(),
    };
    let time = |t: Option<i64>| t.map(time_with_seconds).unwrap_or_else(|| "—".into());
    let (title, header_badge, facts_badge) = (
        call_title(&call),
        call_status_badge(call.status),
        call_status_badge(call.status),
    );
    let subtitle = format!(
        "{} call · started {}",
        if call.direction == Direction::Inbound {
            "Inbound"
        } else {
            "Outbound"
        },
        time_with_seconds(call.created_at)
    );
    let refresh_href = format!("/dashboard/calls/{}", call.id);
    let duration = call
        .duration(now)
        .map(duration_words)
        .unwrap_or_else(|| "—".into());
    view! {
        <PageHeader title subtitle>
            {header_badge}
            <a class="button button-secondary" href=refresh_href>"Refresh"</a>
            <a class="button button-secondary" href="/dashboard/calls">"Back to calls"</a>
        </PageHeader>
        <section class="card" aria-label="Call facts">
            <dl class="facts" data-testid="call-facts">
                <dt>"Direction"</dt><dd>{direction_badge(call.direction)}</dd>
                <dt>"From"</dt><dd>{format_e164(&call.from)}</dd>
                <dt>"To"</dt><dd>{format_e164(&call.to)}</dd>
                <dt>"Number"</dt><dd>{number}</dd>
                <dt>"Assistant"</dt><dd>{assistant}</dd>
                <dt>"Status"</dt><dd data-testid="call-status">{facts_badge}</dd>
                <dt>"Outcome"</dt><dd data-testid="call-outcome">{call.outcome_words()}{call.end_reason.clone().map(|r| view! { <span class="muted">{format!(" · {r}")}</span> })}</dd>
                {transfer.map(|(ok, text)| view! {
                    <dt>"Last transfer"</dt>
                    <dd data-testid="last-transfer" class=if ok { "transfer-ok" } else { "transfer-failed" }>{text}</dd>
                })}
                <dt>"Started"</dt><dd>{time_with_seconds(call.created_at)}</dd>
                <dt>"Answered"</dt><dd>{time(call.answered_at)}</dd>
                <dt>"Ended"</dt><dd>{time(call.ended_at)}</dd>
                <dt>"Duration"</dt><dd data-testid="call-duration">{duration}</dd>
                <dt>"Call IDs"</dt>
                <dd class="call-ids">
                    <span><span class="muted">"LiveKit "</span>{code(call.sip_call_id.clone())}</span>
                    <span><span class="muted">"Twilio CallSid "</span>{code(call.twilio_call_sid.clone())}</span>
                </dd>
                <dt>"Room"</dt><dd>{code(call.room.clone())}</dd>
            </dl>
        </section>
    }
}

fn transfer_outcome(value: Option<Result<TransferResult, AppError>>) -> Option<AnyView> {
    Some(match value? {
        Ok(t) if t.ok => view! { <SuccessBanner message=t.message/> }.into_any(),
        Ok(t) => {
            let status = t
                .sip_status_code
                .map(|c| format!(" (SIP {c})"))
                .filter(|s| !t.message.contains(s.trim()))
                .unwrap_or_default();
            view! { <ErrorBanner message=format!("{}{status}", t.message)/> }.into_any()
        }
        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
    })
}

/// Hang up, transfer and refresh, while the call is on.
#[component]
fn ControlsCard(id: Signal<String>, controls: CallControls) -> impl IntoView {
    let CallControls {
        hang_up,
        transfer,
        refresh,
        live,
    } = controls;
    let transfer_value = transfer.value();
    let outcomes = view! {
        {move || transfer_outcome(transfer_value.get())}
        {action_outcome(hang_up.value(), "Hung up.")}
        {action_outcome(refresh.value(), "Status refreshed from LiveKit.")}
    };
    view! {
        <div class="call-outcomes">{outcomes}</div>
        <Suspense fallback=|| ()>
            {
                move || {
                    Suspend::new(async move {
                        let on = live.await.unwrap_or(false);
                        let id = id.get_untracked();
                        let (transfer_id, refresh_id, hang_up_id) = (id.clone(), id.clone(), id);
                        on.then(|| view! {
                            <section class="card" aria-labelledby="controls-title" data-testid="call-controls">
                                <h2 id="controls-title">"Control the call"</h2>
                                <ActionForm action=transfer attr:class="inline-form transfer-form">
                                    <input type="hidden" name="id" value=transfer_id/>
                                    <Field label="Transfer to" name="transfer_to" required=true autocomplete="off"
                                        placeholder="tel:+14155550100 or sip:desk@example.com"
                                        error=Signal::derive(field_error(transfer_value, "transfer_to"))/>
                                    <button class="button button-primary" type="submit" disabled=move || transfer.pending().get()>
                                        {move || if transfer.pending().get() { "Transferring…" } else { "Transfer" }}
                                    </button>
                                </ActionForm>
                                <div class="actions-row">
                                    <ActionForm action=refresh attr:class="inline-form">
                                        <input type="hidden" name="id" value=refresh_id/>
                                        <button class="button button-secondary" type="submit" disabled=move || refresh.pending().get()>"Refresh status"</button>
                                    </ActionForm>
                                    <details class="confirm">
                                        <summary class="button button-danger-outline">"Hang up…"</summary>
                                        <ActionForm action=hang_up>
                                            <input type="hidden" name="id" value=hang_up_id/>
                                            <p>"Hang up this call? The person on the phone is disconnected."</p>
                                            <button class="button button-danger" type="submit" disabled=move || hang_up.pending().get()>"Hang up now"</button>
                                        </ActionForm>
                                    </details>
                                </div>
                            </section>
                        })
                    })
                }
            }
        </Suspense>
    }
}

/// The call's events, oldest first.
#[component]
fn Timeline(events: Vec<CallEventView>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="timeline-title">
            <h2 id="timeline-title">"Timeline"</h2>
            {if events.is_empty() {
                view! { <p class="muted">"Nothing has happened on this call yet."</p> }.into_any()
            } else {
                view! {
                    <ol class="timeline" data-testid="timeline">
                        {events.into_iter().map(|e| {
                            let details = event_details(&e.detail);
                            let source = e.source.clone();
                            view! {
                                <li class=format!("timeline-item timeline-{source}") data-kind=e.kind.clone()>
                                    <time class="timeline-time" title=time_with_seconds(e.at)>{clock(e.at)}</time>
                                    <div class="timeline-body">
                                        <div class="timeline-title">
                                            <span class=format!("badge badge-source source-{source}")>{source.clone()}</span>
                                            <strong>{kind_words(&e.kind)}</strong>
                                            <code class="small">{e.kind.clone()}</code>
                                        </div>
                                        {(!details.is_empty()).then(|| view! {
                                            <p class="timeline-detail">
                                                {details.into_iter().map(|(k, v)| view! {
                                                    <span class="kv"><span class="muted">{k}</span>" "<span>{v}</span></span>
                                                }).collect_view()}
                                            </p>
                                        })}
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(duration_words(0), "0:00");
        assert_eq!(duration_words(65), "1:05");
        assert_eq!(duration_words(3_725), "1:02:05");
        assert_eq!(duration_words(-3), "0:00");
    }

    #[test]
    fn event_details_pick_the_known_keys_in_order() {
        let d = event_details(
            r#"{"sip_status": 486, "to": "tel:+14155550199", "error": "busy", "x": 1, "by": null}"#,
        );
        assert_eq!(
            d,
            vec![
                ("to", "tel:+14155550199".to_string()),
                ("error", "busy".to_string()),
                ("sip_status", "486".to_string()),
            ]
        );
        assert!(event_details("not json").is_empty());
    }

    #[test]
    fn kinds_read_as_words() {
        assert_eq!(kind_words("transfer.succeeded"), "Transfer succeeded");
        assert_eq!(kind_words("twilio.in-progress"), "Twilio: in progress");
        assert_eq!(kind_words("track_published"), "Track published");
    }

    #[test]
    fn the_last_transfer_is_read_from_the_timeline() {
        let event = |kind: &str, detail: &str| CallEventView {
            source: "dial".into(),
            kind: kind.into(),
            detail: detail.into(),
            at: 0,
        };
        let timeline = vec![
            event("transfer.succeeded", r#"{"to":"tel:+1"}"#),
            event(
                "transfer.failed",
                r#"{"to":"sip:a@b","error":"busy","sip_status":486}"#,
            ),
        ];
        assert_eq!(
            last_transfer(&timeline),
            Some((
                false,
                "Transfer to sip:a@b failed: busy (SIP 486)".to_string()
            ))
        );
        assert_eq!(last_transfer(&timeline[..1]).map(|t| t.0), Some(true));
        assert_eq!(last_transfer(&[]), None);
    }
}
