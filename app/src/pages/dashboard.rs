//! The dashboard layout (sidebar + content) and the top-level sections.

use crate::{
    components::{icons, EmptyState, Loading, MeResource, PageHeader},
    functions::{
        auth::{get_me, Logout},
        settings::{livekit_settings, twilio_settings},
    },
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::components::{Outlet, A};

#[component]
pub fn DashboardLayout() -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    provide_context(MeResource(me));
    let logout = ServerAction::<Logout>::new();
    view! {
        <div class="shell">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <aside class="sidebar">
                <a class="brand" href="/dashboard">
                    <span class="brand-mark" aria-hidden="true">{icons::radio()}</span>
                    <span>"Dial"</span>
                </a>
                <nav class="nav" aria-label="Main">
                    <A href="/dashboard" exact=true>{icons::home()}<span>"Overview"</span></A>
                    <A href="/dashboard/phone-numbers">{icons::phone()}<span>"Phone numbers"</span></A>
                    <A href="/dashboard/assistants">{icons::bot()}<span>"Assistants"</span></A>
                    <A href="/dashboard/calls">{icons::activity()}<span>"Calls"</span></A>
                    <A href="/dashboard/settings">{icons::settings()}<span>"Settings"</span></A>
                </nav>
                <div class="sidebar-user">
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            me.await.ok().flatten().map(|m| view! {
                                <div class="user-chip">
                                    <span class="avatar" aria-hidden="true">{m.username.chars().next().map(|c| c.to_ascii_uppercase().to_string()).unwrap_or_default()}</span>
                                    <span class="user-meta">
                                        <span class="user-name" data-testid="current-user">{m.username.clone()}</span>
                                        <span class="user-role">{m.role.label()}</span>
                                    </span>
                                </div>
                            })
                        })}
                    </Suspense>
                    <ActionForm action=logout>
                        <button class="button button-ghost button-block" type="submit">
                            {icons::logout()}<span>"Sign out"</span>
                        </button>
                    </ActionForm>
                </div>
            </aside>
            <main class="content" id="main">
                <Outlet/>
            </main>
        </div>
    }
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let me = use_context::<MeResource>();
    view! {
        <Title text="Overview"/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                let user = match me {
                    Some(m) => m.0.await.ok().flatten(),
                    None => None,
                };
                let name = user.as_ref().map(|u| u.username.clone()).unwrap_or_default();
                let admin = user.as_ref().is_some_and(|u| u.is_admin());
                view! {
                    <PageHeader title=format!("Hello, {name}") subtitle="Your voice agents on the phone network, at a glance."/>
                    {admin.then(|| view! { <SetupChecklist/> })}
                    <section class="card">
                        <h2>"Today's calls"</h2>
                        <EmptyState
                            icon=icons::activity
                            title="No calls yet"
                            body="Calls to and from your numbers will be summarised here, by outcome, with a 7-day chart."
                        />
                    </section>
                }
            })}
        </Suspense>
    }
}

/// What an admin still has to connect before numbers and calls work.
#[component]
fn SetupChecklist() -> impl IntoView {
    let twilio = Resource::new(|| (), |_| twilio_settings());
    let livekit = Resource::new(|| (), |_| livekit_settings());
    view! {
        <section class="card" aria-labelledby="checklist-title">
            <h2 id="checklist-title">"Connect your providers"</h2>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    let t = twilio.await.ok();
                    let l = livekit.await.ok();
                    let twilio_ok = t.as_ref().is_some_and(|t| t.last_test.as_ref().is_some_and(|x| x.ok));
                    let twilio_saved = t.as_ref().is_some_and(|t| t.auth_token.is_set() && !t.account_sid.value.is_empty());
                    let livekit_ok = l.as_ref().is_some_and(|l| l.configured());
                    view! {
                        <ul class="checklist">
                            <li class:done=twilio_ok>
                                <span class="check" aria-hidden="true">{if twilio_ok { icons::check() } else { icons::plug() }}</span>
                                <div>
                                    <a href="/dashboard/settings/admin/telephony/twilio">"Twilio"</a>
                                    <p class="muted">{if twilio_ok { "Connected and tested." } else if twilio_saved { "Credentials saved — run “Test connection”." } else { "Add your Account SID, Auth Token and SIP trunk." }}</p>
                                </div>
                            </li>
                            <li class:done=livekit_ok>
                                <span class="check" aria-hidden="true">{if livekit_ok { icons::check() } else { icons::plug() }}</span>
                                <div>
                                    <a href="/dashboard/settings/admin/telephony/livekit">"LiveKit"</a>
                                    <p class="muted">{if livekit_ok { "Configured from the environment." } else { "Set DIAL_LIVEKIT_URL, DIAL_LIVEKIT_API_KEY and DIAL_LIVEKIT_API_SECRET." }}</p>
                                </div>
                            </li>
                        </ul>
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn CallsPage() -> impl IntoView {
    view! {
        <Title text="Calls"/>
        <PageHeader title="Calls" subtitle="Every call to or from your numbers, live."/>
        <section class="card">
            <EmptyState
                icon=icons::activity
                title="No calls yet"
                body="Inbound and outbound calls will appear here as they happen, with their status, duration and outcome."
            />
        </section>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <main class="auth-page">
            <section class="error-page">
                <p class="error-code">"404"</p>
                <h1>"This page does not exist"</h1>
                <p>"The address may be mistyped, or the page has moved."</p>
                <a class="button button-primary" href="/dashboard">"Go to the dashboard"</a>
            </section>
        </main>
    }
}
