//! The calls list: filters, live updates, "Place a call" and "Check against LiveKit".

use super::*;
use crate::model::assistant_labels;

#[component]
pub fn CallsPage() -> impl IntoView {
    let (assistant, number, direction, status, date, tests, page) = (
        query_value("assistant"),
        query_value("number"),
        query_value("direction"),
        query_value("status"),
        query_value("date"),
        query_value("tests"),
        query_value("page"),
    );
    let (after, before) = (query_value("after"), query_value("before"));
    let filtered = move || {
        assistant().is_some()
            || number().is_some()
            || direction().is_some()
            || status().is_some()
            || date().is_some()
            || tests().is_some()
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
                (
                    (assistant(), number(), direction(), status(), date()),
                    (tests(), page(), after(), before()),
                ),
                tick.get(),
                changes.get(),
                place.version().get(),
            )
        },
        |(
            ((assistant, number, direction, status, date), (tests, page, after, before)),
            _,
            _,
            _,
        )| {
            list_calls(CallQuery {
                assistant,
                number,
                direction,
                status,
                date,
                tests,
                page: page.and_then(|p| p.parse().ok()),
                after,
                before,
            })
        },
    );
    let assistants = Resource::new(
        || (),
        |_| async move { list_assistants().await.unwrap_or_default() },
    );
    // Every number that has calls, released ones too (their calls stay in the history),
    // and the one filtered by now.
    let numbers = Resource::new(number, |selected| async move {
        filter_numbers(selected).await.unwrap_or_default()
    });
    let callable = Resource::new(|| (), |_| callable_numbers());
    view! {
        <Title text="Calls"/>
        <PageHeader title="Calls" subtitle="Every call to or from your numbers, live.">
            <a class="button button-secondary" href=move || list_href(&[])>"Refresh"</a>
            <a class="button button-secondary" href="/dashboard/calls/browser">"Call from the browser"</a>
            <a class="button button-primary" href="#place-call">"Place a call"</a>
        </PageHeader>
        <form class="filters card" method="get" action="/dashboard/calls" role="search" aria-label="Filter calls">
            <div class="field">
                <label for="filter-assistant">"Assistant"</label>
                <select id="filter-assistant" name="assistant">
                    <option value="" selected=move || assistant().is_none()>"All assistants"</option>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            let list = assistants.await;
                            let labels = assistant_labels(list.iter().map(|a| (a.name.as_str(), a.owner.as_str())));
                            list.into_iter().zip(labels).map(|(a, label)| {
                                let is = assistant().as_deref() == Some(a.id.as_str());
                                view! { <option value=a.id selected=is>{label}</option> }
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
                                view! { <option value=n.id selected=is>{n.name}</option> }
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
            <div class="field field-check">
                <label class="check">
                    <input type="checkbox" name="tests" value="include" checked=move || tests().as_deref() == Some("include")/>
                    <span>"Show test calls"</span>
                </label>
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
                                <a class="button button-secondary" href="/dashboard/calls/browser">"Call from the browser"</a>
            <a class="button button-primary" href="#place-call">"Place a call"</a>
                            </EmptyState>
                        }.into_any(),
                        Ok(p) if p.total == 0 => view! { <p class="muted">"No calls match these filters."</p> }.into_any(),
                        Ok(p) => {
                            let pages = p.pages();
                            let prev = p.prev.clone().map(|c| list_href(&[
                                ("page", p.page.saturating_sub(1).max(1).to_string()),
                                ("before", c),
                                ("after", String::new()),
                            ]));
                            let next = p.next.clone().map(|c| list_href(&[
                                ("page", p.page.saturating_add(1).to_string()),
                                ("after", c),
                                ("before", String::new()),
                            ]));
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
                                            view! {
                                                <tr data-call=c.id.clone() class:call-live=c.is_live()>
                                                    <td><a href=href>{crate::components::stacked_time(c.created_at)}</a></td>
                                                    <td>{direction_badge(c.direction)}{c.test.then(|| view! { " " <span class="badge badge-muted" title="Placed by Test inbound route">"Test"</span> })}</td>
                                                    <td class="nowrap">{format_e164(&c.from)}</td>
                                                    <td class="nowrap">{format_e164(&c.to)}</td>
                                                    <td>{match (c.assistant.clone(), c.placed_by.clone()) {
                                                        (Some(a), _) => a,
                                                        (None, Some(who)) => format!("{who}, from the browser"),
                                                        (None, None) => "—".into(),
                                                    }}</td>
                                                    <td class="nowrap">{call_status_badge(c.status)}</td>
                                                    <td class="nowrap"><LiveDuration answered_at=c.answered_at ended_at=c.ended_at/></td>
                                                    <td>{c.outcome_words()}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <Pager page=p.page pages=pages total=p.total more=p.total_more noun="call" nouns="calls" prev next labels=("← Newer", "Older →")/>
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
                                            hint="Give up if nobody answers in this time (up to 300 s; with \u{201c}Wait until answered\u{201d} LiveKit gives up at 80 s whatever this says)."
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
