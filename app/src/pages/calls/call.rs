//! One call's page: its facts, hang-up, transfer and refresh while it is on, and its
//! timeline.

use super::*;

/// A timeline entry's kind in words.
fn kind_words(kind: &str) -> String {
    let words = match kind {
        "call.requested" => "Call requested",
        "call.created" => "Call placed with LiveKit",
        "call.failed" => "Call failed",
        "call.answered" => "Answered (LiveKit sends no event for it; Dial saw the call active)",
        "call.hangup" => "Hung up from Dial",
        "browser.joined" => "The browser joined the call's room: Dial dials the phone now",
        "browser.failed" => "The browser could not join the call's room",
        "browser.listen" => "Joined from the browser",
        "browser.take_over" => "Taken over from the agent",
        "browser.left" => "The browser left the call: Dial ended it",
        "transfer.started" => "Transfer started",
        "transfer.succeeded" => "Transfer succeeded",
        "transfer.failed" => "Transfer failed",
        "reconcile.closed" => "Closed by reconcile (LiveKit no longer has the call)",
        "room_started" => "Room started",
        "room_finished" => "Room finished",
        "participant_joined" => "Participant joined",
        "participant_left" => "Participant left",
        "participant_connection_aborted" => "Participant connection aborted",
        "twilio.voice" => "Twilio asked how to route the call",
        other => {
            if let Some(status) = other.strip_prefix("twilio.") {
                return format!("Twilio: {}", status.replace('-', " "));
            }
            let spaced = other.replace(['_', '.'], " ");
            let mut chars = spaced.chars();
            return match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            };
        }
    };
    words.to_string()
}

/// The details worth showing from an event's JSON, in this order.
const DETAIL_KEYS: [&str; 23] = [
    "to",
    "from",
    "room",
    "sip_call_status",
    "disconnect_reason",
    "sip_call_id",
    "error",
    "sip_status",
    "sip_reason",
    "call",
    "transfer_status",
    "transfer_id",
    "reason",
    "by",
    "assistant",
    "decision",
    "CallStatus",
    "SipResponseCode",
    "CallDuration",
    "dtmf",
    "speaking",
    "identity",
    "agents",
];

fn event_details(detail: &serde_json::Value) -> Vec<(&'static str, String)> {
    let serde_json::Value::Object(map) = detail else {
        return Vec::new();
    };
    DETAIL_KEYS
        .iter()
        .filter_map(|key| {
            let text = match map.get(*key)? {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) if s.is_empty() => return None,
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((*key, text))
        })
        .collect()
}

/// The latest transfer's result, from the timeline (what a page without JavaScript shows
/// after the transfer form's post).
fn last_transfer(timeline: &[CallEventView]) -> Option<(bool, String)> {
    let event = timeline
        .iter()
        .rev()
        .find(|e| e.kind == "transfer.succeeded" || e.kind == "transfer.failed")?;
    let details = event_details(&event.detail);
    let get = |k: &str| {
        details
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.clone())
    };
    let to = get("to").unwrap_or_default();
    if event.kind == "transfer.succeeded" {
        Some((
            true,
            format!("Transferred to {to}: the call was handed over and Dial's part of it ended."),
        ))
    } else {
        let status = match (get("sip_status"), get("sip_reason")) {
            (Some(s), Some(r)) => format!(" (SIP {s} {r})"),
            (Some(s), None) => format!(" (SIP {s})"),
            _ => String::new(),
        };
        let error = get("error").unwrap_or_else(|| "no reason given".into());
        let call = get("call")
            .map(|c| format!(". The call is {c}."))
            .unwrap_or_default();
        Some((
            false,
            format!("Transfer to {to} failed: {error}{status}{call}"),
        ))
    }
}

