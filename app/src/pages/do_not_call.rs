//! Settings → Do not call (admins): the numbers no campaign may call, a form to add one,
//! a CSV import (a plain multipart form post, the same with and without JavaScript), and
//! remove with a confirmation.

use crate::{
    components::{
        field_error, href_with, icons, notice_resource, query_value, stacked_time, successes,
        AdminOnly, EmptyState, ErrorBanner, Field, Loading, NoticeOf, PageHeader, Pager,
        SuccessBanner,
    },
    functions::do_not_call::{
        list_do_not_call, AddDoNotCall, RemoveDoNotCall, DO_NOT_CALL_PAGE, IMPORT_PATH,
    },
    model::{DoNotCallEntry, DoNotCallSource},
    phone::format_e164,
};
use leptos::{form::ActionForm, html, prelude::*};
use leptos_meta::Title;

#[component]
pub fn DoNotCallPage() -> impl IntoView {
    let notice = notice_resource();
    view! {
        <Title text="Do not call"/>
        <AdminOnly><DoNotCall notice/></AdminOnly>
    }
}

/// "Imported by ada", "Opted out during a call", …
fn how(entry: &DoNotCallEntry) -> String {
    let by = entry
        .added_by
        .as_deref()
        .map(|u| format!(" by {u}"))
        .unwrap_or_default();
    match entry.source {
        DoNotCallSource::Added => format!("Added{by}"),
        DoNotCallSource::Imported => format!("Imported{by}"),
        DoNotCallSource::OptedOut => "Opted out during a call".to_string(),
    }
}

/// What the last add or remove said: its own words on success, the error otherwise (a
/// number's error is shown at its field).
fn said<S>(value: S) -> impl IntoView
where
    S: Get<Value = Option<Result<String, crate::error::AppError>>> + Copy + Send + Sync + 'static,
{
    move || {
        value.get().map(|r| match r {
            Ok(message) => view! { <SuccessBanner message/> }.into_any(),
            Err(e) if e.field("number").is_some() || e.field("note").is_some() => ().into_any(),
            Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
        })
    }
}

