//! Calling from the browser: the page to place a call with the microphone, and the card on
//! a live call's page to listen in, join speaking and take the call over from its agent.
//!
//! These render markup only. The calling is done by the page script (`browser/src/call.js`,
//! bundled with livekit-client into `pkg/call.<hash>.js`), which these two places load and
//! no other page does: the first page a user opens does not carry it. Every element the
//! script works on has a `data-bc-*` attribute. Without JavaScript the cards say that
//! calling from the browser needs it; the place-call form's (GET) submission says so too.

use super::*;
use crate::{
    functions::calls::{browser_numbers, get_browser_call_setup},
    model::BrowserCallSetup,
};

/// The page script, once the setup is known (none: the cards say why they cannot call).
fn script(setup: &BrowserCallSetup) -> impl IntoView {
    setup
        .script
        .clone()
        .map(|src| view! { <script type="module" src=src></script> })
}

/// Why this Dial cannot call from the browser now, if it cannot.
fn unavailable(setup: &BrowserCallSetup) -> Option<&'static str> {
    if !setup.livekit {
        Some("LiveKit is not configured: calling from the browser needs it (Settings → LiveKit).")
    } else if setup.script.is_none() {
        Some("This build of Dial has no browser-calling bundle: build the site with scripts/build.")
    } else {
        None
    }
}

const NEEDS_JS: &str = "Calling from the browser needs JavaScript: the page uses your microphone and LiveKit's client. Everything else in Dial works without it.";

/// The "needs JavaScript" note (shown until the page script marks the card ready) and the
/// sandbox's note that no audio is carried.
#[component]
fn Notes(setup: BrowserCallSetup) -> impl IntoView {
    view! {
        <noscript>
            <div class="banner banner-info" data-testid="browser-needs-js">{NEEDS_JS}</div>
        </noscript>
        {unavailable(&setup).map(|why| view! { <div class="banner banner-warning" role="status">{why}</div> })}
        {setup.sandbox.then(|| view! {
            <p class="hint" data-testid="browser-sandbox-note">
                "Sandbox: the simulated LiveKit takes your browser's connection and records it (who joined, with which grants, the tones sent), but no audio is carried."
            </p>
        })}
    }
}

/// The live part of a card: status, microphone level, keypad, mute, take-over and hang-up,
/// all hidden until the script opens it. Static, and the script's to change: handed to the
/// page as markup (a string costs the first page's bundle its bytes; a view, its code).
macro_rules! panel {
    ($take_over:literal, $leave:literal) => {
        concat!(
            r#"<div class="bc-panel" data-bc-panel hidden>"#,
            r#"<p class="bc-status" data-bc-status role="status" aria-live="polite"></p>"#,
            r#"<div class="bc-live" data-bc-live>"#,
            r#"<label class="bc-level" data-bc-speaking-only><span>Microphone</span>"#,
            r#"<meter data-bc-level min="0" max="1" low="0.05" optimum="0.5" value="0"></meter></label>"#,
            r#"<div class="bc-keypad" data-bc-keypad role="group" aria-label="Keypad: sends the tones to the call">"#,
            r#"<button type="button" class="bc-key" data-bc-digit="1" aria-label="Tone 1">1</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="2" aria-label="Tone 2">2</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="3" aria-label="Tone 3">3</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="4" aria-label="Tone 4">4</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="5" aria-label="Tone 5">5</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="6" aria-label="Tone 6">6</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="7" aria-label="Tone 7">7</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="8" aria-label="Tone 8">8</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="9" aria-label="Tone 9">9</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="*" aria-label="Tone *">*</button>"#,
            r#"<button type="button" class="bc-key" data-bc-digit="0" aria-label="Tone 0">0</button>"#,
            r##"<button type="button" class="bc-key" data-bc-digit="#" aria-label="Tone #">#</button>"##,
            r#"<p class="bc-digits small muted">Sent: <output data-bc-digits></output></p></div>"#,
            r#"<div class="actions bc-controls">"#,
            r#"<button type="button" class="button button-secondary" data-bc-action="mute" aria-pressed="false">Mute</button>"#,
            $take_over,
            r#"<button type="button" class="button button-danger" data-bc-action="hangup">"#,
            $leave,
            r#"</button></div></div>"#,
            r#"<div data-bc-audio hidden></div>"#,
            r#"<p class="small" data-bc-link hidden><a href="/dashboard/calls">Open the call's page (timeline, transfer)</a></p>"#,
            r#"</div>"#,
            r#"<p class="banner banner-error" data-bc-error role="alert" hidden></p>"#,
        )
    };
}