#[component]
pub fn CallPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id")).unwrap_or_default();
    let hang_up = ServerAction::<HangUpCall>::new();
    let transfer = ServerAction::<TransferCall>::new();
    let refresh = ServerAction::<RefreshCall>::new();
    let acted =
        move || hang_up.version().get() + transfer.version().get() + refresh.version().get();
    let changes = use_call_changes();
    let tick = RwSignal::new(0u32);
    // Every resource of the page is created here, outside the Suspense that renders it.
    let call = Resource::new(
        move || (id(), acted(), tick.get(), changes.get()),
        |(id, _, _, _)| get_call(id),
    );
    // Set once the followed call is seen to end: the controls then go away.
    let ended = RwSignal::new(false);
    Effect::new(move |_| {
        let over = call
            .get()
            .and_then(Result::ok)
            .is_some_and(|d| !d.call.is_live());
        if over && !ended.get_untracked() {
            ended.set(true);
        }
    });
    // Set once the followed call is seen answered: transfer is offered from then on
    // (LiveKit transfers only an established call).
    let answered = RwSignal::new(false);
    Effect::new(move |_| {
        let up = call
            .get()
            .and_then(Result::ok)
            .is_some_and(|d| d.call.status >= crate::model::CallStatus::Answered);
        if up && !answered.get_untracked() {
            answered.set(true);
        }
    });
    // Whether the controls are shown: refetched only when an action completes or the call
    // is answered or ends, so a transfer target being typed is not cleared by a refetch.
    let live = Resource::new(
        move || (id(), acted(), ended.get(), answered.get()),
        |(id, _, _, _)| async move {
            get_call(id).await.map(|d| {
                (
                    d.call.is_live(),
                    d.transfer_block,
                    d.call.status >= crate::model::CallStatus::Answered,
                )
            })
        },
    );
    // The "Listen in" card's: whether the call is on, and whether a browser placed it;
    // refetched only when the call ends, so a card in use is never rendered again.
    let listen = Resource::new(
        move || (id(), ended.get()),
        |(id, _)| async move {
            get_call(id)
                .await
                .map(|d| (d.call.is_live(), d.call.placed_by.is_some()))
        },
    );
    // While the call is on: the change stream, and the slow poll as the fallback.
    poll_while(tick, move || !ended.get());
    let controls = CallControls {
        hang_up,
        transfer,
        refresh,
        live,
    };
    view! {
        <Title text="Call"/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match call.await {
                    Err(e) => {
                        not_found_status(&e);
                        view! {
                        <PageHeader title="Call"/>
                        <ErrorBanner message=e.to_string()/>
                        <a class="button button-secondary" href="/dashboard/calls">"Back to calls"</a>
                    }.into_any()
                    }
                    Ok(detail) => view! { <CallSummary detail/> }.into_any(),
                }
            })}
        </Transition>
        <ControlsCard id=Signal::derive(id) controls/>
        <browser_call::ListenCard id=Signal::derive(id) live=listen/>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                call.await.ok().map(|detail| view! { <Timeline events=detail.timeline/> })
            })}
        </Transition>
    }
}

