//! The Twilio page: credentials, the SIP trunk, the public URL, and "Test connection" (admins). Its field and connection components are shared with the LiveKit page.

use crate::{
    components::{
        action_outcome, field_error, icons, notice_resource, successes, AdminOnly, ErrorBanner,
        Field, InfoBanner, Loading, NoticeOf, PageHeader,
    },
    error::AppError,
    functions::settings::{
        twilio_settings, SaveTwilioCps, SaveTwilioSettings, TestTwilioConnection, SAVED, UNCHANGED,
    },
    model::{format_time, Source, TwilioSettingsView},
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

#[component]
pub fn TwilioPage() -> impl IntoView {
    let notice = notice_resource();
    view! {
        <Title text="Twilio"/>
        <AdminOnly><TwilioSettings notice/></AdminOnly>
    }
}

fn env_badge(variable: &'static str) -> impl IntoView {
    view! { <span class="badge badge-env" title="Set in the environment; change it there">{icons::lock()}{format!("from {variable}")}</span> }
}

#[component]
fn TwilioSettings(notice: Resource<Option<crate::model::NoticeView>>) -> impl IntoView {
    let save = ServerAction::<SaveTwilioSettings>::new();
    let test = ServerAction::<TestTwilioConnection>::new();
    let cps = ServerAction::<SaveTwilioCps>::new();
    let saved = successes(save.value());
    let tested = Memo::new(move |_| test.version().get());
    let settings = Resource::new(move || (saved.get(), tested.get()), |_| twilio_settings());
    let value = save.value();
    // A save that found the settings as they were says so instead of "saved".
    let unchanged = |r: &Option<Result<TwilioSettingsView, AppError>>| matches!(r, Some(Ok(v)) if v.changed.as_ref().is_some_and(Vec::is_empty));
    let unchanged_save = move || value.with(unchanged);
    let changed_saves = Signal::derive(move || value.get().filter(|_| !unchanged_save()));
    view! {
        <PageHeader title="Twilio" subtitle="The Twilio account Dial buys numbers with, and the Elastic SIP trunk calls travel over."/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                    Ok(s) => {
                        let trunk_hint = match &s.trunk_sid {
                            Some(sid) => format!("Dial uses Elastic SIP trunk {sid}."),
                            None => "When no trunk with the address above exists, Dial creates it on the first assignment: transfers enabled, origination to LiveKit's SIP URI, and termination credentials (the SIP username and password above, or generated ones).".to_string(),
                        };
                        view! {
                        <ConnectionCard settings=s.clone() test/>
                        <section class="card" aria-labelledby="twilio-form">
                            <h2 id="twilio-form">"Credentials and trunk"</h2>
                            <NoticeOf notice/>
                            {action_outcome(changed_saves, SAVED)}
                            {move || unchanged_save().then(|| view! { <InfoBanner message=UNCHANGED/> })}
                            <ActionForm action=save>
                                <PlainField label="Account SID" name="account_sid" env="DIAL_TWILIO_ACCOUNT_SID"
                                    setting=s.account_sid.clone() placeholder="ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                    hint="Starts with AC; on the Twilio console's home page."
                                    error=Signal::derive(field_error(value, "account_sid"))/>
                                <SecretField label="Auth Token" name="auth_token" env="DIAL_TWILIO_AUTH_TOKEN"
                                    setting=s.auth_token.clone() hint="32 characters, next to the Account SID."
                                    error=Signal::derive(field_error(value, "auth_token"))/>
                                <PlainField label="SIP trunk address" name="sip_address" env="DIAL_TWILIO_SIP_ADDRESS"
                                    setting=s.sip_address.clone() placeholder="abc123.pstn.twilio.com"
                                    hint="The Elastic SIP trunk's termination domain — a host name, without sip:."
                                    error=Signal::derive(field_error(value, "sip_address"))/>
                                <PlainField label="SIP username" name="sip_username" env="DIAL_TWILIO_SIP_USERNAME"
                                    setting=s.sip_username.clone() hint="The credential LiveKit uses to place calls through the trunk (at most 32 characters)."
                                    error=Signal::derive(field_error(value, "sip_username"))/>
                                <SecretField label="SIP password" name="sip_password" env="DIAL_TWILIO_SIP_PASSWORD"
                                    setting=s.sip_password.clone() hint="At least 12 characters with upper- and lower-case letters and a digit."
                                    error=Signal::derive(field_error(value, "sip_password"))/>
                                <div class="field field-check">
                                    <label class="check">
                                        <input type="checkbox" name="auto_trunk" value="on" checked=s.auto_trunk/>
                                        <span>"Create the Elastic SIP trunk for me"</span>
                                    </label>
                                    <p class="hint">{trunk_hint.clone()}</p>
                                </div>
                                <PlainField label="Public webhook base URL" name="public_url" env="DIAL_PUBLIC_URL"
                                    setting=s.public_url.clone() placeholder="https://dial.example.com"
                                    hint="Where Twilio and LiveKit reach this Dial; https:// unless it is localhost."
                                    error=Signal::derive(field_error(value, "public_url"))/>
                                <div class="form-footer">
                                    <button class="button button-primary" type="submit" disabled=move || save.pending().get()>
                                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                                    </button>
                                    {s.updated_at.map(|at| view! {
                                        <span class="muted small">{format!("Last saved {}{}", format_time(at), s.updated_by.clone().map(|b| format!(" by {b}")).unwrap_or_default())}</span>
                                    })}
                                </div>
                            </ActionForm>
                        </section>
                        <section class="card" id="call-rate" aria-labelledby="twilio-cps">
                            <h2 id="twilio-cps">"Call rate"</h2>
                            <p class="muted small">"A Twilio Elastic SIP trunk accepts 1 call a second per region unless Twilio raised the limit for your account (up to 5), and refuses calls over it (SIP 503). Campaigns share this budget across all of Dial's instances."</p>
                            {move || cps.value().get().map(|r| match r {
                                Ok(message) => view! { <crate::components::SuccessBanner message/> }.into_any(),
                                Err(e) if e.field("outbound_cps").is_some() => ().into_any(),
                                Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                            })}
                            <ActionForm action=cps attr:class="inline-form">
                                <Field label="Calls a second" name="outbound_cps" kind="number" value=s.outbound_cps.max(1).to_string()
                                    error=Signal::derive(field_error(cps.value(), "outbound_cps"))/>
                                <button class="button button-secondary" type="submit" disabled=move || cps.pending().get()>"Update call rate"</button>
                            </ActionForm>
                        </section>
                    }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ConnectionCard(
    settings: TwilioSettingsView,
    test: ServerAction<TestTwilioConnection>,
) -> impl IntoView {
    let ready = !settings.account_sid.value.is_empty() && settings.auth_token.is_set();
    // Twilio's answer (success or its error) is recorded and shown above as the last
    // test; only errors that never reached Twilio are shown here.
    let outcome = move || {
        test.value().get().and_then(|r| match r {
            Err(
                e @ (AppError::Invalid { .. }
                | AppError::Unauthorized
                | AppError::Forbidden
                | AppError::Internal
                | AppError::Request { .. }),
            ) => Some(view! { <ErrorBanner message=e.to_string()/> }),
            _ => None,
        })
    };
    view! {
        <section class="card connection" aria-labelledby="twilio-connection">
            <div class="connection-head">
                <div>
                    <h2 id="twilio-connection">"Connection"</h2>
                    {match settings.last_test.clone() {
                        Some(t) if t.ok => view! { <p><span class="badge badge-ok">"Connected"</span>" "<span class="muted small">{format!("Tested {}", format_time(t.at))}</span></p><p class="muted small">{t.message}</p> }.into_any(),
                        Some(t) => view! { <p><span class="badge badge-error">"Failed"</span>" "<span class="muted small">{format!("Tested {}", format_time(t.at))}</span></p><p class="small">{t.message}</p> }.into_any(),
                        None => view! { <p class="muted">"Not tested yet."</p> }.into_any(),
                    }}
                    <p class="muted small">{format!("API: {}", settings.api_base)}</p>
                </div>
                <ActionForm action=test>
                    <button class="button button-secondary" type="submit" disabled=move || !ready || test.pending().get()
                        title=(!ready).then_some("Save an Account SID and Auth Token first")>
                        {move || if test.pending().get() { "Testing…" } else { "Test connection" }}
                    </button>
                </ActionForm>
            </div>
            <div aria-live="polite">{outcome}</div>
        </section>
    }
}

#[component]
fn PlainField(
    label: &'static str,
    name: &'static str,
    env: &'static str,
    setting: crate::model::PlainSetting,
    #[prop(optional)] placeholder: &'static str,
    hint: &'static str,
    error: Signal<Option<String>>,
) -> impl IntoView {
    if setting.source == Source::Environment {
        view! {
            <div class="field">
                <span class="label">{label}" "{env_badge(env)}</span>
                <p class="readonly-value" data-field=name>{setting.value}</p>
            </div>
        }
        .into_any()
    } else {
        view! {
            <Field label=label name=name value=setting.value placeholder=placeholder hint=hint autocomplete="off" error=error/>
        }
        .into_any()
    }
}

#[component]
fn SecretField(
    label: &'static str,
    name: &'static str,
    env: &'static str,
    setting: crate::model::SecretSetting,
    hint: &'static str,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("field-{name}");
    let masked = match &setting.ends_with {
        Some(end) => format!("set · ends in ••{end}"),
        None => "set".to_string(),
    };
    match setting.source {
        Source::Environment => view! {
            <div class="field">
                <span class="label">{label}" "{env_badge(env)}</span>
                <p class="readonly-value" data-field=name>{masked}</p>
            </div>
        }
        .into_any(),
        Source::Database => view! {
            <div class="field" class:has-error=move || error.get().is_some()>
                <span class="label">{label}</span>
                <div class="secret-row">
                    <span class="secret-mask" data-field=name>{masked}</span>
                    <details class="replace" open=move || error.get().is_some()>
                        <summary class="button button-secondary button-small">"Replace"</summary>
                        <label class="sr-only" for=id.clone()>{format!("New {label}")}</label>
                        <input id=id type="password" name=name autocomplete="new-password" placeholder=format!("New {label}")/>
                        <p class="hint">{hint}" Leave empty to keep the current value."</p>
                    </details>
                </div>
                {move || error.get().map(|e| view! { <p class="field-error">{e}</p> })}
            </div>
        }
        .into_any(),
        Source::Unset => view! {
            <Field label=label name=name kind="password" hint=hint autocomplete="new-password" error=error/>
        }
        .into_any(),
    }
}
