//! The settings area: a second-level navigation and the index.

use crate::components::{icons, Loading, MeResource, PageHeader, SiteResource};
use leptos::prelude::*;
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

#[component]
pub fn SettingsIndex() -> impl IntoView {
    let me = use_context::<MeResource>();
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
                        {admin.then(|| view! {
                            <div class="tiles">
                                <a class="tile" href="/dashboard/settings/admin/users">
                                    {icons::users()}<strong>"Users"</strong>
                                    <span class="muted">"Create owners and admins, reset passwords, disable accounts."</span>
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