/// Another's call, or none: the page answers 404, as the server function does.
fn not_found_status(error: &AppError) {
    #[cfg(feature = "ssr")]
    if matches!(error, AppError::NotFound { .. }) {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = error;
}

/// What the controls show: (the call is on, why a transfer would be refused, answered).
type LiveControls = (bool, Option<TransferBlock>, bool);

#[derive(Clone, Copy)]
struct CallControls {
    hang_up: ServerAction<HangUpCall>,
    transfer: ServerAction<TransferCall>,
    refresh: ServerAction<RefreshCall>,
    /// Whether the call is on, why the carrier would refuse a transfer, and whether it
    /// was answered.
    live: Resource<Result<LiveControls, AppError>>,
}

/// The header and the facts of the call.
#[component]
fn CallSummary(detail: CallDetail) -> impl IntoView {
    let call = detail.call;
    let transfer = last_transfer(&detail.timeline);
    let our_number = if call.direction == Direction::Inbound {
        call.to.clone()
    } else {
        call.from.clone()
    };
    let number = match call.number_id.clone() {
        Some(id) => view! { <a href=format!("/dashboard/phone-numbers/{id}")>{format_e164(&our_number)}</a> }.into_any(),
        None => view! { <span class="muted">"Not one of Dial's numbers"</span> }.into_any(),
    };
    let assistant = match (call.assistant_id.clone(), call.assistant.clone()) {
        (Some(id), Some(name)) => {
            view! { <a href=format!("/dashboard/assistants/{id}")>{name}</a> }.into_any()
        }
        _ => view! { <span class="muted">"None"</span> }.into_any(),
    };
    let code = |v: Option<String>| match v {
        Some(v) => view! { <code>{v}</code> }.into_any(),
        None => view! { <span class="muted">"—"</span> }.into_any(),
    };
    let time = |t: Option<i64>| t.map(time_with_seconds).unwrap_or_else(|| "—".into());
    let (title, header_badge, facts_badge) = (
        call_title(&call),
        call_status_badge(call.status),
        call_status_badge(call.status),
    );
    let subtitle = format!(
        "{} call{} · started {}",
        if call.direction == Direction::Inbound {
            "Inbound"
        } else {
            "Outbound"
        },
        if call.test {
            " placed by Test inbound route (not counted in the figures)"
        } else {
            ""
        },
        time_with_seconds(call.created_at)
    );
    let refresh_href = format!("/dashboard/calls/{}", call.id);
    view! {
        <PageHeader title subtitle>
            {header_badge}
            <a class="button button-secondary" href=refresh_href>"Refresh"</a>
            <a class="button button-secondary" href="/dashboard/calls">"Back to calls"</a>
        </PageHeader>
        <section class="card" aria-label="Call facts">
            <dl class="facts" data-testid="call-facts">
                <dt>"Direction"</dt><dd>{direction_badge(call.direction)}</dd>
                <dt>"From"</dt><dd>{format_e164(&call.from)}</dd>
                <dt>"To"</dt><dd>{format_e164(&call.to)}</dd>
                <dt>"Number"</dt><dd>{number}</dd>
                <dt>"Assistant"</dt><dd>{assistant}</dd>
                {call.placed_by.clone().map(|who| view! {
                    <dt>"Placed by"</dt><dd data-testid="call-placed-by">{format!("{who}, from the browser")}</dd>
                })}
                <dt>"Status"</dt><dd data-testid="call-status">{facts_badge}</dd>
                <dt>"Outcome"</dt><dd data-testid="call-outcome">{call.outcome_words()}{call.ended_by().map(|r| view! { <span class="muted">{format!(" · {r}")}</span> })}</dd>
                {transfer.map(|(ok, text)| view! {
                    <dt>"Last transfer"</dt>
                    <dd data-testid="last-transfer" class=if ok { "transfer-ok" } else { "transfer-failed" }>{text}</dd>
                })}
                <dt>"Started"</dt><dd>{time_with_seconds(call.created_at)}</dd>
                <dt>"Answered"</dt><dd>{time(call.answered_at)}</dd>
                <dt>"Ended"</dt><dd>{time(call.ended_at)}</dd>
                <dt>"Duration"</dt><dd data-testid="call-duration"><LiveDuration answered_at=call.answered_at ended_at=call.ended_at/></dd>
                <dt>"Call IDs"</dt>
                <dd class="call-ids">
                    <span><span class="muted">"LiveKit "</span>{code(call.sip_call_id.clone())}</span>
                    <span><span class="muted">"Twilio CallSid "</span>{code(call.twilio_call_sid.clone())}</span>
                </dd>
                <dt>"Room"</dt><dd>{code(call.room.clone())}</dd>
            </dl>
        </section>
    }
}

fn transfer_outcome(value: Option<Result<TransferResult, AppError>>) -> Option<AnyView> {
    Some(match value? {
        Ok(t) if t.ok => view! { <SuccessBanner message=t.message/> }.into_any(),
        Ok(t) => {
            let status = t
                .sip_status_code
                .map(|c| format!(" (SIP {c})"))
                .filter(|s| !t.message.contains(s.trim()))
                .unwrap_or_default();
            view! { <ErrorBanner message=format!("{}{status}", t.message)/> }.into_any()
        }
        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
    })
}

/// Hang up, transfer and refresh, while the call is on.
#[component]
fn ControlsCard(id: Signal<String>, controls: CallControls) -> impl IntoView {
    let CallControls {
        hang_up,
        transfer,
        refresh,
        live,
    } = controls;
    let transfer_value = transfer.value();
    let outcomes = view! {
        {move || transfer_outcome(transfer_value.get())}
        {action_outcome(hang_up.value(), "Hung up.")}
        {action_outcome(refresh.value(), "Status refreshed from LiveKit.")}
    };
    view! {
        <div class="call-outcomes">{outcomes}</div>
        <Suspense fallback=|| ()>
            {
                move || {
                    Suspend::new(async move {
                        let (on, block, up) = live.await.unwrap_or((false, None, false));
                        let id = id.get_untracked();
                        let (transfer_id, refresh_id, hang_up_id) = (id.clone(), id.clone(), id);
                        // A trunk that refuses every transfer: say why instead of a form
                        // whose transfer would fail at the phone.
                        let blocked = block.as_ref().is_some_and(|b| !b.sip_only());
                        let notice = block.map(|b| {
                            let fix = b.can_enable.then(|| {
                                let href = format!("/dashboard/phone-numbers/{}#transfers", b.number_id);
                                view! { " " <a href=href>"Turn on transfers for the number"</a> }
                            });
                            view! {
                                <div class="banner banner-warning" role="status" data-testid="transfer-unavailable">
                                    <span>
                                        <strong>{if b.sip_only() { "Transfers to phone numbers are unavailable. " } else { "Transfer is unavailable. " }}</strong>
                                        {b.message.clone()}
                                        {fix}
                                    </span>
                                </div>
                            }
                        });
                        on.then(|| view! {
                            <section class="card" aria-labelledby="controls-title" data-testid="call-controls">
                                <h2 id="controls-title">"Control the call"</h2>
                                {notice}
                                {(!blocked && !up).then(|| view! {
                                    <p class="muted small" data-testid="transfer-after-answer">"Transfer is offered once the call is answered."</p>
                                })}
                                {(!blocked && up).then(|| view! {
                                <ActionForm action=transfer attr:class="inline-form transfer-form">
                                    <input type="hidden" name="id" value=transfer_id/>
                                    <Field label="Transfer to" name="transfer_to" required=true autocomplete="off"
                                        placeholder="tel:+14155550100 or sip:desk@example.com"
                                        error=Signal::derive(field_error(transfer_value, "transfer_to"))/>
                                    <button class="button button-primary" type="submit" disabled=move || transfer.pending().get()>
                                        {move || if transfer.pending().get() { "Transferring…" } else { "Transfer" }}
                                    </button>
                                </ActionForm>
                                })}
                                <div class="actions-row">
                                    <ActionForm action=refresh attr:class="inline-form">
                                        <input type="hidden" name="id" value=refresh_id/>
                                        <button class="button button-secondary" type="submit" disabled=move || refresh.pending().get()>"Refresh status"</button>
                                    </ActionForm>
                                    <details class="confirm">
                                        <summary class="button button-danger-outline">"Hang up…"</summary>
                                        <ActionForm action=hang_up>
                                            <input type="hidden" name="id" value=hang_up_id/>
                                            <p>"Hang up this call? The person on the phone is disconnected."</p>
                                            <button class="button button-danger" type="submit" disabled=move || hang_up.pending().get()>"Hang up now"</button>
                                        </ActionForm>
                                    </details>
                                </div>
                            </section>
                        })
                    })
                }
            }
        </Suspense>
    }
}

/// The call's events, oldest first.
#[component]
fn Timeline(events: Vec<CallEventView>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="timeline-title">
            <h2 id="timeline-title">"Timeline"</h2>
            {if events.is_empty() {
                view! { <p class="muted">"Nothing has happened on this call yet."</p> }.into_any()
            } else {
                view! {
                    <ol class="timeline" data-testid="timeline">
                        {events.into_iter().map(|e| {
                            let details = event_details(&e.detail);
                            let source = e.source.clone();
                            view! {
                                <li class=format!("timeline-item timeline-{source}") data-kind=e.kind.clone()>
                                    <time class="timeline-time" title=time_with_seconds(e.at)>{clock(e.at)}</time>
                                    <div class="timeline-body">
                                        <div class="timeline-title">
                                            <span class=format!("badge badge-source source-{source}")>{source.clone()}</span>
                                            <strong>{kind_words(&e.kind)}</strong>
                                            <code class="small">{e.kind.clone()}</code>
                                        </div>
                                        {(!details.is_empty()).then(|| view! {
                                            <p class="timeline-detail">
                                                {details.into_iter().map(|(k, v)| view! {
                                                    <span class="kv"><span class="muted">{k}</span>" "<span>{v}</span></span>
                                                }).collect_view()}
                                            </p>
                                        })}
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(duration_words(0), "0:00");
        assert_eq!(duration_words(65), "1:05");
        assert_eq!(duration_words(3_725), "1:02:05");
        assert_eq!(duration_words(-3), "0:00");
    }

    #[test]
    fn event_details_pick_the_known_keys_in_order() {
        let d = event_details(&serde_json::json!(
            {"sip_status": 486, "to": "tel:+14155550199", "error": "busy", "x": 1, "by": null}
        ));
        assert_eq!(
            d,
            vec![
                ("to", "tel:+14155550199".to_string()),
                ("error", "busy".to_string()),
                ("sip_status", "486".to_string()),
            ]
        );
        assert!(event_details(&serde_json::json!("not an object")).is_empty());
    }

    #[test]
    fn kinds_read_as_words() {
        assert_eq!(kind_words("transfer.succeeded"), "Transfer succeeded");
        assert_eq!(kind_words("twilio.in-progress"), "Twilio: in progress");
        assert_eq!(kind_words("track_published"), "Track published");
    }

    #[test]
    fn the_last_transfer_is_read_from_the_timeline() {
        let event = |kind: &str, detail: &str| {
            CallEventView::from_stored("dial".into(), kind.into(), detail, 0)
        };
        let timeline = vec![
            event("transfer.succeeded", r#"{"to":"tel:+1"}"#),
            event(
                "transfer.failed",
                r#"{"to":"sip:a@b","error":"busy","sip_status":486}"#,
            ),
        ];
        assert_eq!(
            last_transfer(&timeline),
            Some((
                false,
                "Transfer to sip:a@b failed: busy (SIP 486)".to_string()
            ))
        );
        assert_eq!(last_transfer(&timeline[..1]).map(|t| t.0), Some(true));
        assert_eq!(last_transfer(&[]), None);
        let refused = [event(
            "transfer.failed",
            r#"{"to":"tel:+1","error":"the transfer was refused","sip_status":403,"sip_reason":"Forbidden","call":"still connected"}"#,
        )];
        assert_eq!(
            last_transfer(&refused).map(|t| t.1),
            Some(
                "Transfer to tel:+1 failed: the transfer was refused (SIP 403 Forbidden). The call is still connected."
                    .to_string()
            )
        );
    }
}
