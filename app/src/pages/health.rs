//! Setup checklist (`/dashboard/setup`) and drift (`/dashboard/drift`), for admins: what
//! must be true for calls to work, checked live; and where Twilio or LiveKit no longer
//! hold what Dial set up, each with its repair. Both work without JavaScript (plain form
//! posts that come back with a notice).

use crate::{
    components::{
        icons, notice_resource, stacked_time, successes, AdminOnly, EmptyState, ErrorBanner,
        Loading, NoticeOf, PageHeader, SuccessBanner,
    },
    functions::health::{
        get_checklist, get_drift_report, CheckSetupAgain, RepairDrift, ScanDrift, DRIFT_PAGE,
        SETUP_PAGE,
    },
    model::{Checklist, DriftFinding, DriftKind, Light, Repair},
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

#[component]
pub fn SetupCheckPage() -> impl IntoView {
    let notice = notice_resource();
    view! {
        <Title text="Setup checklist"/>
        <AdminOnly><SetupCheck notice/></AdminOnly>
    }
}

fn light_class(light: Light) -> &'static str {
    match light {
        Light::Green => "light light-green",
        Light::Amber => "light light-amber",
        Light::Red => "light light-red",
    }
}

fn light_icon(light: Light) -> AnyView {
    match light {
        Light::Green => icons::check(),
        Light::Amber => icons::info(),
        Light::Red => icons::alert(),
    }
}