#[component]
fn DoNotCall(notice: Resource<Option<crate::model::NoticeView>>) -> impl IntoView {
    let add = ServerAction::<AddDoNotCall>::new();
    let remove = ServerAction::<RemoveDoNotCall>::new();
    let added = successes(add.value());
    let removed = successes(remove.value());
    let q = query_value("q");
    let page = query_value("page");
    let list = Resource::new(
        move || (q(), page(), added.get(), removed.get()),
        |(q, page, _, _)| list_do_not_call(q, page.and_then(|p| p.parse().ok())),
    );
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if added.get() > 0 {
            if let Some(f) = form.get() {
                f.reset();
            }
        }
    });
    let add_value = add.value();
    view! {
        <PageHeader title="Do not call" subtitle="Numbers no campaign will ever call. Campaigns leave them out when their contacts are imported, and check again right before each call."/>
        <NoticeOf notice/>
        {said(remove.value())}
        <section class="card" aria-labelledby="dnc-add">
                <h2 id="dnc-add">"Add a number"</h2>
                {said(add_value)}
                <ActionForm action=add node_ref=form>
                    <Field label="Phone number" name="number" required=true autocomplete="off"
                        placeholder="+1 415 555 0100"
                        hint="In international form (+…), or national in the country below."
                        error=Signal::derive(field_error(add_value, "number"))/>
                    <Field label="Country for national numbers" name="country" value="US"
                        hint="Two letters (US, GB, DE…)."/>
                    <Field label="Note (optional)" name="note" autocomplete="off"
                        placeholder="Asked by email, 3 March"
                        error=Signal::derive(field_error(add_value, "note"))/>
                    <button class="button button-primary" type="submit" disabled=move || add.pending().get()>
                        {move || if add.pending().get() { "Adding…" } else { "Add to the list" }}
                    </button>
                </ActionForm>
            </section>
            <section class="card" aria-labelledby="dnc-import">
                <h2 id="dnc-import">"Import from CSV"</h2>
            <form method="post" action=IMPORT_PATH enctype="multipart/form-data">
                    <div class="field">
                        <label for="dnc-file">"CSV file"</label>
                        <input id="dnc-file" name="file" type="file" accept=".csv,text/csv" required=true
                            aria-describedby="dnc-file-hint"/>
                        <p class="hint" id="dnc-file-hint">"A header row with a phone column (\u{201c}phone\u{201d}, \u{201c}number\u{201d} or \u{201c}mobile\u{201d}); commas or semicolons; up to 100,000 rows. Rows that cannot be used are listed, not added."</p>
                    </div>
                    <Field label="Country for national numbers" name="country" id_prefix="import-" value="US"/>
                    <button class="button button-secondary" type="submit">"Import"</button>
                </form>
            </section>
        <section class="card" aria-labelledby="dnc-list">
            <h2 id="dnc-list">"On the list"</h2>
            <form class="filters" method="get" action=DO_NOT_CALL_PAGE role="search" aria-label="Find a number">
                <div class="field">
                    <label for="dnc-q">"Find a number"</label>
                    <input id="dnc-q" name="q" type="search" placeholder="Digits of the number" value=q/>
                </div>
                <div class="filter-actions">
                    <button class="button button-secondary" type="submit">"Find"</button>
                    {move || q().map(|_| view! { <a class="button button-ghost-dark" href=DO_NOT_CALL_PAGE>"Clear"</a> })}
                </div>
            </form>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(p) if p.items.is_empty() && q().is_some() => view! {
                            <EmptyState icon=icons::shield title="No number matches"
                                body="Nothing on the list contains those digits."/>
                        }.into_any(),
                        Ok(p) if p.items.is_empty() => view! {
                            <EmptyState icon=icons::shield title="The list is empty"
                                body="Campaigns may call any number. Add the numbers of people who asked not to be called, one by one or from a CSV file."/>
                        }.into_any(),
                        Ok(p) => {
                            let pages = p.pages();
                            let link = |n: u32| href_with(DO_NOT_CALL_PAGE, &["q", "page"], &[("page", n.to_string())]);
                            view! {
                                <div class="table-wrap">
                                <table class="table">
                                    <thead><tr>
                                        <th scope="col">"Number"</th><th scope="col">"How"</th>
                                        <th scope="col">"Note"</th><th scope="col">"Since"</th>
                                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                                    </tr></thead>
                                    <tbody>
                                    {p.items.into_iter().map(|e| view! { <Row entry=e remove/> }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <Pager page=p.page pages=pages total=p.total noun="number" nouns="numbers"
                                    prev=(p.page > 1).then(|| link(p.page - 1))
                                    next=(p.page < pages).then(|| link(p.page + 1))
                                    labels=("← Newer", "Older →")/>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Row(entry: DoNotCallEntry, remove: ServerAction<RemoveDoNotCall>) -> impl IntoView {
    let shown = format_e164(&entry.e164);
    let note = format!(
        "Campaigns may call {shown} again. Remove it only if its owner asked to be called."
    );
    let button = format!("Remove {shown}");
    let e164 = entry.e164.clone();
    let how = how(&entry);
    view! {
        <tr data-dnc=entry.e164.clone()>
            <td><strong>{shown.clone()}</strong></td>
            <td>{how}</td>
            <td class="muted">{entry.note.clone()}</td>
            <td>{stacked_time(entry.created_at)}</td>
            <td class="actions">
                <details class="inline-form">
                    <summary class="button button-danger-outline button-small">"Remove…"</summary>
                    <ActionForm action=remove>
                        <p class="small">{note}</p>
                        <input type="hidden" name="e164" value=e164/>
                        <button class="button button-danger button-small" type="submit">{button}</button>
                    </ActionForm>
                </details>
            </td>
        </tr>
    }
}
