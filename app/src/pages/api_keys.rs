//! Settings → API keys: every user's own keys for the JSON API, a form for a new key
//! (shown once), and revoke with a confirmation. Works without JavaScript: the new key
//! then reaches the page through the session, once.

use crate::{
    components::{
        action_outcome, field_error, icons, successes, EmptyState, ErrorBanner, Field, Loading,
        PageHeader,
    },
    functions::api_keys::{list_api_keys, take_created_api_key, CreateApiKey, RevokeApiKey},
    model::{format_time, ApiKeyView, CreatedKey},
};
use leptos::{form::ActionForm, html, prelude::*};
use leptos_meta::Title;

const CURL_EXAMPLE: &str =
    "curl -H \"Authorization: Bearer $DIAL_API_KEY\" https://dial.example.com/api/v1/me";

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let created = successes(create.value());
    let revoked = successes(revoke.value());
    let keys = Resource::new(move || (created.get(), revoked.get()), |_| list_api_keys());
    // A key created by a form post without JavaScript, handed over once by the server.
    let stashed = Resource::new(|| (), |_| take_created_api_key());
    let value = create.value();
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if created.get() > 0 {
            if let Some(f) = form.get() {
                f.reset();
            }
        }
    });
    let just_created = move || {
        value
            .get()
            .and_then(|r| r.ok())
            .filter(|c| !c.secret.is_empty())
    };
    view! {
        <Title text="API keys"/>
        <PageHeader title="API keys" subtitle="Keys let other systems use Dial's JSON API as you, with your rights.">
            <a class="button button-primary" href="#new-key">"New key"</a>
        </PageHeader>
        {move || just_created().map(|c| view! { <NewKey created=c/> })}
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let stashed = stashed.await.ok().flatten();
                stashed
                    .filter(|_| value.with_untracked(Option::is_none))
                    .map(|c| view! { <NewKey created=c/> })
            })}
        </Suspense>
        <section class="card" aria-labelledby="your-keys">
            <h2 id="your-keys">"Your keys"</h2>
            {action_outcome(revoke.value(), "Key revoked. Requests with it are refused from now on.")}
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState icon=icons::lock title="No API keys yet"
                                body="Create a key below for each system that calls Dial, so you can revoke one without disturbing the others."/>
                        }.into_any(),
                        Ok(list) => view! { <KeyTable keys=list revoke/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="card" id="new-key" aria-labelledby="new-key-title">
            <h2 id="new-key-title">"Create a key"</h2>
            {action_outcome(value, "Key created. Copy it now: it is shown above, once.")}
            <ActionForm action=create node_ref=form>
                <Field label="Name" name="name" required=true autocomplete="off" placeholder="CRM integration"
                    hint="Where the key is used, so you know which one to revoke (at most 64 characters)."
                    error=Signal::derive(field_error(value, "name"))/>
                <button class="button button-primary" type="submit" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create key" }}
                </button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="using-keys">
            <h2 id="using-keys">"Using a key"</h2>
            <p>"Other systems place and control calls through Dial's JSON API under "<code>"/api/v1"</code>". "
                "Send the key in the "<code>"Authorization"</code>" header of every request. "
                "A key acts as you: it can do what you can do in Dial, and stops working when it is revoked or your account is disabled."</p>
            <pre class="readonly-value"><code>{CURL_EXAMPLE}</code></pre>
            <p class="muted small">"Replace the address with your Dial's. Errors come back as JSON with a stable "<code>"code"</code>" and a "<code>"message"</code>". "
                "The API is described in "<a href="/api/v1/openapi.json">"OpenAPI"</a>"."</p>
        </section>
    }
}

