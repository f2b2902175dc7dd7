//! Campaigns: the list with live progress, the form (new and edit), a campaign's page
//! (counters, progress chart, outcomes, caller numbers' health, contacts, lifecycle,
//! upload, export) and an upload's preview. Every form works without JavaScript; with it
//! the pages follow the campaign's calls live.

use crate::{
    components::{
        field_error, href_with, icons, notice_resource, query_value, stacked_time,
        use_live_changes, EmptyState, ErrorBanner, Field, Loading, NoticeOf, PageHeader, Pager,
    },
    functions::campaigns::{
        campaign_page, export_path, get_campaign, get_campaign_options, get_upload_preview,
        list_campaigns, upload_path, CampaignAction, ImportUpload, SaveCampaign, CAMPAIGNS_PAGE,
    },
    model::{
        CampaignContact, CampaignCounts, CampaignDetail, CampaignOptions, CampaignSettings,
        CampaignState, ContactState, Page, ProgressPoint,
    },
    phone::format_e164,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// The new-campaign form.
pub const NEW_CAMPAIGN_PAGE: &str = "/dashboard/campaigns/new";

/// A count that goes up every `every` in the browser (never on the server) while `live`
/// holds: what a campaign's page refreshes by, since a campaign's own changes (a contact
/// settled, the campaign completed) are not call changes. A campaign that is over changes
/// no more, so its page stops reading it again.
fn use_ticks(every: std::time::Duration, live: RwSignal<bool>) -> ReadSignal<u32> {
    let (ticks, set_ticks) = signal(0u32);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let _ = set_interval_with_handle(
            move || {
                if live.get_untracked() {
                    set_ticks.update(|n| *n = n.wrapping_add(1))
                }
            },
            every,
        );
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_ticks, every, live);
    ticks
}

/// Whether a campaign in this state can still change by itself (it is not over).
fn is_live(state: CampaignState) -> bool {
    !matches!(state, CampaignState::Completed | CampaignState::Cancelled)
}

fn state_badge(state: CampaignState) -> impl IntoView {
    let tone = match state {
        CampaignState::Running => "badge badge-live",
        CampaignState::Completed => "badge badge-ok",
        CampaignState::Cancelled => "badge badge-error",
        CampaignState::Draft | CampaignState::Paused => "badge badge-muted",
    };
    view! { <span class=tone data-state=state.as_str()>{state.label()}</span> }
}

/// A stacked bar: answered, failed or skipped, in progress, remaining.
fn progress_bar(c: CampaignCounts) -> impl IntoView {
    let pct = |n: u64| (n * 1000).checked_div(c.total).unwrap_or(0) as f64 / 10.0;
    let label = format!(
        "{} of {} done: {} answered, {} not reached, {} skipped; {} in progress, {} remaining",
        c.done,
        c.total,
        c.answered,
        c.failed,
        c.skipped,
        c.dialing,
        c.fresh + c.waiting
    );
    view! {
        <div class="progress" role="img" aria-label=label.clone() title=label>
            <span class="progress-answered" style=format!("width:{}%", pct(c.answered))></span>
            <span class="progress-failed" style=format!("width:{}%", pct(c.failed + c.skipped))></span>
            <span class="progress-dialing" style=format!("width:{}%", pct(c.dialing))></span>
        </div>
        <p class="small muted progress-caption">
            {format!("{} / {} done · {} answered · {} not reached · {} remaining",
                c.done, c.total, c.answered, c.failed + c.skipped, c.remaining())}
        </p>
    }
}

/// An outcome or result in words.
pub fn outcome_words(result: &str) -> &'static str {
    match result {
        "completed" => "Answered",
        "busy" => "Busy",
        "no_answer" => "No answer",
        "declined" => "Declined",
        "rejected" => "Rejected",
        "unreachable" => "Unreachable",
        "trunk_auth_failed" => "Trunk credentials refused",
        "ended_before_answer" => "Ended before answer",
        "failed" => "Failed",
        "do_not_call" => "Skipped: do not call",
        "cancelled" => "Cancelled",
        _ => "Other",
    }
}

