//! Admin pages: users, Twilio, LiveKit and the audit log. Each is wrapped in
//! `AdminOnly`, and every server function behind them checks the role again.

use crate::{
    components::{
        action_outcome, field_error, icons, successes, AdminOnly, ErrorBanner, Field, Loading,
        PageHeader, Pager,
    },
    error::AppError,
    functions::{
        audit::audit_log,
        sandbox::{sandbox_status, SandboxInboundCall, SandboxSetOutcome},
        settings::{livekit_settings, twilio_settings, SaveTwilioSettings, TestTwilioConnection},
        users::{list_users, CreateUser, ResetPassword, SetUserDisabled},
    },
    model::{format_time, Source, TwilioSettingsView, CALL_OUTCOMES},
};
use leptos::{form::ActionForm, html, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Title text="Users"/>
        <AdminOnly><UsersAdmin/></AdminOnly>
    }
}

#[component]
fn UsersAdmin() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let reset = ServerAction::<ResetPassword>::new();
    let toggle = ServerAction::<SetUserDisabled>::new();
    let created = successes(create.value());
    let toggled = successes(toggle.value());
    let users = Resource::new(move || (created.get(), toggled.get()), |_| list_users());
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if created.get() > 0 {
            if let Some(f) = form.get() {
                f.reset();
            }
        }
    });
    let value = create.value();
    view! {
        <PageHeader title="Users" subtitle="Administrators manage everything; assistant owners manage their own numbers, assistants and calls."/>
        <section class="card" aria-labelledby="new-user">
            <h2 id="new-user">"Add a user"</h2>
            {action_outcome(value, "User created. They can sign in now.")}
            <ActionForm action=create node_ref=form>
                <div class="form-row">
                    <Field label="Username" name="username" autocomplete="off" required=true
                        error=Signal::derive(field_error(value, "username"))/>
                    <Field label="Initial password" name="password" kind="password" autocomplete="new-password" required=true
                        hint="At least 10 characters. Share it with the user privately."
                        error=Signal::derive(field_error(value, "password"))/>
                    <div class="field">
                        <label for="field-role">"Role"</label>
                        <select id="field-role" name="role">
                            <option value="owner" selected>"Assistant owner"</option>
                            <option value="admin">"Administrator"</option>
                        </select>
                    </div>
                </div>
                <button class="button button-primary" type="submit" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create user" }}
                </button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="all-users">
            <h2 id="all-users">"All users"</h2>
            {action_outcome(reset.value(), "Password reset. The user's sessions were ended.")}
            {action_outcome(toggle.value(), "Saved.")}
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                            <table class="table">
                                <thead><tr>
                                    <th scope="col">"Username"</th><th scope="col">"Role"</th><th scope="col">"Status"</th>
                                    <th scope="col">"Created"</th><th scope="col">"Last sign-in"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                                </tr></thead>
                                <tbody>
                                {list.into_iter().map(|u| {
                                    let disabled = u.disabled;
                                    let row_name = u.username.clone();
                                    let cell_name = u.username.clone();
                                    let reset_label = format!("New password for {}", u.username);
                                    let reset_button = format!("Set password for {}", u.username);
                                    let enable_button = format!("Enable {}", u.username);
                                    let disable_note = format!("{} will be signed out everywhere at once and cannot sign in until enabled again.", u.username);
                                    let disable_button = format!("Disable {}", u.username);
                                    let input_id = format!("reset-{}", u.id);
                                    let (id1, id2, id3) = (u.id.clone(), u.id.clone(), u.id.clone());
                                    let status = if disabled {
                                        view! { <span class="badge badge-muted">"Disabled"</span> }.into_any()
                                    } else {
                                        view! { <span class="badge badge-ok">"Active"</span> }.into_any()
                                    };
                                    let toggle_form = if disabled {
                                        view! {
                                            <ActionForm action=toggle>
                                                <input type="hidden" name="user_id" value=id2/>
                                                <input type="hidden" name="disabled" value="false"/>
                                                <button class="button button-secondary button-small" type="submit">{enable_button}</button>
                                            </ActionForm>
                                        }.into_any()
                                    } else {
                                        view! {
                                            <details class="inline-form">
                                                <summary class="button button-danger-outline button-small">"Disable…"</summary>
                                                <ActionForm action=toggle>
                                                    <p class="small">{disable_note}</p>
                                                    <input type="hidden" name="user_id" value=id3/>
                                                    <input type="hidden" name="disabled" value="true"/>
                                                    <button class="button button-danger button-small" type="submit">{disable_button}</button>
                                                </ActionForm>
                                            </details>
                                        }.into_any()
                                    };
                                    view! {
                                        <tr data-user=row_name>
                                            <td><strong>{cell_name}</strong></td>
                                            <td>{u.role.label()}</td>
                                            <td>{status}</td>
                                            <td>{format_time(u.created_at)}</td>
                                            <td>{u.last_login_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
                                            <td class="actions">
                                                <details class="inline-form">
                                                    <summary class="button button-secondary button-small">"Reset password"</summary>
                                                    <ActionForm action=reset>
                                                        <input type="hidden" name="user_id" value=id1/>
                                                        <label class="sr-only" for=input_id.clone()>{reset_label}</label>
                                                        <input id=input_id name="password" type="password" autocomplete="new-password" placeholder="New password (10+ characters)" required/>
                                                        <button class="button button-primary button-small" type="submit">{reset_button}</button>
                                                    </ActionForm>
                                                </details>
                                                {toggle_form}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn TwilioPage() -> impl IntoView {
    view! {
        <Title text="Twilio"/>
        <AdminOnly><TwilioSettings/></AdminOnly>
    }
}

fn env_badge(variable: &'static str) -> impl IntoView {
    view! { <span class="badge badge-env" title="Set in the environment; change it there">{icons::lock()}{format!("from {variable}")}</span> }
}

#[component]
fn TwilioSettings() -> impl IntoView {
    let save = ServerAction::<SaveTwilioSettings>::new();
    let test = ServerAction::<TestTwilioConnection>::new();
    let saved = successes(save.value());
    let tested = Memo::new(move |_| test.version().get());
    let settings = Resource::new(move || (saved.get(), tested.get()), |_| twilio_settings());
    let value = save.value();
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
                            {action_outcome(value, "Twilio settings saved.")}
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

#[component]
pub fn SandboxPage() -> impl IntoView {
    view! {
        <Title text="Sandbox"/>
        <AdminOnly><SandboxControls/></AdminOnly>
    }
}

fn outcome_label(key: &str) -> String {
    CALL_OUTCOMES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, label)| label.to_string())
        .unwrap_or_else(|| key.to_string())
}

#[component]
fn SandboxControls() -> impl IntoView {
    let inbound = ServerAction::<SandboxInboundCall>::new();
    let outcome = ServerAction::<SandboxSetOutcome>::new();
    let placed = Memo::new(move |_| inbound.version().get());
    let chosen = successes(outcome.value());
    let status = Resource::new(move || (placed.get(), chosen.get()), |_| sandbox_status());
    let inbound_value = inbound.value();
    let outcome_value = outcome.value();
    view! {
        <PageHeader title="Sandbox" subtitle="Try every flow against simulated Twilio and LiveKit: no accounts, no phone bill."/>
        <section class="card" aria-labelledby="simulate-inbound">
            <h2 id="simulate-inbound">"Simulate an inbound call"</h2>
            <p class="muted">"A caller dials one of your numbers. The simulated LiveKit routes it exactly as LiveKit would: by inbound trunk, then dispatch rule."</p>
            {move || inbound_value.get().map(|r| match r {
                Ok(message) => view! { <div class="banner banner-success" role="status" data-testid="inbound-result">{icons::check()}<span>{message}</span></div> }.into_any(),
                Err(e) => view! { <div class="banner banner-error" role="alert" data-testid="inbound-result">{icons::alert()}<span>{e.to_string()}</span></div> }.into_any(),
            })}
            <ActionForm action=inbound>
                <div class="form-row">
                    <Field label="Number called" name="to" placeholder="+1 415 555 0100" required=true
                        error=Signal::derive(field_error(inbound_value, "to"))/>
                    <Field label="Caller" name="from" value="+14155550123" required=true
                        error=Signal::derive(field_error(inbound_value, "from"))/>
                </div>
                <button class="button button-primary" type="submit" disabled=move || inbound.pending().get()>
                    {move || if inbound.pending().get() { "Calling…" } else { "Place inbound call" }}
                </button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="outbound-outcomes">
            <h2 id="outbound-outcomes">"How outbound calls end"</h2>
            {action_outcome(outcome_value, "Saved. New calls will end this way.")}
            <ActionForm action=outcome>
                <div class="form-row">
                    <Field label="Number (empty: every other number)" name="number" placeholder="+1 415 555 0100"
                        error=Signal::derive(field_error(outcome_value, "number"))/>
                    <div class="field">
                        <label for="field-outcome">"Outcome"</label>
                        <select id="field-outcome" name="outcome">
                            {CALL_OUTCOMES.iter().map(|(key, label)| view! { <option value=*key>{*label}</option> }).collect_view()}
                        </select>
                    </div>
                </div>
                <button class="button button-primary" type="submit">"Save outcome"</button>
            </ActionForm>
        </section>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match status.await {
                    Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                    Ok(None) => view! {
                        <section class="card">
                            <h2>"Sandbox mode is off"</h2>
                            <p class="muted">"This Dial talks to the real Twilio and LiveKit. Start it with "<code>"dial serve --sandbox"</code>" to try flows against simulated providers."</p>
                        </section>
                    }.into_any(),
                    Ok(Some(v)) => view! {
                        <section class="card" aria-labelledby="current-outcomes">
                            <h2 id="current-outcomes">"Current outcomes"</h2>
                            <dl class="facts">
                                <dt>"Every other number"</dt><dd data-testid="default-outcome">{outcome_label(&v.default_outcome)}</dd>
                                {v.outcomes.iter().map(|(n, o)| view! { <dt>{n.clone()}</dt><dd>{outcome_label(o)}</dd> }).collect_view()}
                            </dl>
                        </section>
                        <section class="card" aria-labelledby="fake-calls">
                            <h2 id="fake-calls">"Calls in the simulated LiveKit"</h2>
                            {if v.calls.is_empty() {
                                view! { <p class="muted">"No calls yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap"><table class="table">
                                        <thead><tr><th scope="col">"Direction"</th><th scope="col">"From"</th><th scope="col">"To"</th><th scope="col">"Room"</th><th scope="col">"Status"</th></tr></thead>
                                        <tbody>
                                            {v.calls.iter().map(|c| view! {
                                                <tr><td>{c.direction.clone()}</td><td>{c.from.clone()}</td><td>{c.to.clone()}</td><td><code>{c.room.clone()}</code></td><td>{c.status.clone()}</td></tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table></div>
                                }.into_any()
                            }}
                        </section>
                        <section class="card" aria-labelledby="fakes">
                            <h2 id="fakes">"The simulated providers"</h2>
                            <dl class="facts">
                                <dt>"Twilio API"</dt><dd><code>{v.twilio_url.clone()}</code></dd>
                                <dt>"Twilio account"</dt><dd><code>{v.twilio_account_sid.clone()}</code></dd>
                                <dt>"LiveKit"</dt><dd><code>{v.livekit_url.clone()}</code></dd>
                                <dt>"LiveKit API key"</dt><dd><code>{v.livekit_api_key.clone()}</code></dd>
                            </dl>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
