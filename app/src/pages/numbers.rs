//! Phone numbers: the table, buying, importing, and one number's page.

use crate::{
    components::{
        action_outcome, field_error, href_with, icons, query_value, signed_in_admin, AdminOnly,
        EmptyState, ErrorBanner, Field, Loading, MeResource, Notice, PageHeader, Pager,
    },
    error::AppError,
    functions::carriers::carrier_options,
    functions::health::number_drift,
    functions::numbers::{
        get_number, import_candidates, list_numbers, owner_options, search_numbers, AllotNumber,
        BuyNumber, ImportNumbers, LabelNumber, ReleaseNumber,
    },
    functions::routing::{get_number_metadata, routing_profiles, SetNumberMetadata},
    model::{
        format_time, AssignmentStatus, NumberMetadata, NumberQuery, NumberRow, OwnerOption,
        RoutingProfile,
    },
    pages::assignment::{AssignmentActions, AssignmentSection},
    phone::{format_e164, COUNTRIES},
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// The numbers table's query parameters (filters, sort and page).
const TABLE_KEYS: [&str; 10] = [
    "released", "q", "owner", "carrier", "assigned", "sort", "dir", "page", "after", "before",
];

/// Links to the pages either side of `p` (its cursors, and the page numbers to show).
fn page_links<T>(p: &crate::model::Page<T>) -> (Option<String>, Option<String>) {
    let prev = p.prev.clone().map(|c| {
        table_href(&[
            ("page", p.page.saturating_sub(1).max(1).to_string()),
            ("before", c),
            ("after", String::new()),
        ])
    });
    let next = p.next.clone().map(|c| {
        table_href(&[
            ("page", p.page.saturating_add(1).to_string()),
            ("after", c),
            ("before", String::new()),
        ])
    });
    (prev, next)
}

/// The list of released numbers (the "Released" tab).
const RELEASED_LIST: &str = "/dashboard/phone-numbers?released=only";

/// The current table query with some parameters replaced (for sort and page links).
fn table_href(changes: &[(&str, String)]) -> String {
    href_with("", &TABLE_KEYS, changes)
}

/// The assignment status of a number as a badge.
pub fn status_badge(status: AssignmentStatus) -> impl IntoView {
    let (class, label) = match status {
        AssignmentStatus::Active => ("badge badge-ok", "Active"),
        AssignmentStatus::Pending => ("badge", "Pending"),
        AssignmentStatus::Failed => ("badge badge-error", "Failed"),
        AssignmentStatus::Released => ("badge badge-muted", "Released"),
        AssignmentStatus::Unassigned => ("badge badge-muted", "Unassigned"),
    };
    view! { <span class=class>{label}</span> }
}

fn capabilities(voice: bool, sms: bool) -> String {
    match (voice, sms) {
        (true, true) => "Voice, SMS".into(),
        (true, false) => "Voice".into(),
        (false, true) => "SMS".into(),
        _ => "—".into(),
    }
}

#[component]
pub fn PhoneNumbersPage() -> impl IntoView {
    let me = use_context::<MeResource>();
    let released = query_value("released");
    let (after, before) = (query_value("after"), query_value("before"));
    let (q, owner, carrier, assigned, sort, dir, page) = (
        query_value("q"),
        query_value("owner"),
        query_value("carrier"),
        query_value("assigned"),
        query_value("sort"),
        query_value("dir"),
        query_value("page"),
    );
    let numbers = Resource::new(
        move || {
            (
                (q(), owner(), carrier(), assigned()),
                released(),
                (sort(), dir(), page()),
                (after(), before()),
            )
        },
        |((q, owner, carrier, assigned), released, (sort, dir, page), (after, before))| {
            list_numbers(NumberQuery {
                q,
                owner,
                carrier,
                assigned,
                released,
                sort,
                dir,
                page: page.and_then(|p| p.parse().ok()),
                after,
                before,
            })
        },
    );
    let carrier_list = Resource::new(
        || (),
        |_| async move { carrier_options().await.unwrap_or_default() },
    );
    let sort_link = move |key: &'static str, label: &'static str| {
        let current = sort().unwrap_or_else(|| "number".into());
        let descending = dir().as_deref() == Some("desc");
        let next_dir = if current == key && !descending {
            "desc"
        } else {
            "asc"
        };
        let marker = if current == key {
            if descending {
                " ↓"
            } else {
                " ↑"
            }
        } else {
            ""
        };
        let href = table_href(&[
            ("sort", key.to_string()),
            ("dir", next_dir.to_string()),
            ("page", String::new()),
            ("after", String::new()),
            ("before", String::new()),
        ]);
        view! { <a class="sort" href=href>{label}{marker}</a> }
    };
    view! {
        <Title text="Phone numbers"/>
        <PageHeader title="Phone numbers" subtitle="The numbers Dial manages, who owns them and which assistant answers.">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let admin = match me {
                        Some(m) => m.0.await.ok().flatten().is_some_and(|u| u.is_admin()),
                        None => false,
                    };
                    admin.then(|| view! { <a class="button button-secondary" href="/dashboard/phone-numbers/import">"Import from Twilio"</a> })
                })}
            </Suspense>
            <a class="button button-primary" href="/dashboard/phone-numbers/buy">"Buy a number"</a>
        </PageHeader>
        <Notice/>
        <nav class="subnav" aria-label="Active or released numbers">
            <a href="/dashboard/phone-numbers" aria-current=move || released().is_none().then_some("page")>"Active"</a>
            <a href=RELEASED_LIST aria-current=move || released().is_some().then_some("page")>"Released"</a>
        </nav>
        <form class="filters card" method="get" action="/dashboard/phone-numbers" role="search" aria-label="Filter numbers">
            {move || released().map(|r| view! { <input type="hidden" name="released" value=r/> })}
            <div class="field">
                <label for="filter-q">"Search"</label>
                <input id="filter-q" type="search" name="q" value=q placeholder="Number or label"/>
            </div>
            <div class="field">
                <label for="filter-carrier">"Carrier"</label>
                <select id="filter-carrier" name="carrier">
                    <option value="" selected=move || carrier().is_none()>"All carriers"</option>
                    <option value="twilio" selected=move || carrier().as_deref() == Some("twilio")>"Twilio"</option>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            carrier_list.await.into_iter().map(|(id, name)| {
                                let is = carrier().as_deref() == Some(id.as_str());
                                view! { <option value=id selected=is>{name}</option> }
                            }).collect_view()
                        })}
                    </Suspense>
                </select>
            </div>
            // A released number answers for no assistant: the filter is for active ones.
            {move || released().is_none().then(|| view! {
                <div class="field">
                    <label for="filter-assigned">"Assistant"</label>
                    <select id="filter-assigned" name="assigned">
                        <option value="" selected=move || assigned().is_none()>"Any"</option>
                        <option value="assigned" selected=move || assigned().as_deref() == Some("assigned")>"Assigned"</option>
                        <option value="unassigned" selected=move || assigned().as_deref() == Some("unassigned")>"Unassigned"</option>
                    </select>
                </div>
            })}
            <OwnerFilter selected=owner()/>
            <div class="filter-actions">
                <button class="button button-secondary" type="submit">"Apply"</button>
                <a class="button button-ghost-dark" href=move || if released().is_some() { RELEASED_LIST } else { "/dashboard/phone-numbers" }>"Clear"</a>
            </div>
        </form>
        <section class="card">
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match numbers.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(p) if p.total == 0 && released().is_some() && q().is_none() && owner().is_none() && carrier().is_none() && assigned().is_none() => view! {
                            <EmptyState icon=icons::phone title="No released numbers"
                                body="A number you release goes back to its carrier; Dial keeps it here, with when and by whom, and its calls."/>
                        }.into_any(),
                        Ok(p) if p.total == 0 && q().is_none() && owner().is_none() && carrier().is_none() && assigned().is_none() => view! {
                            <EmptyState icon=icons::phone title="No phone numbers yet"
                                body="Buy a number from Twilio's inventory, or import the numbers your Twilio account already has.">
                                <a class="button button-primary" href="/dashboard/phone-numbers/buy">"Buy a number"</a>
                            </EmptyState>
                        }.into_any(),
                        Ok(p) if p.total == 0 => view! { <p class="muted">"No numbers match these filters."</p> }.into_any(),
                        Ok(p) if released().is_some() => {
                            let pages = p.pages();
                            let (prev, next) = page_links(&p);
                            view! {
                                <div class="table-wrap">
                                <table class="table numbers-table">
                                    <thead><tr>
                                        <th scope="col">{sort_link("number", "Number")}</th>
                                        <th scope="col">{sort_link("label", "Label")}</th>
                                        <th scope="col">{sort_link("country", "Country")}</th>
                                        <th scope="col">"Carrier"</th>
                                        <th scope="col">{sort_link("owner", "Owner")}</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col">{sort_link("released", "Released")}</th>
                                        <th scope="col">"Released by"</th>
                                    </tr></thead>
                                    <tbody>
                                        {p.items.into_iter().map(|n| view! {
                                            <tr data-number=n.e164.to_string() class="row-released">
                                                <td class="nowrap"><a href=format!("/dashboard/phone-numbers/{}", n.id)><strong>{n.e164.formatted()}</strong></a></td>
                                                <td>{n.label.clone()}</td>
                                                <td>{n.country.clone()}</td>
                                                <td>{n.carrier.clone()}</td>
                                                <td>{n.owner.clone().unwrap_or_else(|| "—".into())}</td>
                                                <td class="nowrap">{status_badge(n.assignment_status)}</td>
                                                <td>{match n.released_at { Some(at) => crate::components::stacked_time(at).into_any(), None => "—".into_any() }}</td>
                                                <td>{n.released_by.clone().unwrap_or_else(|| "—".into())}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <Pager page=p.page pages=pages total=p.total more=p.total_more noun="released number" nouns="released numbers" prev next/>
                            }.into_any()
                        }
                        Ok(p) => {
                            let pages = p.pages();
                            let (prev, next) = page_links(&p);
                            view! {
                                <div class="table-wrap">
                                <table class="table numbers-table">
                                    <thead><tr>
                                        <th scope="col">{sort_link("number", "Number")}</th>
                                        <th scope="col">{sort_link("label", "Label")}</th>
                                        <th scope="col">{sort_link("country", "Country")}</th>
                                        <th scope="col">"Carrier"</th>
                                        <th scope="col">{sort_link("owner", "Owner")}</th>
                                        <th scope="col">"Assistant"</th>
                                        <th scope="col">"Routing profile"</th>
                                        <th scope="col">{sort_link("status", "Status")}</th>
                                        <th scope="col">{sort_link("created", "Created")}</th>
                                    </tr></thead>
                                    <tbody>
                                        {p.items.into_iter().map(|n| view! {
                                            <tr data-number=n.e164.to_string()>
                                                <td class="nowrap">
                                                    <a href=format!("/dashboard/phone-numbers/{}", n.id)><strong>{n.e164.formatted()}</strong></a>
                                                    // The number's capabilities under it: a fact about the number, not worth a column of its own.
                                                    <span class="cell-sub" data-testid="capabilities">{capabilities(n.voice, n.sms)}</span>
                                                </td>
                                                <td>{n.label.clone()}</td>
                                                <td>{n.country.clone()}</td>
                                                <td>{n.carrier.clone()}</td>
                                                <td>{n.owner.clone().unwrap_or_else(|| "—".into())}</td>
                                                <td>{n.assistant.clone().unwrap_or_else(|| "—".into())}</td>
                                                <td>{n.routing_profile.clone().unwrap_or_else(|| "—".into())}</td>
                                                <td class="nowrap">{status_badge(n.assignment_status)}</td>
                                                <td>{crate::components::stacked_time(n.created_at)}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <Pager page=p.page pages=pages total=p.total more=p.total_more noun="number" nouns="numbers" prev next/>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Admins filter by owner; owners only ever see their own numbers.
#[component]
fn OwnerFilter(selected: Option<String>) -> impl IntoView {
    let me = use_context::<MeResource>();
    let owners = Resource::new(
        || (),
        |_| async move { owner_options().await.unwrap_or_default() },
    );
    view! {
        <Suspense fallback=|| ()>
            {
                let selected = selected.clone();
                move || {
                    let selected = selected.clone();
                    Suspend::new(async move {
                        let admin = match me {
                            Some(m) => m.0.await.ok().flatten().is_some_and(|u| u.is_admin()),
                            None => false,
                        };
                        let list = owners.await;
                        admin.then(|| view! {
                            <div class="field">
                                <label for="filter-owner">"Owner"</label>
                                <select id="filter-owner" name="owner">
                                    <option value="" selected=selected.is_none()>"Everyone"</option>
                                    <option value="none" selected=selected.as_deref() == Some("none")>"Not allotted"</option>
                                    {list.into_iter().map(|o| {
                                        let is = selected.as_deref() == Some(o.id.as_str());
                                        view! { <option value=o.id selected=is>{o.username}</option> }
                                    }).collect_view()}
                                </select>
                            </div>
                        })
                    })
                }
            }
        </Suspense>
    }
}

/// Whose account pays for a number, in the words that fit the reader: an admin manages
/// the Twilio account; an owner buys through the organisation's.
fn buy_note(admin: bool) -> &'static str {
    if admin {
        "This buys the number on your Twilio account; Twilio charges for it every month until it is released."
    } else {
        "Dial buys the number for you on your organisation's Twilio account, which pays for it every month until it is released."
    }
}

#[component]
pub fn BuyNumberPage() -> impl IntoView {
    let me = use_context::<MeResource>();
    let (country, kind, area_code, contains, voice, sms) = (
        query_value("country"),
        query_value("kind"),
        query_value("area_code"),
        query_value("contains"),
        query_value("voice"),
        query_value("sms"),
    );
    let searched = move || country().is_some();
    let results = Resource::new(
        move || (country(), kind(), area_code(), contains(), voice(), sms()),
        |(country, kind, area_code, contains, voice, sms)| async move {
            match country {
                None => Ok(None),
                Some(c) => search_numbers(
                    c,
                    kind.unwrap_or_else(|| "local".into()),
                    area_code,
                    contains,
                    voice,
                    sms,
                )
                .await
                .map(Some),
            }
        },
    );
    let buy = ServerAction::<BuyNumber>::new();
    // Only an admin chooses an owner: an owner's page never asks for the users.
    let owners = Resource::new(
        || (),
        move |_| async move {
            match signed_in_admin(me).await {
                Some(_) => owner_options().await.unwrap_or_default(),
                None => Vec::new(),
            }
        },
    );
    view! {
        <Title text="Buy a number"/>
        <PageHeader title="Buy a number" subtitle="Search Twilio's inventory for a number to add to Dial.">
            <a class="button button-secondary" href="/dashboard/phone-numbers">"Back to numbers"</a>
        </PageHeader>
        <form class="filters card" method="get" action="/dashboard/phone-numbers/buy" role="search" aria-label="Search Twilio's inventory">
            <div class="field">
                <label for="search-country">"Country"</label>
                <select id="search-country" name="country">
                    {COUNTRIES.iter().map(|(iso, name, _)| {
                        let is = move || country().as_deref().unwrap_or("US") == *iso;
                        view! { <option value=*iso selected=is>{*name}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="search-kind">"Type"</label>
                <select id="search-kind" name="kind">
                    <option value="local" selected=move || kind().as_deref().unwrap_or("local") == "local">"Local"</option>
                    <option value="toll_free" selected=move || kind().as_deref() == Some("toll_free")>"Toll-free"</option>
                    <option value="mobile" selected=move || kind().as_deref() == Some("mobile")>"Mobile"</option>
                </select>
            </div>
            <div class="field">
                <label for="search-area">"Area code"</label>
                <input id="search-area" name="area_code" inputmode="numeric" maxlength="3" value=area_code placeholder="415"/>
            </div>
            <div class="field">
                <label for="search-contains">"Contains"</label>
                <input id="search-contains" name="contains" value=contains placeholder="555 or DIAL"/>
            </div>
            <fieldset class="field checks">
                <legend>"Capabilities"</legend>
                <label><input type="checkbox" name="voice" value="on" checked=move || voice().is_some() || !searched()/>" Voice"</label>
                <label><input type="checkbox" name="sms" value="on" checked=move || sms().is_some()/>" SMS"</label>
            </fieldset>
            <div class="filter-actions">
                <button class="button button-primary" type="submit">"Search"</button>
            </div>
        </form>
        {action_outcome(buy.value(), "Bought.")}
        <section class="card" aria-labelledby="results-title">
            <h2 id="results-title">"Available numbers"</h2>
            <Suspense fallback=|| view! { <Loading label="Searching Twilio…"/> }>
                {move || Suspend::new(async move {
                    let admin = signed_in_admin(me).await;
                    // The admin buys for themselves (no owner_id) or for another user.
                    let (my_label, owner_list) = match &admin {
                        Some(a) => (
                            format!("Me ({})", a.username),
                            owners.await.into_iter().filter(|o| o.id != a.id).collect(),
                        ),
                        None => (String::new(), Vec::new()),
                    };
                    let admin = admin.is_some();
                    match results.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(None) => view! { <p class="muted">"Choose a country and search."</p> }.into_any(),
                        Ok(Some(found)) if found.numbers.is_empty() => view! {
                            <p class="muted" data-testid="none-found">{found.none_found.unwrap_or_default()}</p>
                        }.into_any(),
                        Ok(Some(found)) => view! {
                            <div class="table-wrap">
                            <table class="table">
                                <thead><tr><th scope="col">"Number"</th><th scope="col">"Locality"</th><th scope="col">"Capabilities"</th><th scope="col"><span class="sr-only">"Buy"</span></th></tr></thead>
                                <tbody>
                                    {found.numbers.into_iter().map(|n| {
                                        let shown = format_e164(&n.e164);
                                        let place = [n.locality.clone(), n.region.clone(), n.country.clone()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ");
                                        let owners: Vec<OwnerOption> = owner_list.clone();
                                        let me_label = my_label.clone();
                                        let (row_key, hidden, label_id, owner_id) = (n.e164.clone(), n.e164.clone(), format!("label-{}", n.e164), format!("owner-{}", n.e164));
                                        let (label_for, owner_for) = (label_id.clone(), owner_id.clone());
                                        let button = format!("Buy {shown}");
                                        view! {
                                            <tr data-available=row_key>
                                                <td class="nowrap"><strong>{shown.clone()}</strong></td>
                                                <td>{place}</td>
                                                <td>{capabilities(n.voice, n.sms)}</td>
                                                <td class="actions">
                                                    <details class="inline-form">
                                                        <summary class="button button-secondary button-small">"Buy…"</summary>
                                                        <ActionForm action=buy>
                                                            <input type="hidden" name="e164" value=hidden/>
                                                            <label for=label_for>"Label"</label>
                                                            <input id=label_id name="label" placeholder="e.g. Support line" maxlength="64"/>
                                                            {admin.then(|| view! {
                                                                <label for=owner_for>"Owner"</label>
                                                                <select id=owner_id name="owner_id">
                                                                    <option value="">{me_label}</option>
                                                                    {owners.into_iter().map(|o| view! { <option value=o.id>{o.username}</option> }).collect_view()}
                                                                </select>
                                                            })}
                                                            <p class="small">{buy_note(admin)}</p>
                                                            <button class="button button-primary button-small" type="submit" disabled=move || buy.pending().get()>
                                                                {button}
                                                            </button>
                                                        </ActionForm>
                                                    </details>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn ImportNumbersPage() -> impl IntoView {
    view! {
        <Title text="Import from Twilio"/>
        <AdminOnly><ImportNumbers/></AdminOnly>
    }
}

#[component]
fn ImportNumbers() -> impl IntoView {
    let import = ServerAction::<ImportNumbers>::new();
    let candidates = Resource::new(move || import.version().get(), |_| import_candidates());
    let outcome = move || {
        import.value().get().map(|r| match r {
            Ok(0) => view! { <div class="banner banner-success" role="status">{icons::check()}<span>"Nothing new to import."</span></div> }.into_any(),
            Ok(n) => view! { <div class="banner banner-success" role="status">{icons::check()}<span>{format!("Imported {n} number{}.", if n == 1 { "" } else { "s" })}</span></div> }.into_any(),
            Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
        })
    };
    view! {
        <PageHeader title="Import from Twilio" subtitle="Numbers your Twilio account already has that Dial does not manage yet. Imported numbers have no owner until you allot them.">
            <a class="button button-secondary" href="/dashboard/phone-numbers">"Back to numbers"</a>
        </PageHeader>
        {outcome}
        <section class="card">
            <Suspense fallback=|| view! { <Loading label="Asking Twilio…"/> }>
                {move || Suspend::new(async move {
                    match candidates.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState icon=icons::check title="Everything is imported" body="Dial manages every number on your Twilio account."/>
                        }.into_any(),
                        Ok(list) => {
                            let count = list.len();
                            view! {
                                <div class="table-wrap">
                                <table class="table">
                                    <thead><tr><th scope="col">"Number"</th><th scope="col">"Name at Twilio"</th><th scope="col">"SID"</th><th scope="col"><span class="sr-only">"Import"</span></th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|c| {
                                            let shown = format_e164(&c.e164);
                                            let button = format!("Import {shown}");
                                            let sid = c.sid.clone();
                                            view! {
                                                <tr data-candidate=c.e164>
                                                    <td class="nowrap"><strong>{shown}</strong></td>
                                                    <td>{c.friendly_name}</td>
                                                    <td><code>{c.sid}</code></td>
                                                    <td class="actions">
                                                        <ActionForm action=import>
                                                            <input type="hidden" name="sid" value=sid/>
                                                            <button class="button button-secondary button-small" type="submit">{button}</button>
                                                        </ActionForm>
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <ActionForm action=import>
                                    <button class="button button-primary" type="submit">{format!("Import all {count}")}</button>
                                </ActionForm>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn NumberPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id")).unwrap_or_default();
    let label = ServerAction::<LabelNumber>::new();
    let allot = ServerAction::<AllotNumber>::new();
    let release = ServerAction::<ReleaseNumber>::new();
    let assignment = AssignmentActions::new(id);
    // Every resource of the page is created here, outside the Suspense that renders the
    // cards (see `AssignmentActions`).
    // The users and the routing profiles are an admin's to read: an owner's page never
    // asks for them (the server would refuse).
    let me = use_context::<MeResource>();
    let owners = Resource::new(
        || (),
        move |_| async move {
            match signed_in_admin(me).await {
                Some(_) => owner_options().await.unwrap_or_default(),
                None => Vec::new(),
            }
        },
    );
    let save_metadata = ServerAction::<SetNumberMetadata>::new();
    let metadata = Resource::new(
        move || (id(), save_metadata.version().get()),
        |(id, _)| get_number_metadata(id),
    );
    let profiles = Resource::new(
        || (),
        move |_| async move {
            match signed_in_admin(me).await {
                Some(_) => routing_profiles().await.unwrap_or_default(),
                None => Vec::new(),
            }
        },
    );
    let routing = RoutingData {
        save: save_metadata,
        metadata,
        profiles,
    };
    let number = Resource::new(
        move || {
            (
                id(),
                label.version().get(),
                allot.version().get(),
                assignment.version(),
            )
        },
        |(id, _, _, _)| get_number(id),
    );
    // The last drift scan's findings about the number (an admin's; empty for owners).
    let drift = Resource::new(
        move || (id(), assignment.version()),
        |(id, _)| async move { number_drift(id).await.unwrap_or_default() },
    );
    view! {
        <Title text="Phone number"/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match number.await {
                    Err(e) => view! {
                        <PageHeader title="Phone number"/>
                        <ErrorBanner message=e.to_string()/>
                        <a class="button button-secondary" href="/dashboard/phone-numbers">"Back to numbers"</a>
                    }.into_any(),
                    Ok(n) if n.is_released() => view! { <ReleasedNumber number=n/> }.into_any(),
                    Ok(n) => view! { <NumberDetails number=n label allot release assignment owners routing drift/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A released number, read-only: when and by whom it was released, what it was, and its
/// calls. Nothing on it can be changed (the services refuse released numbers too).
#[component]
fn ReleasedNumber(number: NumberRow) -> impl IntoView {
    let shown = number.e164.formatted();
    let when = number
        .released_at
        .map(format_time)
        .unwrap_or_else(|| "—".into());
    let who = number
        .released_by
        .clone()
        .unwrap_or_else(|| "someone (not recorded)".into());
    let calls = format!("/dashboard/calls?number={}", number.id);
    view! {
        <Title text=format!("{shown} (released)")/>
        <PageHeader title=shown.clone() subtitle=if number.label.is_empty() { "No label".to_string() } else { number.label.clone() }>
            <a class="button button-secondary" href=RELEASED_LIST>"Released numbers"</a>
        </PageHeader>
        <div class="banner banner-info" role="status" data-testid="released-notice">
            {icons::lock()}
            <span>
                <strong>"Released"</strong>
                {format!(" on {when} by {who}. ")}
                "Dial keeps it in its history, read-only: it no longer takes or places calls, and the number itself may now belong to someone else."
            </span>
        </div>
        <section class="card">
            <dl class="facts">
                <dt>"Number"</dt><dd><code>{number.e164.to_string()}</code></dd>
                <dt>"Status"</dt><dd>{status_badge(AssignmentStatus::Released)}</dd>
                <dt>"Released"</dt><dd data-testid="released-at">{when.clone()}</dd>
                <dt>"Released by"</dt><dd data-testid="released-by">{who.clone()}</dd>
                <dt>"Country"</dt><dd>{number.country.clone()}</dd>
                <dt>"Capabilities"</dt><dd>{capabilities(number.voice, number.sms)}</dd>
                <dt>"Carrier"</dt><dd>{number.carrier.clone()}</dd>
                <dt>"Twilio SID"</dt><dd>{number.twilio_sid.clone().map(|s| view! { <code>{s}</code> }.into_any()).unwrap_or_else(|| view! { "—" }.into_any())}</dd>
                <dt>"Owner"</dt><dd data-testid="number-owner">{number.owner.clone().unwrap_or_else(|| "Not allotted".into())}</dd>
                <dt>"Routing profile"</dt><dd>{number.routing_profile.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Added"</dt><dd>{format_time(number.created_at)}</dd>
            </dl>
        </section>
        <section class="card" aria-labelledby="calls-title">
            <h2 id="calls-title">"Calls"</h2>
            <p class="muted">"The calls this number took and placed stay in Dial's history."</p>
            <a class="button button-secondary" href=calls>{format!("Calls with {shown}")}</a>
        </section>
    }
}

#[component]
fn NumberDetails(
    number: NumberRow,
    label: ServerAction<LabelNumber>,
    allot: ServerAction<AllotNumber>,
    release: ServerAction<ReleaseNumber>,
    assignment: AssignmentActions,
    owners: Resource<Vec<OwnerOption>>,
    routing: RoutingData,
    drift: Resource<Vec<crate::model::DriftFinding>>,
) -> impl IntoView {
    let me = use_context::<MeResource>();
    let shown = number.e164.formatted();
    let label_value = label.value();
    let assigned = number.assistant_id.is_some();
    let (label_id, allot_id, release_id) =
        (number.id.clone(), number.id.clone(), number.id.clone());
    let release_prompt =
        format!("Release {shown}? Calls to it will stop reaching you, and this cannot be undone.");
    let release_button = format!("Release {shown}");
    let browser_call = format!("/dashboard/calls/browser?number_id={}", number.id);
    view! {
        <PageHeader title=shown.clone() subtitle=if number.label.is_empty() { "No label".to_string() } else { number.label.clone() }>
            <a class="button button-secondary" href="/dashboard/phone-numbers">"Back to numbers"</a>
            <a class="button button-secondary" href=browser_call>"Call from the browser"</a>
        </PageHeader>
        <crate::pages::health::NumberDrift findings=drift/>
        <section class="card">
            <dl class="facts">
                <dt>"Number"</dt><dd><code>{number.e164.to_string()}</code></dd>
                <dt>"Country"</dt><dd>{number.country.clone()}</dd>
                <dt>"Capabilities"</dt><dd>{capabilities(number.voice, number.sms)}</dd>
                <dt>"Carrier"</dt><dd>{number.carrier.clone()}</dd>
                <dt>"Twilio SID"</dt><dd>{number.twilio_sid.clone().map(|s| view! { <code>{s}</code> }.into_any()).unwrap_or_else(|| view! { "—" }.into_any())}</dd>
                <dt>"Owner"</dt><dd data-testid="number-owner">{number.owner.clone().unwrap_or_else(|| "Not allotted".into())}</dd>
                <dt>"Status"</dt><dd>{status_badge(number.assignment_status)}</dd>
                <dt>"Added"</dt><dd>{format_time(number.created_at)}</dd>
            </dl>
        </section>
        <AssignmentSection number_id=number.id.clone() actions=assignment/>
        <section class="card" aria-labelledby="label-title">
            <h2 id="label-title">"Label"</h2>
            {action_outcome(label_value, "Label saved.")}
            <ActionForm action=label>
                <input type="hidden" name="id" value=label_id/>
                <Field label="Label" name="label" value=number.label.clone() hint="Shown in Dial and as the number's name at Twilio (at most 64 characters)."
                    error=Signal::derive(field_error(label_value, "label"))/>
                <button class="button button-primary" type="submit">"Save label"</button>
            </ActionForm>
        </section>
        <Suspense fallback=|| ()>
            {
                let number_id = allot_id;
                let current_owner = number.owner_id.clone();
                move || {
                    let number_id = number_id.clone();
                    let current_owner = current_owner.clone();
                    Suspend::new(async move {
                        let admin = signed_in_admin(me).await;
                        let me_id = admin.as_ref().map(|a| a.id.clone()).unwrap_or_default();
                        let list = if admin.is_some() { owners.await } else { Vec::new() };
                        admin.map(|_| view! {
                            <section class="card" aria-labelledby="allot-title">
                                <h2 id="allot-title">"Owner"</h2>
                                {action_outcome(allot.value(), "Number allotted.")}
                                <ActionForm action=allot>
                                    <input type="hidden" name="id" value=number_id.clone()/>
                                    <div class="field">
                                        <label for="allot-owner">"Allot to"</label>
                                        <select id="allot-owner" name="owner_id">
                                            {list.into_iter().map(|o| {
                                                let is = current_owner.as_deref() == Some(o.id.as_str());
                                                let label = o.label(&me_id);
                                                view! { <option value=o.id selected=is>{label}</option> }
                                            }).collect_view()}
                                        </select>
                                    </div>
                                    <button class="button button-primary" type="submit">"Allot"</button>
                                </ActionForm>
                            </section>
                        })
                    })
                }
            }
        </Suspense>
        <RoutingSection number_id=number.id.clone() profile_name=number.routing_profile.clone() data=routing/>
        <section class="card danger-zone" aria-labelledby="release-title">
            <h2 id="release-title">"Release"</h2>
            {action_outcome(release.value(), "Released.")}
            {if assigned {
                view! { <p>"This number is assigned to an assistant. Unassign it first, so its calls are not cut off, then release it."</p> }.into_any()
            } else {
                view! {
                    <p class="muted">"Releasing returns the number to Twilio. Dial keeps its history; the number itself may be bought by someone else."</p>
                    <details class="confirm">
                        <summary class="button button-danger-outline">"Release…"</summary>
                        <ActionForm action=release>
                            <input type="hidden" name="id" value=release_id/>
                            <p>{release_prompt}</p>
                            <button class="button button-danger" type="submit">{release_button}</button>
                        </ActionForm>
                    </details>
                }.into_any()
            }}
        </section>
    }
}

/// The routing profile card's action and data (created by the number page).
#[derive(Clone, Copy)]
struct RoutingData {
    save: ServerAction<SetNumberMetadata>,
    metadata: Resource<Result<NumberMetadata, AppError>>,
    profiles: Resource<Vec<RoutingProfile>>,
}

/// The number's routing profile and compliance state: editable by admins; shown to owners
/// read-only, and only when an admin recorded something.
#[component]
fn RoutingSection(
    number_id: String,
    profile_name: Option<String>,
    data: RoutingData,
) -> impl IntoView {
    let me = use_context::<MeResource>();
    let RoutingData {
        save,
        metadata,
        profiles,
    } = data;
    let value = save.value();
    let compliance_error = field_error(value, "compliance");
    let heading = || {
        view! {
            <h2 id="routing-title">"Routing profile and compliance"</h2>
            <p class="muted small">"Organisational metadata: it does not change how calls are routed."</p>
        }
    };
    view! {
            <Suspense fallback=|| ()>
                {
                    let number_id = number_id.clone();
                    move || {
                        let number_id = number_id.clone();
                        let profile_name = profile_name.clone();
                        Suspend::new(async move {
                            let admin = signed_in_admin(me).await.is_some();
                            let meta = match metadata.await {
                                Ok(m) => m,
                                Err(e) => return view! {
                                    <section class="card" aria-labelledby="routing-title">
                                        {heading()}
                                        <ErrorBanner message=e.to_string()/>
                                    </section>
                                }.into_any(),
                            };
                            let text: String = meta.compliance.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
                            if !admin {
                                // An owner reads what an admin recorded; with nothing recorded
                                // there is no card.
                                if profile_name.is_none() && meta.compliance.is_empty() {
                                    return ().into_any();
                                }
                                return view! {
                                    <section class="card" aria-labelledby="routing-title" data-testid="routing-readonly">
                                        {heading()}
                                        <dl class="facts">
                                            <dt>"Routing profile"</dt><dd>{profile_name.clone().unwrap_or_else(|| "None".into())}</dd>
                                            {meta.compliance.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> }).collect_view()}
                                        </dl>
                                    </section>
                                }.into_any();
                            }
                            let list = profiles.await;
                            let current = meta.routing_profile_id.clone();
                            view! {
                                <section class="card" aria-labelledby="routing-title">
                                {heading()}
                                {action_outcome(value, "Saved.")}
                                <ActionForm action=save>
                                    <input type="hidden" name="id" value=number_id/>
                                    <div class="field">
                                        <label for="field-routing_profile_id">"Routing profile"</label>
                                        <select id="field-routing_profile_id" name="routing_profile_id">
                                            <option value="" selected=current.is_none()>"None"</option>
                                            {list.into_iter().map(|p| {
                                                let is = current.as_deref() == Some(p.id.as_str());
                                                view! { <option value=p.id selected=is>{p.name}</option> }
                                            }).collect_view()}
                                        </select>
                                        <p class="hint"><a href="/dashboard/settings/admin/telephony/routing-profiles">"Manage routing profiles"</a></p>
                                    </div>
                                    <div class="field" class:has-error=move || compliance_error().is_some()>
                                        <label for="field-compliance">"Compliance state"</label>
                                        <textarea id="field-compliance" name="compliance" rows="4" placeholder="a2p_status: approved">{text}</textarea>
                                        <p class="hint">"One “key: value” pair per line (at most 20)."</p>
                                        {move || compliance_error().map(|e| view! { <p class="field-error">{e}</p> })}
                                    </div>
                                    <button class="button button-primary" type="submit">"Save"</button>
                                </ActionForm>
                                </section>
                            }.into_any()
                        })
                    }
                }
            </Suspense>
    }
}