#[component]
pub fn CampaignsPage() -> impl IntoView {
    let state = query_value("state");
    let page = query_value("page");
    let changes = use_live_changes(&["call", "campaign"]);
    let live = RwSignal::new(true);
    let ticks = use_ticks(std::time::Duration::from_secs(5), live);
    let list = Resource::new(
        move || (state(), page(), changes.get(), ticks.get()),
        |(state, page, _, _)| list_campaigns(state, page.and_then(|p| p.parse().ok())),
    );
    // A failed read keeps the last answer: the page goes on refreshing.
    Effect::new(move |_| {
        if let Some(Ok(p)) = list.get() {
            live.set(p.items.iter().any(|c| is_live(c.state)))
        }
    });
    let tab = move |value: &'static str, label: &'static str| {
        let href = if value.is_empty() {
            CAMPAIGNS_PAGE.to_string()
        } else {
            format!("{CAMPAIGNS_PAGE}?state={value}")
        };
        let current = move || (state().unwrap_or_default() == value).then_some("page");
        view! { <a href=href aria-current=current>{label}</a> }
    };
    view! {
        <Title text="Campaigns"/>
        <PageHeader title="Campaigns" subtitle="An assistant calls a list of people: paced, within calling hours, retried by outcome.">
            <a class="button button-primary" href=NEW_CAMPAIGN_PAGE>"New campaign"</a>
        </PageHeader>
        <nav class="subnav" aria-label="Campaigns by state">
            {tab("", "All")}{tab("running", "Running")}{tab("paused", "Paused")}{tab("draft", "Drafts")}
            {tab("completed", "Completed")}{tab("cancelled", "Cancelled")}
        </nav>
        <section class="card">
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(p) if p.items.is_empty() => view! {
                            <EmptyState icon=icons::activity title="No campaigns yet"
                                body="Create a campaign, upload its contacts from a CSV file, check the preview, and start it. Its calls appear in Calls as they happen."/>
                        }.into_any(),
                        Ok(p) => {
                            let pages = p.pages();
                            let link = |n: u32| href_with(CAMPAIGNS_PAGE, &["state", "page"], &[("page", n.to_string())]);
                            view! {
                                <div class="table-wrap">
                                <table class="table">
                                    <thead><tr>
                                        <th scope="col">"Campaign"</th><th scope="col">"State"</th>
                                        <th scope="col">"Progress"</th><th scope="col">"Created"</th>
                                    </tr></thead>
                                    <tbody>
                                    {p.items.into_iter().map(|c| view! {
                                        <tr data-campaign=c.id.clone()>
                                            <td><a href=campaign_page(&c.id)><strong>{c.name.clone()}</strong></a>
                                                <span class="cell-sub">{c.assistant_name.clone()}</span></td>
                                            <td>{state_badge(c.state)}</td>
                                            <td class="progress-cell">{progress_bar(c.counts)}</td>
                                            <td>{stacked_time(c.created_at)}</td>
                                        </tr>
                                    }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <Pager page=p.page pages=pages total=p.total noun="campaign" nouns="campaigns"
                                    prev=(p.page > 1).then(|| link(p.page - 1))
                                    next=(p.page < pages).then(|| link(p.page + 1))
                                    labels=("← Newer", "Older →")/>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn NewCampaignPage() -> impl IntoView {
    let options = Resource::new(|| (), |_| get_campaign_options());
    view! {
        <Title text="New campaign"/>
        <PageHeader title="New campaign" subtitle="Settings first; then upload the contacts, check the preview and start."/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match options.await {
                    Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                    Ok(o) if o.numbers.is_empty() => view! {
                        <section class="card">
                        <EmptyState icon=icons::phone title="No number to call from"
                            body="A campaign calls from numbers assigned to an assistant. Assign a number to an assistant first (Phone numbers → a number → Assign)."/>
                        </section>
                    }.into_any(),
                    Ok(o) => view! { <CampaignFormView options=o settings=CampaignSettings::default() id=None/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The campaign form: every setting, for a new campaign or an existing one.
#[component]
fn CampaignFormView(
    options: CampaignOptions,
    settings: CampaignSettings,
    id: Option<String>,
) -> impl IntoView {
    let save = ServerAction::<SaveCampaign>::new();
    let value = save.value();
    let err = move |name: &'static str| Signal::derive(field_error(value, name));
    let general = move || {
        value
            .get()
            .and_then(|r| r.err())
            .filter(|e| !matches!(e, crate::error::AppError::Invalid { .. }))
            .map(|e| view! { <ErrorBanner message=e.to_string()/> })
    };
    let s = settings.clone();
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day_names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let retry_rows = [
        ("retry_busy", "Busy", s.retry.busy),
        ("retry_no_answer", "No answer", s.retry.no_answer),
        ("retry_failed", "Failed", s.retry.failed),
        (
            "retry_trunk_auth_failed",
            "Trunk credentials refused",
            s.retry.trunk_auth_failed,
        ),
    ];
    let is_new = id.is_none();
    view! {
        <ActionForm action=save attr:class="campaign-form">
            {general}
            <input type="hidden" name="id" value=id.unwrap_or_default()/>
            <section class="card" aria-labelledby="cf-who">
                <h2 id="cf-who">"Who calls"</h2>
                <Field label="Name" name="name" required=true value=s.name.clone() placeholder="December reminders" error=err("name")/>
                <div class="field" class:has-error=move || err("assistant_id").get().is_some()>
                    <label for="cf-assistant">"Assistant"</label>
                    <select id="cf-assistant" name="assistant_id" required=true>
                        {options.assistants.iter().map(|a| view! {
                            <option value=a.id.clone() selected=a.id == s.assistant_id>{a.name.clone()}</option>
                        }).collect_view()}
                    </select>
                    {move || err("assistant_id").get().map(|e| view! { <p class="field-error">{e}</p> })}
                </div>
                <fieldset class="field" class:has-error=move || err("number_ids").get().is_some()>
                    <legend>"Call from"</legend>
                    <p class="hint">"Numbers assigned to the assistant; with several, contacts are spread across them and each contact is always called from the same one."</p>
                    {options.numbers.iter().map(|(nid, label, assistant)| {
                        let name = options.assistants.iter().find(|a| a.id == *assistant).map(|a| a.name.clone()).unwrap_or_default();
                        let checked = s.number_ids.contains(nid);
                        view! {
                            <label class="check"><input type="checkbox" name="number_ids[]" value=nid.clone() checked=checked/>
                                {format!("{label} · {name}")}</label>
                        }
                    }).collect_view()}
                    {move || err("number_ids").get().map(|e| view! { <p class="field-error">{e}</p> })}
                </fieldset>
                <Field label="Country for national numbers" name="default_country" value=s.default_country.clone().unwrap_or_default()
                    hint="Two letters (US, GB, DE…): contacts written without +country are read in it." error=err("default_country")/>
            </section>
            <section class="card" aria-labelledby="cf-when">
                <h2 id="cf-when">"When"</h2>
                <Field label="Time zone" name="time_zone" required=true value=s.time_zone.clone()
                    hint="The campaign's IANA zone, e.g. America/New_York, Europe/London." error=err("time_zone")/>
                <div class="field field-check">
                    <label class="check"><input type="checkbox" name="use_contact_zone" checked=s.use_contact_zone/>
                        "Use each contact's own time zone when the number says it for sure"</label>
                    <p class="hint">"Otherwise, and for numbers whose zone is not certain (a country with several zones), the campaign's zone is used."</p>
                </div>
                <fieldset class="field" class:has-error=move || err("days").get().is_some()>
                    <legend>"Days"</legend>
                    <div class="day-picks">
                    {days.iter().zip(day_names).map(|(d, n)| view! {
                        <label class="check"><input type="checkbox" name="days[]" value=*d checked=s.days.iter().any(|x| x == d)/>{n}</label>
                    }).collect_view()}
                    </div>
                    {move || err("days").get().map(|e| view! { <p class="field-error">{e}</p> })}
                </fieldset>
                <div class="form-row">
                    <Field label="Calling window from" name="window_start" kind="time" value=s.window_start.clone() error=err("window_start")/>
                    <Field label="until" name="window_end" kind="time" value=s.window_end.clone() error=err("window_end")/>
                </div>
                <div class="form-row">
                    <Field label="Never before (callee's time)" name="quiet_start" kind="time" value=s.quiet_start.clone() error=err("quiet_start")/>
                    <Field label="Never from (callee's time)" name="quiet_end" kind="time" value=s.quiet_end.clone() error=err("quiet_end")
                        hint="Quiet hours, checked at the moment of dialling in the contact's local time."/>
                </div>
            </section>
            <section class="card" aria-labelledby="cf-pace">
                <h2 id="cf-pace">"Pace and limits"</h2>
                <div class="form-row">
                    <Field label="Calls at the same time" name="max_concurrent" kind="number" value=s.max_concurrent.to_string() error=err("max_concurrent")/>
                    <Field label="Call attempts a second" name="max_cps" value=s.max_cps.to_string() error=err("max_cps")
                        hint="The carrier's own limit (per trunk, shared by all campaigns) applies too."/>
                    <Field label="Attempts per number a day" name="daily_cap" kind="number" value=s.daily_cap.to_string() error=err("daily_cap")
                        hint="Across all campaigns."/>
                </div>
                <div class="form-row">
                    <Field label="Ring for (seconds)" name="ringing_timeout_secs" kind="number" value=s.ringing_timeout_secs.to_string() error=err("ringing_timeout_secs")/>
                    <Field label="Longest call (seconds)" name="max_duration_secs" kind="number"
                        value=s.max_duration_secs.map(|d| d.to_string()).unwrap_or_default() error=err("max_duration_secs")/>
                </div>
            </section>
            <section class="card" aria-labelledby="cf-retry">
                <h2 id="cf-retry">"Retries"</h2>
                <p class="hint">"Declined calls (603, 607, 608), unreachable and invalid numbers (404, 484) are never retried. A carrier refusing a call for its call rate (503) is tried again without counting an attempt."</p>
                <div class="table-wrap">
                <table class="table retry-table">
                    <thead><tr><th scope="col">"After"</th><th scope="col">"Retry"</th><th scope="col">"Wait (minutes)"</th><th scope="col">"Attempts in all"</th></tr></thead>
                    <tbody>
                    {retry_rows.into_iter().map(|(name, label, rule)| view! {
                        <tr>
                            <th scope="row">{label}
                                {move || err(name).get().map(|e| view! { <p class="field-error">{e}</p> })}</th>
                            <td><input type="checkbox" name=name checked=rule.retry aria-label=format!("Retry after {label}")/></td>
                            <td><input type="number" min="1" name=format!("{name}_minutes") value=(rule.delay_secs / 60).to_string() aria-label=format!("Minutes before retrying after {label}")/></td>
                            <td><input type="number" min="1" max="10" name=format!("{name}_attempts") value=rule.max_attempts.to_string() aria-label=format!("Attempts in all after {label}")/></td>
                        </tr>
                    }).collect_view()}
                    </tbody>
                </table>
                </div>
            </section>
            <div class="form-footer">
                <button class="button button-primary" type="submit" disabled=move || save.pending().get()>
                    {move || match (save.pending().get(), is_new) {
                        (true, _) => "Saving…",
                        (false, true) => "Create draft",
                        (false, false) => "Save settings",
                    }}
                </button>
            </div>
        </ActionForm>
    }
}

#[component]
pub fn CampaignPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id")).unwrap_or_default();
    let notice = notice_resource();
    let act = ServerAction::<CampaignAction>::new();
    let changes = use_live_changes(&["call", "campaign"]);
    let live = RwSignal::new(true);
    let ticks = use_ticks(std::time::Duration::from_secs(3), live);
    let detail = Resource::new(
        move || (id(), act.version().get(), changes.get(), ticks.get()),
        |(id, _, _, _)| get_campaign(id),
    );
    // A failed read keeps the last answer: the page goes on refreshing.
    Effect::new(move |_| {
        if let Some(Ok(d)) = detail.get() {
            live.set(is_live(d.summary.state))
        }
    });
    let preflight = Resource::new(
        move || (id(), act.version().get()),
        |(id, _)| crate::functions::campaigns::campaign_preflight(id),
    );
    let options = Resource::new(|| (), |_| get_campaign_options());
    let cstate = query_value("state");
    let outcome = query_value("outcome");
    let page = query_value("page");
    let (after, before) = (query_value("after"), query_value("before"));
    let contacts = Resource::new(
        move || {
            (
                id(),
                cstate(),
                outcome(),
                (page(), after(), before()),
                changes.get(),
                act.version().get(),
            )
        },
        |(id, state, outcome, (page, after, before), _, _)| {
            crate::functions::campaigns::campaign_contacts(
                id,
                state,
                outcome,
                page.and_then(|p| p.parse().ok()),
                after,
                before,
            )
        },
    );
    // A Transition, not a Suspense: the detail is read again every few seconds, and a
    // Suspense would swap the page for its fallback each time (the page flashes, the
    // scroll position jumps and a field being typed in loses focus).
    view! {
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => view! { <Title text="Campaign"/><ErrorBanner message=e.to_string()/> }.into_any(),
                    Ok(d) => view! { <CampaignView detail=d act notice preflight options contacts/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CampaignView(
    detail: CampaignDetail,
    act: ServerAction<CampaignAction>,
    notice: Resource<Option<crate::model::NoticeView>>,
    preflight: Resource<Result<crate::model::Preflight, crate::error::AppError>>,
    options: Resource<Result<CampaignOptions, crate::error::AppError>>,
    contacts: Resource<Result<Page<CampaignContact>, crate::error::AppError>>,
) -> impl IntoView {
    let s = detail.summary.clone();
    let c = s.counts;
    let id = s.id.clone();
    let editable = !matches!(s.state, CampaignState::Completed | CampaignState::Cancelled);
    let action_error = move || {
        act.value()
            .get()
            .and_then(|r| r.err())
            .map(|e| view! { <ErrorBanner message=e.to_string()/> })
    };
    let subtitle = format!(
        "{} · calls from {}",
        s.assistant_name,
        detail
            .numbers
            .iter()
            .map(|n| format_e164(&n.e164))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let tiles = [
        ("Contacts", c.total, "all"),
        ("Answered", c.answered, "ok"),
        ("Not reached", c.failed, "error"),
        ("Skipped", c.skipped, "muted"),
        ("In progress", c.dialing, "live"),
        ("Waiting to retry", c.waiting, "muted"),
        ("Not tried yet", c.fresh, "muted"),
    ];
    let flagged: Vec<_> = detail
        .numbers
        .iter()
        .filter(|n| n.flagged)
        .cloned()
        .collect();
    let settings = detail.settings.clone();
    view! {
        <Title text=s.name.clone()/>
        <PageHeader title=s.name.clone() subtitle=subtitle>
            {state_badge(s.state)}
        </PageHeader>
        <NoticeOf notice/>
        {action_error}
        <section class="card" aria-labelledby="c-progress">
            <div class="card-head">
                <h2 id="c-progress">"Progress"</h2>
                <Lifecycle id=id.clone() state=s.state act/>
            </div>
            {status_line(&detail)}
            {progress_bar(c)}
            <dl class="stats">
                {tiles.into_iter().map(|(label, n, tone)| view! {
                    <div class=format!("stat stat-{tone}") data-stat=label><dt>{label}</dt><dd>{n}</dd></div>
                }).collect_view()}
            </dl>
            {(!detail.progress.is_empty()).then(|| view! {
                <h3 class="chart-title">"Attempts over time"</h3>
                <div class="chart chart-wide" data-testid="campaign-chart" inner_html=progress_chart(&detail.progress)></div>
                <p class="small muted">"Attempts started in each interval since the start; the darker part was answered."</p>
            })}
            {(!detail.outcomes.is_empty()).then(|| view! {
                <h3 class="chart-title">"Results"</h3>
                <ul class="outcome-list">
                    {detail.outcomes.iter().map(|(r, n)| view! {
                        <li data-outcome=r.clone()><a href=format!("{}?outcome={r}#contacts", campaign_page(&id))>{outcome_words(r)}</a>": "<strong>{*n}</strong></li>
                    }).collect_view()}
                </ul>
            })}
        </section>
        {(!flagged.is_empty()).then(|| view! {
            <div class="banner banner-warning" role="status">
                {flagged.iter().map(|n| format!(
                    "{} had {} of {} calls declined (603/608): carriers may be flagging it as spam. Check its caller ID reputation, or call from another number.",
                    format_e164(&n.e164), n.declined, n.attempts)).collect::<Vec<_>>().join(" ")}
            </div>
        })}
        {matches!(s.state, CampaignState::Draft | CampaignState::Paused).then(|| view! {
            <section class="card" aria-labelledby="c-preflight">
                <h2 id="c-preflight">"Before starting"</h2>
                <Suspense fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        preflight.await.ok().map(|p| preflight_view(&p))
                    })}
                </Suspense>
            </section>
        })}
        {editable.then(|| {
            let id = id.clone();
            view! {
            <section class="card" id="contacts-upload" aria-labelledby="c-upload">
                <h2 id="c-upload">"Add contacts"</h2>
                <form method="post" action=upload_path(&id) enctype="multipart/form-data">
                    <div class="field">
                        <label for="c-file">"CSV file"</label>
                        <input id="c-file" name="file" type="file" accept=".csv,text/csv" required=true aria-describedby="c-file-hint"/>
                        <p class="hint" id="c-file-hint">"A header row with a phone column (\u{201c}phone\u{201d}, \u{201c}number\u{201d} or \u{201c}mobile\u{201d}), optionally \u{201c}name\u{201d}; every other column is passed to the agent. Commas or semicolons; up to 100,000 rows. You will see a preview before anything is imported."</p>
                    </div>
                    <Field label="Country for national numbers" name="country" id_prefix="upload-"
                        value=settings.default_country.clone().unwrap_or_default()/>
                    <button class="button button-secondary" type="submit">"Upload and preview"</button>
                </form>
            </section>
        }})}
        <section class="card" id="contacts" aria-labelledby="c-contacts">
            <div class="card-head">
                <h2 id="c-contacts">"Contacts"</h2>
                <a class="button button-secondary button-small" href=export_path(&id) download="">"Export results (CSV)"</a>
            </div>
            <ContactsTable id=id.clone() contacts/>
        </section>
        {editable.then(|| view! {
            <details class="card settings-details">
                <summary><h2 class="inline-heading">"Settings"</h2></summary>
                <Suspense fallback=|| view! { <Loading/> }>
                    {move || {
                        let (settings, id) = (settings.clone(), id.clone());
                        Suspend::new(async move {
                            options.await.ok().map(|o| view! { <CampaignFormView options=o settings id=Some(id)/> })
                        })
                    }}
                </Suspense>
            </details>
        })}
    }
}

/// What the campaign is doing now, in a sentence.
fn status_line(d: &CampaignDetail) -> impl IntoView {
    let c = d.summary.counts;
    let text = match d.summary.state {
        CampaignState::Draft => {
            "Not started: import contacts, check \u{201c}Before starting\u{201d}, then start."
                .to_string()
        }
        CampaignState::Paused => format!("Paused: no new calls; {} in progress finish.", c.dialing),
        CampaignState::Completed => d.summary.finished_at.map_or("Completed.".to_string(), |t| {
            format!("Completed on {}.", crate::model::format_time(t))
        }),
        CampaignState::Cancelled => {
            "Cancelled: contacts not called were left uncalled.".to_string()
        }
        CampaignState::Running if c.dialing > 0 => format!(
            "Calling: {} call{} in progress.",
            c.dialing,
            if c.dialing == 1 { "" } else { "s" }
        ),
        CampaignState::Running => match d.next_attempt_at {
            Some(t) => format!(
                "Waiting: the next call is due at {} ({}).",
                crate::model::format_time(t),
                d.waiting_for.clone().unwrap_or_else(|| "a retry".into())
            ),
            None => "Running.".to_string(),
        },
    };
    view! { <p class="campaign-status" data-testid="campaign-status">{text}</p> }
}

fn preflight_view(p: &crate::model::Preflight) -> impl IntoView {
    let skipped: u64 = p.skipped.iter().map(|(_, n)| n).sum();
    let to_call = p.contacts.saturating_sub(skipped);
    let finish = if p.window_hours_per_week <= 0.0 {
        "No call could start: the calling window and the quiet hours never overlap.".to_string()
    } else {
        let needed = if p.hours_needed < 1.0 {
            format!("about {} minutes", (p.hours_needed * 60.0).ceil().max(1.0))
        } else {
            format!("about {:.1} hours", p.hours_needed)
        };
        let weeks = p.hours_needed / p.window_hours_per_week;
        format!(
            "At this pace the first attempts take {needed} of calling time; the calling hours give {:.0} hours a week, so the list {}.",
            p.window_hours_per_week,
            if weeks <= 1.0 { "fits within one week of calling hours".to_string() } else { format!("needs about {weeks:.1} weeks of calling hours") }
        )
    };
    view! {
        {p.blockers.iter().map(|b| view! { <div class="banner banner-error" role="alert">{b.clone()}</div> }).collect_view()}
        <ul class="checklist" data-testid="preflight">
            <li>{format!("{to_call} of {} contacts will be called.", p.contacts)}</li>
            {(skipped > 0).then(|| view! {
                <li>{format!("{skipped} of {} contacts will be skipped: {}.", p.contacts,
                    p.skipped.iter().map(|(why, n)| format!("{n} {why}")).collect::<Vec<_>>().join(", "))}</li>
            })}
            {(p.zone_unknown > 0).then(|| view! {
                <li>{format!("{} contacts' time zones are not certain from their numbers: they are called in the campaign's time zone.", p.zone_unknown)}</li>
            })}
            <li>{finish}</li>
        </ul>
    }
}

#[component]
fn Lifecycle(id: String, state: CampaignState, act: ServerAction<CampaignAction>) -> impl IntoView {
    let button = |action: &'static str, label: &'static str, class: &'static str| {
        let id = id.clone();
        view! {
            <ActionForm action=act attr:class="inline-form">
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="action" value=action/>
                <button class=class type="submit" data-action=action disabled=move || act.pending().get()>{label}</button>
            </ActionForm>
        }
    };
    let cancel = {
        let id = id.clone();
        view! {
            <details class="inline-form">
                <summary class="button button-danger-outline button-small">"Cancel…"</summary>
                <ActionForm action=act>
                    <p class="small">"Cancelling is final: contacts not yet called are left uncalled. Calls in progress finish unless you end them too."</p>
                    <input type="hidden" name="id" value=id/>
                    <input type="hidden" name="action" value="cancel"/>
                    <label class="check small"><input type="checkbox" name="hang_up"/>"Also hang up calls in progress"</label>
                    <button class="button button-danger button-small" type="submit" data-action="cancel">"Cancel the campaign"</button>
                </ActionForm>
            </details>
        }
    };
    view! {
        <div class="actions-row">
            {match state {
                CampaignState::Draft => Some(button("start", "Start", "button button-primary button-small").into_any()),
                CampaignState::Running => Some(button("pause", "Pause", "button button-secondary button-small").into_any()),
                CampaignState::Paused => Some(button("resume", "Resume", "button button-primary button-small").into_any()),
                _ => None,
            }}
            {matches!(state, CampaignState::Draft | CampaignState::Running | CampaignState::Paused).then_some(cancel)}
        </div>
    }
}

#[component]
fn ContactsTable(
    id: String,
    contacts: Resource<Result<Page<CampaignContact>, crate::error::AppError>>,
) -> impl IntoView {
    let path = campaign_page(&id);
    let cstate = query_value("state");
    let outcome = query_value("outcome");
    let filter_path = path.clone();
    view! {
        <form class="filters" method="get" action=filter_path role="search" aria-label="Filter contacts">
            <div class="field">
                <label for="cc-state">"State"</label>
                <select id="cc-state" name="state">
                    {[("", "Any"), ("fresh", "Not tried yet"), ("waiting", "Waiting to retry"), ("dialing", "In progress"), ("done", "Done")]
                        .into_iter().map(|(v, l)| view! { <option value=v selected=move || cstate().unwrap_or_default() == v>{l}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="cc-outcome">"Outcome"</label>
                <select id="cc-outcome" name="outcome">
                    {["", "completed", "busy", "no_answer", "declined", "unreachable", "failed", "trunk_auth_failed", "do_not_call", "cancelled"]
                        .into_iter().map(|v| view! { <option value=v selected=move || outcome().unwrap_or_default() == v>{if v.is_empty() { "Any" } else { outcome_words(v) }}</option> }).collect_view()}
                </select>
            </div>
            <div class="filter-actions"><button class="button button-secondary" type="submit">"Filter"</button></div>
        </form>
        <Transition fallback=|| view! { <Loading/> }>
            {move || {
                let path = path.clone();
                Suspend::new(async move {
                match contacts.await {
                    Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                    Ok(p) if p.items.is_empty() => view! {
                        <EmptyState icon=icons::phone title="No contacts here"
                            body="Upload a CSV file above; its preview shows each row that cannot be used before anything is imported."/>
                    }.into_any(),
                    Ok(p) => {
                        let pages = p.pages();
                        let keys = ["state", "outcome", "page", "after", "before"];
                        let prev = p.prev.clone().map(|c| format!("{}#contacts", href_with(&path, &keys, &[
                            ("page", p.page.saturating_sub(1).max(1).to_string()), ("before", c), ("after", String::new()),
                        ])));
                        let next = p.next.clone().map(|c| format!("{}#contacts", href_with(&path, &keys, &[
                            ("page", p.page.saturating_add(1).to_string()), ("after", c), ("before", String::new()),
                        ])));
                        view! {
                            <div class="table-wrap" tabindex="0" role="region" aria-label="Contacts">
                            <table class="table" data-testid="contacts">
                                <thead><tr>
                                    <th scope="col">"Line"</th><th scope="col">"Contact"</th><th scope="col">"State"</th>
                                    <th scope="col">"Attempts"</th><th scope="col">"Outcome"</th>
                                </tr></thead>
                                <tbody>
                                {p.items.into_iter().map(contact_row).collect_view()}
                                </tbody>
                            </table>
                            </div>
                            <Pager page=p.page pages=pages total=p.total more=p.total_more noun="contact" nouns="contacts"
                                prev next/>
                        }.into_any()
                    }
                }
            })}}
        </Transition>
    }
}

fn contact_row(c: CampaignContact) -> impl IntoView {
    let state = match (c.state, c.attempts) {
        (ContactState::Pending, 0) if c.last_outcome.is_none() => "Not tried yet".to_string(),
        (ContactState::Pending, _) => "Waiting to retry".to_string(),
        (ContactState::Dialing, _) => "In progress".to_string(),
        (ContactState::Done, _) => "Done".to_string(),
    };
    let when = c.next_attempt_at.map(|t| {
        let why = c
            .waiting_for
            .clone()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        format!("next at {}{why}", crate::model::format_time(t))
    });
    let outcome = c.result.clone().or(c.last_outcome.clone()).map(|o| {
        let sip = c
            .last_sip_status
            .map(|s| format!(" · SIP {s}"))
            .unwrap_or_default();
        format!("{}{sip}", outcome_words(&o))
    });
    view! {
        <tr data-contact=c.phone.clone()>
            <td>{c.line}</td>
            <td><strong>{format_e164(&c.phone)}</strong><span class="cell-sub">{c.name.clone().unwrap_or_default()}</span></td>
            <td>{state}{when.map(|w| view! { <span class="cell-sub">{w}</span> })}</td>
            <td>{c.attempts}</td>
            <td>{match (outcome, c.call_id.clone()) {
                (Some(o), Some(call)) => view! { <a href=format!("/dashboard/calls/{call}")>{o}</a> }.into_any(),
                (Some(o), None) => o.into_any(),
                (None, _) => "—".into_any(),
            }}</td>
        </tr>
    }
}

/// Attempts (and answers) per interval as an inline SVG bar chart, drawn on the server:
/// a fixed-size drawing whatever the number of intervals (at most 60).
fn progress_chart(points: &[ProgressPoint]) -> String {
    const WIDTH: u64 = 600;
    const HEIGHT: u64 = 90;
    let max = points.iter().map(|p| p.attempts).max().unwrap_or(0).max(1);
    let slot = WIDTH / (points.len().max(1) as u64).max(10);
    let total: u64 = points.iter().map(|p| p.attempts).sum();
    let answered: u64 = points.iter().map(|p| p.answered).sum();
    let mut svg = format!(
        "<svg class=\"chart-svg\" viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"{total} attempts, {answered} answered\" xmlns=\"http://www.w3.org/2000/svg\">\
         <line class=\"chart-axis\" x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\"/>",
        HEIGHT + 2
    );
    for (i, p) in points.iter().enumerate() {
        let h = (p.attempts * HEIGHT / max).max(1);
        let a = p.answered * HEIGHT / max;
        let x = i as u64 * slot + 1;
        let w = slot.saturating_sub(2).max(1);
        let time = crate::escape::markup(&crate::model::format_time(p.at));
        svg.push_str(&format!(
            "<g class=\"chart-day\"><title>{time}: {} attempts, {} answered</title>\
             <rect class=\"chart-bar chart-bar-muted\" x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{h}\"/>\
             <rect class=\"chart-bar\" x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{a}\"/></g>",
            p.attempts, p.answered, HEIGHT - h, HEIGHT - a
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[component]
pub fn UploadPreviewPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id")).unwrap_or_default();
    let upload = move || params.with(|p| p.get("upload")).unwrap_or_default();
    let preview = Resource::new(
        move || (id(), upload()),
        |(id, upload)| get_upload_preview(id, upload),
    );
    let import = ServerAction::<ImportUpload>::new();
    view! {
        <Title text="Contacts preview"/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match preview.await {
                    Err(e) => view! {
                        <PageHeader title="Contacts preview" subtitle=""/>
                        <ErrorBanner message=e.to_string()/>
                        <p><a href=format!("{}#contacts-upload", campaign_page(&id()))>"Back to the campaign"</a></p>
                    }.into_any(),
                    Ok(p) => {
                        let back = campaign_page(&p.campaign_id);
                        let good = p.good_rows;
                        view! {
                            <PageHeader title="Contacts preview" subtitle=format!("{} — nothing is imported until you choose to.", p.file_name)/>
                            {move || import.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBanner message=e.to_string()/> })}
                            <section class="card" aria-labelledby="p-counts">
                                <h2 id="p-counts">"What the file holds"</h2>
                                <dl class="stats">
                                    <div class="stat stat-ok" data-stat="good"><dt>"Rows to import"</dt><dd>{p.good_rows}</dd></div>
                                    <div class="stat stat-error" data-stat="bad"><dt>"Rows left out"</dt><dd>{p.bad_rows}</dd></div>
                                </dl>
                                <p class="small muted">{format!("Phone column: \u{201c}{}\u{201d}{}. Other columns ({}) are passed to the agent.",
                                    p.phone_column,
                                    p.name_column.as_ref().map(|n| format!("; name column: \u{201c}{n}\u{201d}")).unwrap_or_default(),
                                    p.columns.iter().filter(|c| **c != p.phone_column && Some(*c) != p.name_column.as_ref()).cloned().collect::<Vec<_>>().join(", "))}</p>
                                {(p.zone_unknown > 0).then(|| view! {
                                    <div class="banner banner-info" role="status">{format!(
                                        "{} contacts' time zones are not certain from their numbers: they will be called within the campaign's time zone's hours.", p.zone_unknown)}</div>
                                })}
                                <div class="form-footer">
                                    {(good > 0).then(|| view! {
                                        <ActionForm action=import>
                                            <input type="hidden" name="id" value=p.campaign_id.clone()/>
                                            <input type="hidden" name="upload" value=p.upload_id.clone()/>
                                            <button class="button button-primary" type="submit" disabled=move || import.pending().get()>
                                                {format!("Import {good} contact{}", if good == 1 { "" } else { "s" })}</button>
                                        </ActionForm>
                                    })}
                                    <a class="button button-ghost-dark" href=format!("{back}#contacts-upload")>"Choose another file"</a>
                                </div>
                            </section>
                            {(!p.problems.is_empty()).then(|| view! {
                                <section class="card" aria-labelledby="p-problems">
                                    <h2 id="p-problems">"Rows left out"</h2>
                                    <div class="table-wrap" tabindex="0" role="region" aria-label="Rows left out">
                                    <table class="table" data-testid="problems">
                                        <thead><tr><th scope="col">"Line"</th><th scope="col">"Phone"</th><th scope="col">"Why"</th></tr></thead>
                                        <tbody>
                                        {p.problems.iter().map(|r| view! {
                                            <tr><td>{r.line}</td><td>{r.value.clone()}</td><td>{r.problem.clone()}</td></tr>
                                        }).collect_view()}
                                        </tbody>
                                    </table>
                                    </div>
                                    {(p.bad_rows > p.problems.len() as u64).then(|| view! {
                                        <p class="small muted">{format!("and {} more", p.bad_rows - p.problems.len() as u64)}</p>
                                    })}
                                </section>
                            })}
                            {(!p.sample.is_empty()).then(|| view! {
                                <section class="card" aria-labelledby="p-sample">
                                    <h2 id="p-sample">"First rows to import"</h2>
                                    <div class="table-wrap" tabindex="0" role="region" aria-label="First rows to import">
                                    <table class="table">
                                        <thead><tr><th scope="col">"Line"</th><th scope="col">"Phone"</th><th scope="col">"Name"</th></tr></thead>
                                        <tbody>
                                        {p.sample.iter().map(|(line, phone, name)| view! {
                                            <tr><td>{*line}</td><td>{format_e164(phone)}</td><td>{name.clone().unwrap_or_default()}</td></tr>
                                        }).collect_view()}
                                        </tbody>
                                    </table>
                                    </div>
                                </section>
                            })}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
