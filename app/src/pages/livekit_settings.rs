//! The LiveKit page: the project from the environment, shown read-only, and its connection test (admins).

use crate::{
    components::{AdminOnly, ErrorBanner, Loading, PageHeader},
    functions::settings::livekit_settings,
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn LiveKitPage() -> impl IntoView {
    view! {
        <Title text="LiveKit"/>
        <AdminOnly><LiveKitSettings/></AdminOnly>
    }
}

#[component]
fn LiveKitSettings() -> impl IntoView {
    let settings = Resource::new(|| (), |_| livekit_settings());
    view! {
        <PageHeader title="LiveKit" subtitle="The LiveKit project your agents run in. Configured with environment variables."/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                    Ok(s) => {
                        let configured = s.configured();
                        let row = |label: &'static str, var: &'static str, value: Option<String>| view! {
                            <dt>{label}</dt>
                            <dd>
                                {match value {
                                    Some(v) => view! { <code>{v}</code> }.into_any(),
                                    None => view! { <span class="badge badge-error">"missing"</span> }.into_any(),
                                }}
                                <span class="muted small">{format!(" {var}")}</span>
                            </dd>
                        };
                        view! {
                            <section class="card">
                                <p>
                                    {if configured {
                                        view! { <span class="badge badge-ok">"Configured"</span> }.into_any()
                                    } else {
                                        view! { <span class="badge badge-error">"Not configured"</span> }.into_any()
                                    }}
                                </p>
                                <dl class="facts">
                                    {row("Server URL", "DIAL_LIVEKIT_URL", s.url.clone())}
                                    {row("API key", "DIAL_LIVEKIT_API_KEY", s.api_key.clone())}
                                    <dt>"API secret"</dt>
                                    <dd>
                                        {if s.api_secret_set {
                                            view! { <span class="badge badge-ok">"set"</span>" "<span class="muted small">"never shown"</span> }.into_any()
                                        } else {
                                            view! { <span class="badge badge-error">"missing"</span> }.into_any()
                                        }}
                                        <span class="muted small">" DIAL_LIVEKIT_API_SECRET"</span>
                                    </dd>
                                    {row("SIP URI", "DIAL_LIVEKIT_SIP_URI", s.sip_uri.clone())}
                                </dl>
                                {(!configured).then(|| view! {
                                    <p class="muted">"Set these variables in Dial's environment (or its .env file) and restart Dial. The SIP URI is shown on your LiveKit project's settings page, e.g. abcd1234.sip.livekit.cloud."</p>
                                })}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
