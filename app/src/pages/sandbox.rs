//! The sandbox page: simulate inbound calls and choose how outbound calls end — per number,
//! by a mix of outcomes, and how long answered calls last (sandbox mode, admins).

use crate::{
    components::{
        action_outcome, field_error, icons, successes, AdminOnly, ErrorBanner, Field, Loading,
        PageHeader,
    },
    error::AppError,
    functions::sandbox::{
        sandbox_status, SandboxAgentAnswers, SandboxInboundCall, SandboxSetCallLength,
        SandboxSetOutcome, SandboxSetOutcomeMix, SandboxTamper,
    },
    model::CALL_OUTCOMES,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

#[component]
pub fn SandboxPage() -> impl IntoView {
    view! {
        <Title text="Sandbox"/>
        <AdminOnly><SandboxControls/></AdminOnly>
    }
}

/// A form's result in words: its message, or what was wrong (the fields say which when
/// several are).
fn result_banner<S>(value: S, test_id: &'static str) -> impl IntoView
where
    S: Get<Value = Option<Result<String, AppError>>> + Copy + Send + Sync + 'static,
{
    move || {
        value.get().map(|result| match result {
            Ok(message) => view! { <div class="banner banner-success" role="status" data-testid=test_id>{icons::check()}<span>{message}</span></div> }.into_any(),
            Err(AppError::Invalid { errors }) if errors.len() > 1 => view! { <div class="banner banner-error" role="alert" data-testid=test_id>{icons::alert()}<span>"Please correct the fields marked below."</span></div> }.into_any(),
            Err(e) => view! { <div class="banner banner-error" role="alert" data-testid=test_id>{icons::alert()}<span>{e.to_string()}</span></div> }.into_any(),
        })
    }
}

/// The mix form's fields: the outcomes of `CALL_OUTCOMES`, in short.
const MIX_FIELDS: &[(&str, &str)] = &[
    ("answer", "Answered"),
    ("busy", "Busy"),
    ("no_answer", "No answer"),
    ("declined", "Declined"),
    ("trunk_auth_failure", "Trunk auth failed"),
];

/// "Answered 60 % · Busy 15 %".
fn mix_in_words(mix: &[(String, u8)]) -> String {
    mix.iter()
        .map(|(key, share)| {
            let label = MIX_FIELDS
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, label)| label.to_string())
                .unwrap_or_else(|| key.clone());
            format!("{label} {share} %")
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn call_length_in_words(length: Option<(u32, u32)>) -> String {
    match length {
        None => "Until the agent or Dial hangs up".to_string(),
        Some((shortest, longest)) if shortest == longest => {
            format!("{shortest} s, then the callee hangs up")
        }
        Some((shortest, longest)) => {
            format!("{shortest}–{longest} s, then the callee hangs up")
        }
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
    let answer = ServerAction::<SandboxAgentAnswers>::new();
    let mix = ServerAction::<SandboxSetOutcomeMix>::new();
    let length = ServerAction::<SandboxSetCallLength>::new();
    let tamper = ServerAction::<SandboxTamper>::new();
    let tamper_value = tamper.value();
    let placed = Memo::new(move |_| inbound.version().get());
    let answered = Memo::new(move |_| answer.version().get());
    let chosen = successes(outcome.value());
    let mixed = successes(mix.value());
    let lengthened = successes(length.value());
    let status = Resource::new(
        move || {
            (
                placed.get(),
                chosen.get(),
                answered.get(),
                mixed.get(),
                lengthened.get(),
            )
        },
        |_| sandbox_status(),
    );
    let mix_value = mix.value();
    let length_value = length.value();
    let answer_value = answer.value();
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
                <div class="field field-check">
                    <label class="check">
                        <input type="checkbox" name="hold" value="on"/>
                        <span>"Keep it ringing until the agent answers"</span>
                    </label>
                    <p class="hint">"LiveKit answers a caller only once the agent publishes audio. Ticked, the call rings until you press \u{201c}Agent answers\u{201d} below."</p>
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
        <section class="card" aria-labelledby="outcome-mix">
            <h2 id="outcome-mix">"Mix of outcomes"</h2>
            <p class="muted">"For campaigns: each call to a number without an outcome of its own draws one from these shares, so a long list ends as a real one would. A number's own outcome still wins; the mix wins over the outcome for every other number. Leave them all empty to stop mixing."</p>
            {result_banner(mix_value, "mix-result")}
            <ActionForm action=mix>
                <div class="form-row">
                    {MIX_FIELDS.iter().map(|(key, label)| view! {
                        <Field label=format!("{label} (%)") name=*key kind="number" placeholder="0"
                            error=Signal::derive(field_error(mix_value, key))/>
                    }).collect_view()}
                </div>
                <p class="hint">"Whole percentages that add up to 100, e.g. 60 answered, 15 busy, 20 no answer, 5 declined. Each ends as chosen for a single number above: busy is SIP 486, no answer SIP 480 after the ringing timeout, declined SIP 603, trunk auth failed SIP 407."</p>
                <button class="button button-primary" type="submit">"Save mix"</button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="call-length">
            <h2 id="call-length">"How long answered calls last"</h2>
            <p class="muted">"The callee hangs up after this long, as a person would (LiveKit reports it as the phone hanging up). Give one length, or a range to draw each call's from. Leave both empty and callees never hang up."</p>
            {result_banner(length_value, "length-result")}
            <ActionForm action=length>
                <div class="form-row">
                    <Field label="Shortest (seconds)" name="shortest" kind="number" placeholder="30"
                        error=Signal::derive(field_error(length_value, "shortest"))/>
                    <Field label="Longest (seconds, optional)" name="longest" kind="number" placeholder="90"
                        error=Signal::derive(field_error(length_value, "longest"))/>
                </div>
                <button class="button button-primary" type="submit">"Save call length"</button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="tamper" id="tamper-section">
            <h2 id="tamper">"Change a route behind Dial's back"</h2>
            <p class="muted">"Does what someone in LiveKit's console might: the number's dispatch rule starts dispatching another agent, while Dial's records stay as they were. The Drift page then finds the difference and repairs it."</p>
            {result_banner(tamper_value, "tamper-result")}
            <ActionForm action=tamper>
                <Field label="Number" name="number" placeholder="+1 415 555 0100" required=true id_prefix="tamper-"
                    error=Signal::derive(field_error(tamper_value, "number"))/>
                <button class="button button-secondary" type="submit">"Change its dispatch rule"</button>
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
                                {v.outcomes.iter().map(|(n, o)| view! { <dt>{n.clone()}</dt><dd>{outcome_label(o)}</dd> }).collect_view()}
                                {(!v.outcome_mix.is_empty()).then(|| view! {
                                    <dt>"Numbers without their own outcome"</dt><dd data-testid="outcome-mix">{mix_in_words(&v.outcome_mix)}</dd>
                                })}
                                <dt>"Every other number"</dt><dd data-testid="default-outcome">{outcome_label(&v.default_outcome)}{(!v.outcome_mix.is_empty()).then_some(" (not used while the mix is set)")}</dd>
                                <dt>"Answered calls last"</dt><dd data-testid="call-length">{call_length_in_words(v.call_length)}</dd>
                            </dl>
                        </section>
                        <section class="card" aria-labelledby="fake-calls">
                            <h2 id="fake-calls">"Calls in the simulated LiveKit"</h2>
                            {action_outcome(answer_value, "The agent answered.")}
                            {if v.calls.is_empty() {
                                view! { <p class="muted">"No calls yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap" tabindex="0" role="region" aria-label="Calls in the simulated LiveKit"><table class="table">
                                        <thead><tr><th scope="col">"Direction"</th><th scope="col">"From"</th><th scope="col">"To"</th><th scope="col">"Room"</th><th scope="col">"Status"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                                        <tbody>
                                            {v.calls.iter().map(|c| {
                                                let ringing = c.direction == "inbound" && c.status == "ringing";
                                                let room = c.room.clone();
                                                view! {
                                                    <tr data-room=c.room.clone()>
                                                        <td>{c.direction.clone()}</td><td>{c.from.clone()}</td><td>{c.to.clone()}</td><td><code>{c.room.clone()}</code></td><td data-testid="fake-call-status">{c.status.clone()}</td>
                                                        <td>{ringing.then(|| view! {
                                                            <ActionForm action=answer>
                                                                <input type="hidden" name="room" value=room.clone()/>
                                                                <button class="button button-secondary button-small" type="submit">"Agent answers"</button>
                                                            </ActionForm>
                                                        })}</td>
                                                    </tr>
                                                }
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