/// The panel of the page that places a call.
const PLACE_PANEL: &str = panel!("", "Hang up");
/// The panel of a live call's "Listen in" card.
const LISTEN_PANEL: &str = panel!(
    r#"<button type="button" class="button button-secondary" data-bc-action="take-over" hidden>Take over from the agent</button>"#,
    "Leave the call"
);

/// `/dashboard/calls/browser`: choose the number to call from and the number to call; the
/// page joins the call's room with the microphone, and Dial dials the phone into it.
#[component]
pub fn BrowserCallPage() -> impl IntoView {
    let number = query_value("number_id");
    let to = query_value("to");
    // The form's submission without JavaScript (with it, the script takes the submit).
    let submitted = query_value("go");
    let setup = Resource::new(|| (), |_| get_browser_call_setup());
    let numbers = Resource::new(|| (), |_| browser_numbers());
    view! {
        <Title text="Call from the browser"/>
        <PageHeader title="Call from the browser" subtitle="Talk to a phone from this page with your microphone, through your number's outbound trunk.">
            <a class="button button-secondary" href="/dashboard/calls">"Calls"</a>
        </PageHeader>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                let setup = match setup.await {
                    Ok(s) => s,
                    Err(e) => return view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                };
                let numbers = numbers.await.unwrap_or_default();
                let ready = unavailable(&setup).is_none();
                view! {
                    <section class="card" data-browser-call="place" aria-labelledby="bc-title">
                        <h2 id="bc-title">"New call"</h2>
                        <Notes setup=setup.clone()/>
                        {submitted().map(|_| view! {
                            <div class="banner banner-info bc-nojs" role="alert" data-testid="browser-needs-js-submitted">{NEEDS_JS}</div>
                        })}
                        {if numbers.is_empty() {
                            view! {
                                <EmptyState title="No number to call from" body="Calls from the browser go out through one of your numbers. Buy or import one first." icon=icons::phone>
                                    <a class="button button-primary" href="/dashboard/phone-numbers">"Phone numbers"</a>
                                </EmptyState>
                            }.into_any()
                        } else {
                            view! {
                                <form data-bc-form method="get" action="/dashboard/calls/browser" class="bc-form">
                                    <div class="field">
                                        <label for="bc-number">"Call from"</label>
                                        <select id="bc-number" name="number_id">
                                            {numbers.into_iter().map(|n| {
                                                let is = number().as_deref() == Some(n.id.as_str());
                                                view! { <option value=n.id selected=is>{n.name}</option> }
                                            }).collect_view()}
                                        </select>
                                    </div>
                                    <Field label="Number to call" name="to" id_prefix="bc" kind="tel" value=to().unwrap_or_default() placeholder="+14155550100" autocomplete="tel" hint="In international format: + and the country code." required=true/>
                                    <button type="submit" name="go" value="1" class="button button-primary" data-bc-start disabled=!ready>"Call"</button>
                                </form>
                            }.into_any()
                        }}
                        <div inner_html=PLACE_PANEL></div>
                        {script(&setup)}
                    </section>
                }.into_any()
            })}
        </Suspense>
    }
}

/// A live call's "Listen in" card: join the room listening (nobody hears you) or speaking,
/// and, speaking, take the call over from its agent. Not offered on a call placed from a
/// browser (its person is already in it).
#[component]
pub(super) fn ListenCard(
    id: Signal<String>,
    live: Resource<Result<(bool, bool), AppError>>,
) -> impl IntoView {
    let setup = Resource::new(|| (), |_| get_browser_call_setup());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let Ok((true, false)) = live.await else { return ().into_any() };
                let Ok(setup) = setup.await else { return ().into_any() };
                let ready = unavailable(&setup).is_none();
                view! {
                    <section class="card" data-browser-call="listen" data-bc-call=id.get_untracked() aria-labelledby="bc-listen-title">
                        <h2 id="bc-listen-title">"Listen in from the browser"</h2>
                        <p class="muted">"Join this call's room: listen without being heard, or speak. Once you speak you can take the call over from its agent, and carry on alone."</p>
                        <Notes setup=setup.clone()/>
                        <div class="actions">
                            <button type="button" class="button button-secondary" data-bc-action="listen" data-bc-start disabled=!ready>"Listen in"</button>
                            <button type="button" class="button button-secondary" data-bc-action="speak" data-bc-start disabled=!ready>"Join and speak"</button>
                        </div>
                        <div inner_html=LISTEN_PANEL></div>
                        {script(&setup)}
                    </section>
                }.into_any()
            })}
        </Suspense>
    }
}
