//! The sandbox page: simulate inbound calls and choose how outbound calls end (sandbox mode, admins).

use crate::{
    components::{
        action_outcome, field_error, icons, successes, AdminOnly, ErrorBanner, Field, Loading,
        PageHeader,
    },
    functions::sandbox::{
        sandbox_status, SandboxAgentAnswers, SandboxInboundCall, SandboxSetOutcome,
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
    let placed = Memo::new(move |_| inbound.version().get());
    let answered = Memo::new(move |_| answer.version().get());
    let chosen = successes(outcome.value());
    let status = Resource::new(
        move || (placed.get(), chosen.get(), answered.get()),
        |_| sandbox_status(),
    );
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
                            {action_outcome(answer_value, "The agent answered.")}
                            {if v.calls.is_empty() {
                                view! { <p class="muted">"No calls yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap"><table class="table">
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
