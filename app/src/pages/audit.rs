//! The audit log (admins): who did what, when, from where, paged newest first.

use crate::{
    components::{AdminOnly, ErrorBanner, Loading, PageHeader, Pager},
    functions::audit::audit_log,
    model::format_time,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AuditPage() -> impl IntoView {
    view! {
        <Title text="Audit log"/>
        <AdminOnly><AuditLog/></AdminOnly>
    }
}

fn action_label(action: &str) -> &str {
    match action {
        "setup.first_admin_created" => "First administrator created",
        "login.succeeded" => "Signed in",
        "login.failed" => "Sign-in failed",
        "login.throttled" => "Sign-in refused (too many attempts)",
        "logout" => "Signed out",
        "user.created" => "User created",
        "user.password_reset" => "Password reset",
        "user.disabled" => "User disabled",
        "user.enabled" => "User enabled",
        "twilio.settings_saved" => "Twilio settings saved",
        "twilio.connection_tested" => "Twilio connection tested",
        "encryption.key_rotated" => "Encryption key rotated",
        "number.bought" => "Number bought",
        "number.recorded" => "Number recorded (already on the Twilio account)",
        "number.imported" => "Number imported",
        "number.labelled" => "Number label changed",
        "number.allotted" => "Number allotted",
        "number.released" => "Number released",
        "number.added" => "Number added to a carrier",
        "carrier.created" => "Carrier added",
        "carrier.updated" => "Carrier changed",
        "carrier.deleted" => "Carrier deleted",
        "number.metadata_set" => "Number routing profile and compliance set",
        "routing_profile.created" => "Routing profile created",
        "routing_profile.updated" => "Routing profile changed",
        "routing_profile.deleted" => "Routing profile deleted",
        "sandbox.inbound_call" => "Sandbox: inbound call simulated",
        "sandbox.outcome_set" => "Sandbox: call outcome chosen",
        other => other,
    }
}

#[component]
fn AuditLog() -> impl IntoView {
    let query = use_query_map();
    let page = move || {
        query
            .with(|q| q.get("page"))
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1)
    };
    let entries = Resource::new(page, audit_log);
    view! {
        <PageHeader title="Audit log" subtitle="Every sign-in and every change to settings and users, newest first."/>
        <section class="card">
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(p) => {
                            let pages = p.pages();
                            view! {
                                <div class="table-wrap">
                                <table class="table">
                                    <thead><tr>
                                        <th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"What"</th>
                                        <th scope="col">"Subject"</th><th scope="col">"Detail"</th><th scope="col">"From"</th>
                                    </tr></thead>
                                    <tbody>
                                        {p.items.into_iter().map(|e| view! {
                                            <tr data-action=e.action.clone()>
                                                <td class="nowrap">{format_time(e.at)}</td>
                                                <td>{e.actor.unwrap_or_else(|| "—".into())}</td>
                                                <td>{action_label(&e.action).to_string()}</td>
                                                <td>{e.target.unwrap_or_default()}</td>
                                                <td class="muted">{e.detail.unwrap_or_default()}</td>
                                                <td class="muted nowrap">{e.ip.unwrap_or_default()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <Pager page=p.page pages=pages total=p.total noun="entry" nouns="entries"
                                    prev=(p.page > 1).then(|| format!("?page={}", p.page - 1))
                                    next=(p.page < pages).then(|| format!("?page={}", p.page + 1))
                                    labels=("← Newer", "Older →")/>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}
