//! The HTML shell and the route table.

use crate::lazy_pages::*;
use crate::pages::dashboard::{DashboardLayout, NotFound};
use crate::{components::SiteResource, functions::site::get_site_info};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, Lazy, SsrMode,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <link rel="stylesheet" id="leptos" href=asset_href(&options, "css")/>
                <Hydration options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The address of the site's `css`, `js` or `wasm` file. With a hash file (`scripts/build`
/// writes one and start-up sets `LeptosOptions::hash_files` from it) the stylesheet is
/// `/pkg/dial.<hash>.css` and the script and WASM are in the bundle's directory,
/// `/pkg/<hash>/dial.js|wasm`, next to the chunks the lazy routes load; without one,
/// `/pkg/dial.<kind>`. Used by the shell, which only the server renders.
pub fn asset_href(options: &LeptosOptions, kind: &str) -> String {
    let pkg = &options.site_pkg_dir;
    let name = &options.output_name;
    let hash = options
        .hash_files
        .then(|| std::fs::read_to_string(options.hash_file.as_ref()).ok())
        .flatten()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (k, hash) = line.split_once(':')?;
                (k.trim() == kind).then(|| hash.trim().to_string())
            })
        });
    match hash {
        Some(hash) if kind == "css" => format!("/{pkg}/{name}.{hash}.{kind}"),
        Some(hash) => format!("/{pkg}/{hash}/{name}.{kind}"),
        None => format!("/{pkg}/{name}.{kind}"),
    }
}

/// Loads the bundle and hydrates the page right after its first frame is painted, in place of Leptos' `HydrationScripts`, which also preloads the script and
/// the WASM from the `<head>`. That preload starts the WASM download before the first paint,
/// and Lighthouse's simulation then counts the whole download in the page's largest
/// contentful paint (12.9 s measured in sandbox mode, where the first paint came later than
/// the preload; 1.4 s without, where it came first: a race, not the sandbox banner itself).
/// Here nothing of the bundle is asked for before the server-rendered page is painted; then
/// it loads at once (every form also works before hydration).
#[component]
fn Hydration(options: LeptosOptions) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    let js = asset_href(&options, "js");
    let wasm = asset_href(&options, "wasm");
    let script = format!(
        "(function () {{\
         const hydrate = () => import({js:?}).then((m) => \
         m.default({{ module_or_path: {wasm:?} }}).then(() => m.hydrate()));\
         requestAnimationFrame(() => setTimeout(hydrate, 0));\
         }})();"
    );
    view! { <script type="module" nonce=nonce>{script}</script> }
}

