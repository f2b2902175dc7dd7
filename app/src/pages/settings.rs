//! The settings area: a second-level navigation and the index (one's own account and
//! its password).

use crate::{
    components::{
        action_outcome, field_error, icons, successes, Field, Loading, MeResource, PageHeader,
        SiteResource, SuccessBanner,
    },
    functions::users::{take_password_changed, ChangePassword},
};
use leptos::{form::ActionForm, html, prelude::*};
use leptos_meta::Title;
use leptos_router::components::{Outlet, A};

#[component]
pub fn SettingsLayout() -> impl IntoView {
    let me = use_context::<MeResource>();
    let site = use_context::<SiteResource>();
    view! {
        <div class="settings">
            <nav class="subnav" aria-label="Settings">
                <A href="/dashboard/settings" exact=true>"Overview"</A>
                <A href="/dashboard/settings/api-keys">"API keys"</A>
                <A href="/dashboard/settings/webhooks">"Webhooks"</A>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let admin = match me {
                            Some(m) => m.0.await.ok().flatten().is_some_and(|u| u.is_admin()),
                            None => false,
                        };
                        let sandbox = match site {
                            Some(s) => s.0.await.ok().is_some_and(|s| s.sandbox),
                            None => false,
                        };
                        admin.then(|| view! {
                            <A href="/dashboard/settings/admin/users">"Users"</A>
                            <A href="/dashboard/settings/admin/telephony/twilio">"Twilio"</A>
                            <A href="/dashboard/settings/admin/telephony/livekit">"LiveKit"</A>
                            <A href="/dashboard/settings/admin/telephony/carriers">"Carriers"</A>
                            <A href="/dashboard/settings/admin/telephony/routing-profiles">"Routing profiles"</A>
                            <A href="/dashboard/settings/admin/do-not-call">"Do not call"</A>
                            <A href="/dashboard/settings/admin/audit">"Audit log"</A>
                            {sandbox.then(|| view! { <A href="/dashboard/settings/admin/sandbox">"Sandbox"</A> })}
                        })
                    })}
                </Suspense>
            </nav>
            <Outlet/>
        </div>
    }
}

/// What the settings page says once the password is changed.
const PASSWORD_CHANGED: &str = "Password changed. You were signed out everywhere else.";

#[component]
pub fn SettingsIndex() -> impl IntoView {
    let me = use_context::<MeResource>();
    let change = ServerAction::<ChangePassword>::new();
    // A change made by a form post without JavaScript, told by the server once.
    let changed_before = Resource::new(|| (), |_| take_password_changed());
    view! {
        <Title text="Settings"/>
        <PageHeader title="Settings"/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                let user = match me {
                    Some(m) => m.0.await.ok().flatten(),
                    None => None,
                };
                user.map(|u| {
                    let admin = u.is_admin();
                    view! {
                        <section class="card">
                            <h2>"Your account"</h2>
                            <dl class="facts">
                                <dt>"Username"</dt><dd>{u.username.clone()}</dd>
                                <dt>"Role"</dt><dd>{u.role.label()}</dd>
                            </dl>
                        </section>
                        <ChangePasswordCard change changed_before/>
                        {admin.then(|| view! {
                            <div class="tiles">
                                <a class="tile" href="/dashboard/settings/admin/users">
                                    {icons::users()}<strong>"Users"</strong>
                                    <span class="muted">"Create owners and admins, change roles, reset passwords, disable accounts."</span>
                                </a>
                                <a class="tile" href="/dashboard/settings/admin/telephony/twilio">
                                    {icons::phone()}<strong>"Twilio"</strong>
                                    <span class="muted">"Account credentials, SIP trunk and webhook address."</span>
                                </a>
                                <a class="tile" href="/dashboard/settings/admin/telephony/livekit">
                                    {icons::radio()}<strong>"LiveKit"</strong>
                                    <span class="muted">"The LiveKit project your agents run in."</span>
                                </a>
                                <a class="tile" href="/dashboard/settings/admin/telephony/carriers">
                                    {icons::plug()}<strong>"Carriers"</strong>
                                    <span class="muted">"SignalWire, Telnyx and other SIP trunks, and their numbers."</span>
                                </a>
                                <a class="tile" href="/dashboard/settings/admin/telephony/routing-profiles">
                                    {icons::list()}<strong>"Routing profiles"</strong>
                                    <span class="muted">"Plans, countries and trunk references for numbers."</span>
                                </a>
                                <a class="tile" href="/dashboard/settings/admin/do-not-call">
                                    {icons::shield()}<strong>"Do not call"</strong>
                                    <span class="muted">"Numbers no campaign will ever call, added by hand or from a CSV file."</span>
                                </a>
                                <a class="tile" href="/dashboard/setup">
                                    {icons::check()}<strong>"Setup checklist"</strong>
                                    <span class="muted">"Everything calls need, checked live against Twilio and LiveKit."</span>
                                </a>
                                <a class="tile" href="/dashboard/drift">
                                    {icons::alert()}<strong>"Drift"</strong>
                                    <span class="muted">"Where Twilio or LiveKit no longer hold what Dial set up, and the repair."</span>
                                </a>
                                <a class="tile" href="/dashboard/settings/admin/audit">
                                    {icons::list()}<strong>"Audit log"</strong>
                                    <span class="muted">"Every sign-in and every change, newest first."</span>
                                </a>
                            </div>
                        })}
                    }
                })
            })}
        </Suspense>
    }
}

#[component]
fn ChangePasswordCard(
    change: ServerAction<ChangePassword>,
    changed_before: Resource<Result<bool, crate::error::AppError>>,
) -> impl IntoView {
    let value = change.value();
    let changed = successes(value);
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if changed.get() > 0 {
            if let Some(f) = form.get() {
                f.reset();
            }
        }
    });
    view! {
        <section class="card" aria-labelledby="change-password">
            <h2 id="change-password">"Change password"</h2>
            <p class="muted small">"You stay signed in here; every other browser and device signed in as you is signed out."</p>
            {action_outcome(value, PASSWORD_CHANGED)}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let told = matches!(changed_before.await, Ok(true));
                    (told && value.with_untracked(Option::is_none))
                        .then(|| view! { <SuccessBanner message=PASSWORD_CHANGED/> })
                })}
            </Suspense>
            <ActionForm action=change node_ref=form>
                <Field label="Current password" name="current_password" kind="password"
                    autocomplete="current-password" required=true
                    error=Signal::derive(field_error(value, "current_password"))/>
                <div class="form-row">
                    <Field label="New password" name="password" kind="password"
                        autocomplete="new-password" required=true
                        hint="At least 10 characters."
                        error=Signal::derive(field_error(value, "password"))/>
                    <Field label="New password again" name="password_confirm" kind="password"
                        autocomplete="new-password" required=true
                        error=Signal::derive(field_error(value, "password_confirm"))/>
                </div>
                <button class="button button-primary" type="submit" disabled=move || change.pending().get()>
                    {move || if change.pending().get() { "Changing…" } else { "Change password" }}
                </button>
            </ActionForm>
        </section>
    }
}