#[component]
fn SetupCheck(notice: Resource<Option<crate::model::NoticeView>>) -> impl IntoView {
    let again = ServerAction::<CheckSetupAgain>::new();
    let checked = successes(again.value());
    let list = Resource::new(move || checked.get(), |_| get_checklist());
    view! {
        <PageHeader title="Setup checklist" subtitle="Everything that must be true for calls to reach your assistants, checked live against Twilio and LiveKit.">
            <ActionForm action=again>
                <button class="button button-secondary" type="submit" disabled=move || again.pending().get()>
                    {move || if again.pending().get() { "Checking…" } else { "Check again" }}
                </button>
            </ActionForm>
        </PageHeader>
        <NoticeOf notice/>
        {move || again.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBanner message=e.to_string()/> })}
        <Suspense fallback=|| view! { <Loading label="Checking Twilio and LiveKit…"/> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                    Ok(list) => view! { <ChecklistView list/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ChecklistView(list: Checklist) -> impl IntoView {
    let (red, amber) = (list.count(Light::Red), list.count(Light::Amber));
    let summary = match (red, amber) {
        (0, 0) => "All green: Dial, Twilio and LiveKit are set up.".to_string(),
        (0, a) => format!(
            "Nothing is broken; {a} item{} could be better.",
            if a == 1 { "" } else { "s" }
        ),
        (r, _) => format!(
            "{r} item{} must be fixed before calls work.",
            if r == 1 { "" } else { "s" }
        ),
    };
    let mut groups: Vec<(String, Vec<crate::model::SetupItem>)> = Vec::new();
    for item in list.items {
        match groups.iter_mut().find(|(g, _)| *g == item.group) {
            Some((_, items)) => items.push(item),
            None => groups.push((item.group.clone(), vec![item])),
        }
    }
    view! {
        <p class=format!("checklist-summary {}", light_class(list_light(red, amber))) data-testid="setup-summary">
            {light_icon(list_light(red, amber))}<span>{summary}</span>
            <span class="muted small">" Checked "{stacked_time(list.checked_at)}</span>
        </p>
        {groups.into_iter().map(|(group, items)| {
            let id = format!("setup-{}", group.to_lowercase().replace(' ', "-"));
            let labelled = id.clone();
            view! {
                <section class="card" aria-labelledby=labelled>
                    <h2 id=id>{group}</h2>
                    <ul class="setup-items">
                        {items.into_iter().map(|item| view! {
                            <li class=light_class(item.light) data-item=item.key.clone() data-light=item.light.as_str()>
                                <span class="light-dot" aria-hidden="true">{light_icon(item.light)}</span>
                                <div class="setup-text">
                                    <strong>{item.title.clone()}</strong>
                                    <span class="sr-only">{format!(" ({})", item.light.label())}</span>
                                    <p>{item.detail.clone()}</p>
                                </div>
                                {(item.light != Light::Green).then(|| item.fix_href.clone().map(|href| view! {
                                    <a class="button button-secondary button-small" href=href>
                                        {item.fix_label.clone().unwrap_or_else(|| "Fix".to_string())}
                                    </a>
                                }))}
                            </li>
                        }).collect_view()}
                    </ul>
                </section>
            }
        }).collect_view()}
    }
}

fn list_light(red: usize, amber: usize) -> Light {
    match (red, amber) {
        (0, 0) => Light::Green,
        (0, _) => Light::Amber,
        _ => Light::Red,
    }
}

#[component]
pub fn DriftPage() -> impl IntoView {
    let notice = notice_resource();
    view! {
        <Title text="Drift"/>
        <AdminOnly><Drift notice/></AdminOnly>
    }
}

#[component]
fn Drift(notice: Resource<Option<crate::model::NoticeView>>) -> impl IntoView {
    let scan = ServerAction::<ScanDrift>::new();
    let repair = ServerAction::<RepairDrift>::new();
    let scanned = successes(scan.value());
    let repaired = successes(repair.value());
    let report = Resource::new(
        move || (scanned.get(), repaired.get()),
        |_| get_drift_report(),
    );
    view! {
        <PageHeader title="Drift" subtitle="Where Twilio or LiveKit no longer hold what Dial set up for your numbers — changed in their consoles, deleted, or left behind. A scan only reads; nothing changes until you repair it.">
            <ActionForm action=scan>
                <button class="button button-primary" type="submit" disabled=move || scan.pending().get()>
                    {move || if scan.pending().get() { "Scanning…" } else { "Scan now" }}
                </button>
            </ActionForm>
        </PageHeader>
        <NoticeOf notice/>
        {move || repair.value().get().map(|r| match r {
            Ok(message) => view! { <SuccessBanner message/> }.into_any(),
            Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
        })}
        {move || scan.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBanner message=e.to_string()/> })}
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match report.await {
                    Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                    Ok(r) if r.scanned_at.is_none() => view! {
                        <EmptyState icon=icons::shield title="Not scanned yet"
                            body="Dial compares its records with Twilio and LiveKit every 15 minutes (DIAL_DRIFT_SCAN_MINUTES), and when you ask. Scan now to see where they differ."/>
                    }.into_any(),
                    Ok(r) => {
                        let errors = r.errors.clone();
                        let count = r.findings.len();
                        view! {
                            {errors.into_iter().map(|e| view! { <ErrorBanner message=e/> }).collect_view()}
                            <p class="muted" data-testid="drift-scanned">
                                {format!("Compared {} assigned number{} · last scan ", r.numbers_checked, if r.numbers_checked == 1 { "" } else { "s" })}
                                {r.scanned_at.map(stacked_time)}
                            </p>
                            {if count == 0 {
                                view! {
                                    <EmptyState icon=icons::check title="No drift"
                                        body="Dial, Twilio and LiveKit agree about every number Dial manages."/>
                                }.into_any()
                            } else {
                                view! {
                                    <section class="card" aria-labelledby="drift-findings">
                                        <h2 id="drift-findings">{format!("{count} difference{}", if count == 1 { "" } else { "s" })}</h2>
                                        <ul class="drift-list">
                                            {r.findings.into_iter().map(|f| view! { <Finding finding=f repair/> }).collect_view()}
                                        </ul>
                                    </section>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

fn kind_words(kind: DriftKind) -> &'static str {
    match kind {
        DriftKind::NumberGone => "Number gone from Twilio",
        DriftKind::NumberOffTrunk => "Number off Dial's trunk",
        DriftKind::CallbackChanged => "Status callback changed",
        DriftKind::InboundMissing => "Inbound trunk missing",
        DriftKind::InboundChanged => "Inbound trunk changed",
        DriftKind::OutboundMissing => "Outbound trunk missing",
        DriftKind::OutboundChanged => "Outbound trunk changed",
        DriftKind::RuleMissing => "Dispatch rule missing",
        DriftKind::RuleChanged => "Dispatch rule changed",
        DriftKind::Orphan => "Left behind",
        DriftKind::UnknownNumber => "Unknown number",
    }
}

#[component]
fn Finding(finding: DriftFinding, repair: ServerAction<RepairDrift>) -> impl IntoView {
    let id = finding.id.clone();
    let number_link = finding
        .number_id
        .clone()
        .map(|n| format!("/dashboard/phone-numbers/{n}"));
    let action = match finding.repair.clone() {
        Repair::Manual => None,
        Repair::DeleteLiveKit {
            object,
            id: object_id,
            name,
        } => {
            let what = object.replace('_', " ");
            Some(view! {
                <details class="inline-form">
                    <summary class="button button-danger-outline button-small">"Delete…"</summary>
                    <ActionForm action=repair>
                        <p class="small">{format!("Delete LiveKit's {what} {object_id} “{name}”? Calls that still depend on it stop working.")}</p>
                        <input type="hidden" name="finding_id" value=id.clone()/>
                        <button class="button button-danger button-small" type="submit">{format!("Delete {what} {object_id}")}</button>
                    </ActionForm>
                </details>
            }.into_any())
        }
        other => {
            let label = other.label();
            Some(
                view! {
                    <ActionForm action=repair>
                        <input type="hidden" name="finding_id" value=id.clone()/>
                        <button class="button button-secondary button-small" type="submit"
                            disabled=move || repair.pending().get()>{label}</button>
                    </ActionForm>
                }
                .into_any(),
            )
        }
    };
    view! {
        <li class="drift-item" data-finding=finding.id.clone() data-kind=finding.kind.as_str()>
            <div>
                <span class="badge badge-warn">{kind_words(finding.kind)}</span>
                <p>{finding.words.clone()}</p>
                {number_link.map(|href| view! { <a class="small" href=href>"The number's page"</a> })}
            </div>
            <div class="drift-action">{action}</div>
        </li>
    }
}

/// The overview's pointer to the checklist and drift while either needs attention (the
/// page creates the resource: `setup_open_items`).
#[component]
pub fn OpsSummary(open: Resource<Result<(u32, u32), crate::error::AppError>>) -> impl IntoView {
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let (items, drift) = open.await.unwrap_or((0, 0));
                (items > 0 || drift > 0).then(|| view! {
                    <section class="card ops-summary" aria-labelledby="ops-title" data-testid="ops-summary">
                        <h2 id="ops-title">"Needs attention"</h2>
                        <ul class="checklist">
                            {(items > 0).then(|| view! {
                                <li>
                                    <span class="check" aria-hidden="true">{icons::plug()}</span>
                                    <div>
                                        <a href=SETUP_PAGE>"Setup checklist"</a>
                                        <p class="muted">{format!("{items} item{} not green yet.", if items == 1 { "" } else { "s" })}</p>
                                    </div>
                                </li>
                            })}
                            {(drift > 0).then(|| view! {
                                <li>
                                    <span class="check" aria-hidden="true">{icons::alert()}</span>
                                    <div>
                                        <a href=DRIFT_PAGE>"Drift"</a>
                                        <p class="muted">{format!("{drift} difference{} between Dial and its providers.", if drift == 1 { "" } else { "s" })}</p>
                                    </div>
                                </li>
                            })}
                        </ul>
                    </section>
                })
            })}
        </Suspense>
    }
}

/// A number page's drift badge: the last scan's findings about it (admins; the page
/// creates the resource, see `numbers::NumberPage`).
#[component]
pub fn NumberDrift(findings: Resource<Vec<DriftFinding>>) -> impl IntoView {
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let list = findings.await;
                (!list.is_empty()).then(|| view! {
                    <div class="banner banner-warning" role="status" data-testid="number-drift">
                        {icons::alert()}
                        <span>
                            <strong>{format!("Drift: {}", list.iter().map(|f| kind_words(f.kind).to_lowercase()).collect::<Vec<_>>().join(", "))}</strong>
                            " — "{list.first().map(|f| f.words.clone())}" "
                            <a href=DRIFT_PAGE>"Repair it on the drift page"</a>
                        </span>
                    </div>
                })
            })}
        </Suspense>
    }
}
