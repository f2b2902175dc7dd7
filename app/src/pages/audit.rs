//! The audit log (admins): who did what, when, from where, paged newest first.

use crate::{
    components::{stacked_time, AdminOnly, ErrorBanner, Loading, PageHeader, Pager},
    functions::audit::audit_log,
    model::{format_time, AuditEntry},
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
        "twilio.trunk_transfers_enabled" => "Transfers turned on at the Twilio trunk",
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
        "provisioning.run_started" => "Provisioning started",
        "provisioning.step" => "Step done",
        "provisioning.step_failed" => "Step failed",
        "provisioning.run_done" => "Provisioning finished",
        "provisioning.run_failed" => "Provisioning failed",
        "provisioning.retry" => "Provisioning retried",
        "provisioning.roll_back" => "Roll back started",
        "provisioning.step_rolled_back" => "Step rolled back",
        "provisioning.rolled_back" => "Provisioning rolled back",
        "provisioning.roll_back_failed" => "Roll back failed",
        "provisioning.route_test" => "Inbound route tested",
        "login.throttle_ended" => "Sign-in throttling ended",
        "user.password_changed" => "Password changed",
        "user.password_change_refused" => "Password change refused (wrong current password)",
        "user.role_changed" => "Role changed",
        "api_key.create" => "API key created",
        "api_key.revoke" => "API key revoked",
        "assistant.create" => "Assistant created",
        "assistant.update" => "Assistant changed",
        "assistant.delete" => "Assistant deleted",
        "call.place" => "Call placed",
        "call.transfer" => "Call transferred",
        "call.hangup" => "Call hung up",
        "calls.reconcile" => "Calls checked against LiveKit",
        "sandbox.agent_answered" => "Sandbox: agent answered",
        "do_not_call.add" => "Added to the do-not-call list",
        "do_not_call.remove" => "Removed from the do-not-call list",
        "do_not_call.import" => "Do-not-call list imported",
        other => other,
    }
}

#[component]
fn AuditLog() -> impl IntoView {
    let query = use_query_map();
    let key = move || {
        query.with(|q| {
            let page = q
                .get("page")
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(1)
                .max(1);
            let cursor = |name: &str| q.get(name).filter(|c| !c.is_empty());
            (page, cursor("after"), cursor("before"))
        })
    };
    let entries = Resource::new(key, |(page, after, before)| audit_log(page, after, before));
    view! {
        <PageHeader title="Audit log" subtitle="Every sign-in and every change to settings, users, numbers and calls, newest first. A provisioning run is one entry, its steps beneath it."/>
        <section class="card">
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(p) => {
                            let pages = p.pages();
                            view! {
                                // Scrolls sideways on a narrow screen: a keyboard reaches it too.
                                <div class="table-wrap" tabindex="0" role="region" aria-label="Audit log entries">
                                <table class="table audit-table">
                                    <colgroup>
                                        <col class="col-when"/><col class="col-who"/><col class="col-what"/>
                                        <col class="col-subject"/><col class="col-detail"/>
                                    </colgroup>
                                    <thead><tr>
                                        <th scope="col">"When"</th><th scope="col">"Who, from"</th><th scope="col">"What"</th>
                                        <th scope="col">"Subject"</th><th scope="col">"Detail"</th>
                                    </tr></thead>
                                    <tbody>
                                        {p.items.into_iter().map(|e| view! { <AuditRow entry=e/> }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <Pager page=p.page pages=pages total=p.total more=p.total_more noun="entry" nouns="entries"
                                    prev=p.prev.as_deref().map(|c| format!("?page={}&before={c}", p.page.saturating_sub(1).max(1)))
                                    next=p.next.as_deref().map(|c| format!("?page={}&after={c}", p.page.saturating_add(1)))
                                    labels=("← Newer", "Older →")/>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

/// A row's detail without the run id it starts with (the run is the row's group).
fn shown_detail(detail: Option<&str>, run_id: Option<&str>) -> String {
    let detail = detail.unwrap_or_default();
    let Some(rest) = run_id.and_then(|id| detail.strip_prefix(&format!("run {id}"))) else {
        return detail.to_string();
    };
    let rest = rest.trim_start_matches(':').trim();
    // "(assign)" → "assign"
    rest.strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(rest)
        .to_string()
}

/// One entry; a provisioning run with its other rows (start, steps) in a disclosure.
#[component]
fn AuditRow(entry: AuditEntry) -> impl IntoView {
    let run = entry.run_id.clone();
    let detail = shown_detail(entry.detail.as_deref(), run.as_deref());
    let steps = (!entry.steps.is_empty()).then(|| {
        let n = entry.steps.len();
        let summary = format!(
            "{n} earlier {} of this run",
            if n == 1 { "entry" } else { "entries" }
        );
        let items = entry
            .steps
            .into_iter()
            .map(|s| {
                let text = shown_detail(s.detail.as_deref(), run.as_deref());
                let failed = s.action.ends_with("_failed");
                view! {
                    <li data-action=s.action.clone() class:failed=failed>
                        <span class="audit-step-time">{format_time(s.at)}</span>
                        <span class="audit-step-what">{action_label(&s.action).to_string()}</span>
                        <span class="audit-step-detail">{text}</span>
                    </li>
                }
            })
            .collect_view();
        view! {
            <details class="audit-steps">
                <summary>{summary}</summary>
                <ol>{items}</ol>
            </details>
        }
    });
    let run_label = run.as_deref().map(|id| {
        let short: String = id.chars().take(8).collect();
        view! { <span class="muted small audit-run" title=format!("Provisioning run {id}")>"run "<code>{short}</code></span> }
    });
    view! {
        <tr data-action=entry.action.clone() data-run=run.clone()>
            <td>{stacked_time(entry.at)}</td>
            <td>
                {entry.actor.unwrap_or_else(|| "—".into())}
                {entry.ip.map(|ip| view! { <span class="cell-sub" title="The address the request came from">{ip}</span> })}
            </td>
            <td>{action_label(&entry.action).to_string()}{run_label}</td>
            <td class="audit-subject">{entry.target.unwrap_or_default()}</td>
            <td class="audit-detail"><span class="muted">{detail}</span>{steps}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::action_label;

    #[test]
    fn every_action_dial_records_reads_in_words() {
        for action in [
            "api_key.create",
            "api_key.revoke",
            "assistant.create",
            "assistant.delete",
            "assistant.update",
            "call.hangup",
            "call.place",
            "call.transfer",
            "calls.reconcile",
            "carrier.created",
            "do_not_call.add",
            "do_not_call.import",
            "do_not_call.remove",
            "login.throttle_ended",
            "number.released",
            "provisioning.run_done",
            "sandbox.agent_answered",
            "twilio.trunk_transfers_enabled",
            "user.password_change_refused",
            "user.password_changed",
            "user.role_changed",
        ] {
            let label = action_label(action);
            assert_ne!(label, action, "{action} has no words");
            assert!(!label.contains('.') && !label.contains('_'), "{label}");
        }
    }
}