/// The one time a key is shown.
#[component]
fn NewKey(created: CreatedKey) -> impl IntoView {
    let label = format!("New key \u{201c}{}\u{201d}", created.key.name);
    let aria_label = label.clone();
    let secret = created.secret.clone();
    // The Copy button needs JavaScript: without it the key is selectable text and the
    // hint says to copy it.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let copied = RwSignal::new(None::<bool>);
    let on_copy = move |_| copy_to_clipboard(secret.clone(), copied);
    view! {
        <section class="banner banner-info new-key" role="status" aria-label=aria_label data-testid="new-api-key">
            {icons::lock()}
            <div class="new-key-body">
                <p><strong>{label}</strong></p>
                <div class="secret-copy">
                    <pre class="readonly-value"><code data-secret="api-key">{created.secret}</code></pre>
                    <button type="button" class="button button-secondary button-small" data-testid="copy-api-key"
                        hidden=move || !hydrated.get() on:click=on_copy>
                        {move || if copied.get() == Some(true) { icons::check() } else { icons::copy() }}
                        {move || if copied.get() == Some(true) { "Copied" } else { "Copy" }}
                    </button>
                </div>
                <p aria-live="polite">{move || match copied.get() {
                    Some(false) => "The browser did not allow copying: select the key and copy it now. Dial keeps only a hash and cannot show it again.",
                    _ => "Copy it now: Dial keeps only a hash and cannot show it again.",
                }}</p>
            </div>
        </section>
    }
}

/// Puts `text` on the clipboard and says how it went in `done` ("Copied" for 2 seconds).
#[cfg(feature = "hydrate")]
pub(crate) fn copy_to_clipboard(text: String, done: RwSignal<Option<bool>>) {
    leptos::task::spawn_local(async move {
        let navigator = window().navigator();
        // Browsers offer the clipboard only to secure pages (https, or localhost): on
        // plain http `navigator.clipboard` is undefined, and calling it would throw.
        let available = wasm_bindgen_futures::js_sys::Reflect::get(
            &navigator,
            &wasm_bindgen::JsValue::from_str("clipboard"),
        )
        .is_ok_and(|clipboard| !clipboard.is_undefined() && !clipboard.is_null());
        if !available {
            done.set(Some(false));
            return;
        }
        let promise = navigator.clipboard().write_text(&text);
        let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
        done.set(Some(ok));
        if ok {
            set_timeout(
                move || {
                    done.try_set(None);
                },
                std::time::Duration::from_secs(2),
            );
        }
    });
}

#[cfg(not(feature = "hydrate"))]
pub(crate) fn copy_to_clipboard(_text: String, _done: RwSignal<Option<bool>>) {}

#[component]
fn KeyTable(keys: Vec<ApiKeyView>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    view! {
        <div class="table-wrap">
        <table class="table">
            <thead><tr>
                <th scope="col">"Name"</th><th scope="col">"Key"</th><th scope="col">"Created"</th>
                <th scope="col">"Last used"</th><th scope="col">"Status"</th>
                <th scope="col"><span class="sr-only">"Actions"</span></th>
            </tr></thead>
            <tbody>
            {keys.into_iter().map(|k| {
                let status = match k.revoked_at {
                    Some(at) => view! {
                        <span class="badge badge-muted" title=format!("Revoked {}", format_time(at))>"Revoked"</span>
                    }.into_any(),
                    None => view! { <span class="badge badge-ok">"Active"</span> }.into_any(),
                };
                let action = k.is_active().then(|| {
                    let note = format!(
                        "Programs that use \u{201c}{}\u{201d} are refused from the next request on. This cannot be undone.",
                        k.name
                    );
                    let button = format!("Revoke {}", k.name);
                    let id = k.id.clone();
                    view! {
                        <details class="inline-form">
                            <summary class="button button-danger-outline button-small">"Revoke…"</summary>
                            <ActionForm action=revoke>
                                <p class="small">{note}</p>
                                <input type="hidden" name="id" value=id/>
                                <button class="button button-danger button-small" type="submit">{button}</button>
                            </ActionForm>
                        </details>
                    }
                });
                view! {
                    <tr data-api-key=k.name.clone()>
                        <td><strong>{k.name.clone()}</strong></td>
                        <td><code>{k.prefix.clone()}</code></td>
                        <td>{format_time(k.created_at)}</td>
                        <td>{k.last_used_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
                        <td>{status}</td>
                        <td class="actions">{action}</td>
                    </tr>
                }
            }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}