/// The Content-Security-Policy of a page rendered with `nonce`: scripts only from Dial's
/// origin or carrying the nonce (Leptos puts the nonce `leptos_axum` generates for each
/// render on its hydration and streaming scripts), WebAssembly allowed, nothing framed,
/// forms to Dial only, and connections to Dial and to `livekit` (the origins of the
/// configured LiveKit, which a browser joining a call's room talks to) only. No
/// `unsafe-inline` script.
pub fn content_security_policy(nonce: &str, livekit: &[String]) -> String {
    let mut connect = String::from("'self'");
    for origin in livekit {
        connect.push(' ');
        connect.push_str(origin);
    }
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src {connect}; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The origins a browser reaches LiveKit at, from its configured URL: its WebSocket
/// (`wss://` for `https://`, `ws://` for `http://`) and HTTP origins (livekit-client asks
/// `…/rtc/v1/validate` over HTTP when a connection is refused). None for a URL that is
/// not http(s), ws(s) or cannot be parsed (then a browser cannot call).
pub fn livekit_origins(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.trim().split_once("://") else {
        return Vec::new();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
    if !valid_host {
        return Vec::new();
    }
    let (http, ws) = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => ("https", "wss"),
        "http" | "ws" => ("http", "ws"),
        _ => return Vec::new(),
    };
    vec![format!("{ws}://{host}"), format!("{http}://{host}")]
}

#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    use axum::http::{header, HeaderValue};
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let livekit = crate::server::auth::state()
        .ok()
        .and_then(|state| state.config.livekit.url.clone())
        .map(|url| livekit_origins(&url))
        .unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&content_security_policy(&nonce, &livekit)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Every route renders completely on the server before it is sent (`SsrMode::Async`), so
/// pages are whole without JavaScript; the WASM then hydrates them.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    const SSR: SsrMode = SsrMode::Async;
    let site = Resource::new(|| (), |_| get_site_info());
    provide_context(SiteResource(site));
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                site.await.ok().filter(|s| s.sandbox).map(|_| view! {
                    <div class="sandbox-banner" role="status" data-testid="sandbox-banner">
                        <strong>"Sandbox"</strong>" — no real numbers or calls. Twilio and LiveKit are simulated on this machine; no audio is carried."
                    </div>
                })
            })}
        </Suspense>
        // The empty text at the bottom of the title stack keeps the document titled "Dial"
        // while no page's <Title> is mounted (between one page's view and the next), so a
        // tab never shows an empty or stale title.
        <Title text="" formatter=|title: String| if title.is_empty() { "Dial".to_string() } else { format!("{title} · Dial") }/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()} ssr=SSR/>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} ssr=SSR/>
                <ParentRoute path=path!("/dashboard") view=DashboardLayout ssr=SSR>
                    <Route path=path!("") view={Lazy::<OverviewRoute>::new()} ssr=SSR/>
                    <Route path=path!("phone-numbers") view={Lazy::<PhoneNumbersRoute>::new()} ssr=SSR/>
                    <Route path=path!("phone-numbers/buy") view={Lazy::<BuyNumberRoute>::new()} ssr=SSR/>
                    <Route path=path!("phone-numbers/import") view={Lazy::<ImportNumbersRoute>::new()} ssr=SSR/>
                    <Route path=path!("phone-numbers/:id") view={Lazy::<NumberRoute>::new()} ssr=SSR/>
                    <Route path=path!("assistants") view={Lazy::<AssistantsRoute>::new()} ssr=SSR/>
                    <Route path=path!("assistants/:id") view={Lazy::<AssistantRoute>::new()} ssr=SSR/>
                    <Route path=path!("calls") view={Lazy::<CallsRoute>::new()} ssr=SSR/>
                    <Route path=path!("calls/browser") view={Lazy::<BrowserCallRoute>::new()} ssr=SSR/>
                    <Route path=path!("calls/:id") view={Lazy::<CallRoute>::new()} ssr=SSR/>
                    <Route path=path!("setup") view={Lazy::<SetupCheckRoute>::new()} ssr=SSR/>
                    <Route path=path!("drift") view={Lazy::<DriftRoute>::new()} ssr=SSR/>
                    <Route path=path!("campaigns") view={Lazy::<CampaignsRoute>::new()} ssr=SSR/>
                    <Route path=path!("campaigns/new") view={Lazy::<NewCampaignRoute>::new()} ssr=SSR/>
                    <Route path=path!("campaigns/:id") view={Lazy::<CampaignRoute>::new()} ssr=SSR/>
                    <Route path=path!("campaigns/:id/uploads/:upload") view={Lazy::<UploadPreviewRoute>::new()} ssr=SSR/>
                    <ParentRoute path=path!("settings") view={Lazy::<SettingsLayoutRoute>::new()} ssr=SSR>
                        <Route path=path!("") view={Lazy::<SettingsIndexRoute>::new()} ssr=SSR/>
                        <Route path=path!("api-keys") view={Lazy::<ApiKeysRoute>::new()} ssr=SSR/>
                        <Route path=path!("webhooks") view={Lazy::<WebhooksRoute>::new()} ssr=SSR/>
                        <Route path=path!("webhooks/:id") view={Lazy::<WebhookEndpointRoute>::new()} ssr=SSR/>
                        <Route path=path!("admin/users") view={Lazy::<UsersRoute>::new()} ssr=SSR/>
                        <Route path=path!("admin/telephony/twilio") view={Lazy::<TwilioRoute>::new()} ssr=SSR/>
                        <Route path=path!("admin/telephony/livekit") view={Lazy::<LiveKitRoute>::new()} ssr=SSR/>
                        <Route path=path!("admin/telephony/routing-profiles") view={Lazy::<RoutingProfilesRoute>::new()} ssr=SSR/>
                        <Route path=path!("admin/telephony/carriers") view={Lazy::<CarriersRoute>::new()} ssr=SSR/>
                        <Route path=path!("admin/do-not-call") view={Lazy::<DoNotCallRoute>::new()} ssr=SSR/>
                        <Route path=path!("admin/audit") view={Lazy::<AuditRoute>::new()} ssr=SSR/>
                        <Route path=path!("admin/sandbox") view={Lazy::<SandboxRoute>::new()} ssr=SSR/>
                    </ParentRoute>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_may_connect_to_the_configured_livekit_and_nowhere_else() {
        assert_eq!(
            livekit_origins("https://dial-x1.livekit.cloud"),
            vec![
                "wss://dial-x1.livekit.cloud",
                "https://dial-x1.livekit.cloud"
            ]
        );
        assert_eq!(
            livekit_origins("http://127.0.0.1:7880/"),
            vec!["ws://127.0.0.1:7880", "http://127.0.0.1:7880"]
        );
        assert_eq!(
            livekit_origins("WSS://lk.example.com/path?x=1"),
            vec!["wss://lk.example.com", "https://lk.example.com"]
        );
        // Nothing that could smuggle another directive or source into the header.
        assert!(livekit_origins("https://a.example; script-src *").is_empty());
        assert!(livekit_origins("javascript://x").is_empty());
        assert!(livekit_origins("lk.example.com").is_empty());
        assert!(livekit_origins("https://").is_empty());
        let csp = content_security_policy("n0nce", &livekit_origins("https://lk.example.com"));
        assert!(csp.contains("connect-src 'self' wss://lk.example.com https://lk.example.com;"));
        assert!(content_security_policy("n0nce", &[]).contains("connect-src 'self';"));
    }
}
