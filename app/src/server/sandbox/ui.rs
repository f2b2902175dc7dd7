//! What the sandbox page does, as plain functions over the running fakes.

use crate::server::{
    audit::{self, Actor},
    sandbox::Sandbox,
    state::AppState,
};
use crate::{
    error::{AppError, FieldError},
    model::{SandboxCallRow, SandboxView},
    phone::E164,
};
use dial_fakes::livekit::{CallLength, CallOutcome, OutcomeMix};
use std::time::Duration;

/// Twilio's signalling address the simulated carrier calls come from.
pub const CARRIER_ADDRESS: &str = "54.172.60.1";

fn outcome_name(o: CallOutcome) -> &'static str {
    match o {
        CallOutcome::Answer => "answer",
        CallOutcome::Busy => "busy",
        CallOutcome::NoAnswer => "no_answer",
        CallOutcome::Declined => "declined",
        CallOutcome::TrunkAuthFailure => "trunk_auth_failure",
    }
}

/// An outcome in a sentence: "60 % busy".
fn outcome_words(o: CallOutcome) -> &'static str {
    match o {
        CallOutcome::Answer => "answered",
        CallOutcome::Busy => "busy",
        CallOutcome::NoAnswer => "no answer",
        CallOutcome::Declined => "declined",
        CallOutcome::TrunkAuthFailure => "trunk authentication failed",
    }
}

fn parse_outcome(s: &str) -> Option<CallOutcome> {
    Some(match s {
        "answer" => CallOutcome::Answer,
        "busy" => CallOutcome::Busy,
        "no_answer" => CallOutcome::NoAnswer,
        "declined" => CallOutcome::Declined,
        "trunk_auth_failure" => CallOutcome::TrunkAuthFailure,
        _ => return None,
    })
}

pub fn view(sandbox: &Sandbox) -> SandboxView {
    let (default, outcomes) = sandbox.livekit.outcomes();
    let mut calls: Vec<SandboxCallRow> = sandbox
        .livekit
        .calls()
        .into_iter()
        .map(|c| SandboxCallRow {
            call_id: c.call_id,
            direction: c.direction.to_string(),
            from: c.from,
            to: c.to,
            room: c.room,
            status: c.status,
        })
        .collect();
    calls.reverse();
    calls.truncate(20);
    SandboxView {
        twilio_url: sandbox.twilio_url.clone(),
        livekit_url: sandbox.livekit_url.clone(),
        twilio_account_sid: sandbox.credentials.twilio_account_sid.clone(),
        livekit_api_key: sandbox.credentials.livekit_api_key.clone(),
        default_outcome: outcome_name(default).to_string(),
        outcomes: outcomes
            .into_iter()
            .map(|(n, o)| (n, outcome_name(o).to_string()))
            .collect(),
        outcome_mix: sandbox
            .livekit
            .outcome_mix()
            .map(|mix| {
                mix.shares()
                    .iter()
                    .map(|(o, share)| (outcome_name(*o).to_string(), *share))
                    .collect()
            })
            .unwrap_or_default(),
        call_length: sandbox
            .livekit
            .call_length()
            .map(|l| (l.shortest().as_secs() as u32, l.longest().as_secs() as u32)),
        calls,
    }
}

/// Simulates a carrier call and says, in words, what LiveKit did with it.
pub async fn inbound_call(
    state: &AppState,
    sandbox: &Sandbox,
    actor: &Actor,
    to: &str,
    from: &str,
    hold: bool,
) -> Result<String, AppError> {
    let mut errors = Vec::new();
    let mut number = |field: &str, text: &str| {
        E164::parse(text, None)
            .map(String::from)
            .map_err(|message| errors.push(FieldError::new(field, message)))
            .ok()
    };
    let to = number("to", to);
    let from = number("from", from);
    let (Some(to), Some(from)) = (to, from) else {
        return Err(AppError::Invalid { errors });
    };
    let source = CARRIER_ADDRESS.parse().map_err(|_| AppError::Internal)?;
    // Held: the call rings until "Agent answers" is pressed; otherwise its agent answers
    // at once, as a running agent would.
    let answers_after = (!hold).then(|| std::time::Duration::from_millis(150));
    let outcome = sandbox.livekit.simulate_inbound_answered_after(
        &to,
        &from,
        source,
        None,
        None,
        answers_after,
    );
    let message = match &outcome {
        Ok(routed) => {
            let agents: Vec<&str> = routed
                .agents
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            format!(
                "LiveKit routed the call to room {} (trunk {}, rule {}){}.{}",
                routed.room,
                routed.trunk_id,
                routed.rule_id,
                if agents.is_empty() {
                    String::new()
                } else {
                    format!(" and dispatched agent {}", agents.join(", "))
                },
                if hold {
                    " It rings until you press \u{201c}Agent answers\u{201d}."
                } else {
                    ""
                }
            )
        }
        Err(rejected) => format!("LiveKit refused the call: {rejected}."),
    };
    audit::record(
        &state.db,
        actor,
        "sandbox.inbound_call",
        Some(&to),
        Some(&message),
    )
    .await?;
    match outcome {
        Ok(_) => Ok(message),
        Err(_) => Err(AppError::Upstream {
            provider: "LiveKit (sandbox)".into(),
            code: None,
            message: message.trim_start_matches("LiveKit ").to_string(),
        }),
    }
}

/// "Agent answers": the agent of the ringing call in `room` joins and publishes audio, and
/// the simulated LiveKit answers the caller (as LiveKit's SIP bridge does).
pub async fn agent_answers(
    state: &AppState,
    sandbox: &Sandbox,
    actor: &Actor,
    room: &str,
) -> Result<String, AppError> {
    if !sandbox.livekit.agent_answers(room) {
        return Err(AppError::conflict(
            "No call is ringing in that room any more: it was answered or has ended.",
        ));
    }
    audit::record(&state.db, actor, "sandbox.agent_answered", Some(room), None).await?;
    Ok(format!("The agent answered the call in room {room}."))
}

pub async fn set_outcome(
    state: &AppState,
    sandbox: &Sandbox,
    actor: &Actor,
    number: Option<&str>,
    outcome: &str,
) -> Result<(), AppError> {
    let parsed = parse_outcome(outcome).ok_or_else(|| AppError::Invalid {
        errors: vec![FieldError::new("outcome", "Choose how the call ends: answered, busy, no answer, declined or trunk authentication failed.")],
    })?;
    match number.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => {
            let n = String::from(
                E164::parse(n, None).map_err(|message| AppError::invalid("number", message))?,
            );
            sandbox.livekit.set_outcome(&n, parsed);
            audit::record(
                &state.db,
                actor,
                "sandbox.outcome_set",
                Some(&n),
                Some(outcome),
            )
            .await
        }
        None => {
            sandbox.livekit.set_default_outcome(parsed);
            audit::record(
                &state.db,
                actor,
                "sandbox.outcome_set",
                Some("all other numbers"),
                Some(outcome),
            )
            .await
        }
    }
}

/// The seed of the sandbox's outcome mix: the same calls draw the same outcomes after a
/// restart.
const MIX_SEED: u64 = 14;

/// The shares of a mix as the sandbox form sends them (percent, empty for 0), in the
/// order of `model::CALL_OUTCOMES`.
pub struct MixForm<'a> {
    pub answer: Option<&'a str>,
    pub busy: Option<&'a str>,
    pub no_answer: Option<&'a str>,
    pub declined: Option<&'a str>,
    pub trunk_auth_failure: Option<&'a str>,
}

/// Sets the callees' outcome mix; all shares empty stops mixing. The shares are whole
/// percentages that must add up to 100 (the error names the field `mix`).
pub async fn set_outcome_mix(
    state: &AppState,
    sandbox: &Sandbox,
    actor: &Actor,
    form: &MixForm<'_>,
) -> Result<String, AppError> {
    let fields = [
        ("answer", CallOutcome::Answer, form.answer),
        ("busy", CallOutcome::Busy, form.busy),
        ("no_answer", CallOutcome::NoAnswer, form.no_answer),
        ("declined", CallOutcome::Declined, form.declined),
        (
            "trunk_auth_failure",
            CallOutcome::TrunkAuthFailure,
            form.trunk_auth_failure,
        ),
    ];
    let mut errors = Vec::new();
    let mut shares = Vec::new();
    for (field, outcome, text) in fields {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            continue;
        };
        match text.trim_end_matches('%').trim().parse::<u8>() {
            Ok(share) if share <= 100 => shares.push((outcome, share)),
            _ => errors.push(FieldError::new(
                field,
                format!("“{text}” is not a share: enter a whole percentage from 0 to 100, or leave it empty for 0."),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid { errors });
    }
    let (mix, detail) = if shares.is_empty() {
        (None, "no mix".to_string())
    } else {
        let total: u32 = shares.iter().map(|(_, share)| u32::from(*share)).sum();
        if total != 100 {
            return Err(AppError::invalid(
                "mix",
                format!("The shares add up to {total} %; they must add up to 100 % (or leave them all empty to stop mixing)."),
            ));
        }
        let mix = OutcomeMix::new(&shares, MIX_SEED)
            .map_err(|e| AppError::invalid("mix", format!("This mix cannot be used: {e}.")))?;
        let detail = mix
            .shares()
            .iter()
            .map(|(o, share)| format!("{} {share} %", outcome_name(*o)))
            .collect::<Vec<_>>()
            .join(", ");
        (Some(mix), detail)
    };
    let in_words = mix
        .iter()
        .flat_map(|m| m.shares())
        .map(|(o, share)| format!("{share} % {}", outcome_words(*o)))
        .collect::<Vec<_>>()
        .join(", ");
    let message = match &mix {
        Some(_) => format!("Saved. Callees without an outcome of their own now answer by the mix: {in_words}."),
        None => "Saved. Calls are no longer mixed: callees without an outcome of their own answer by the outcome for every other number.".to_string(),
    };
    sandbox.livekit.set_outcome_mix(mix);
    audit::record(
        &state.db,
        actor,
        "sandbox.outcome_mix_set",
        Some("all other numbers"),
        Some(&detail),
    )
    .await?;
    Ok(message)
}

/// Sets how long answered calls last before the callee hangs up: `shortest` seconds, or
/// from `shortest` to `longest`; both empty: the callee never hangs up.
pub async fn set_call_length(
    state: &AppState,
    sandbox: &Sandbox,
    actor: &Actor,
    shortest: Option<&str>,
    longest: Option<&str>,
) -> Result<String, AppError> {
    let longest_secs = dial_fakes::livekit::LONGEST_CALL.as_secs();
    let seconds = |field: &str, text: Option<&str>| -> Result<Option<u64>, FieldError> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if (1..=longest_secs).contains(&n) => Ok(Some(n)),
            _ => Err(FieldError::new(
                field,
                format!("“{text}” is not a length: enter whole seconds from 1 to {longest_secs} (a day)."),
            )),
        }
    };
    let (from, to) = match (seconds("shortest", shortest), seconds("longest", longest)) {
        (Ok(from), Ok(to)) => (from, to),
        (a, b) => {
            return Err(AppError::Invalid {
                errors: [a.err(), b.err()].into_iter().flatten().collect(),
            })
        }
    };
    let length = match (from, to) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(AppError::invalid(
                "shortest",
                "Enter how long the shortest call lasts, or leave both empty.",
            ))
        }
        (Some(from), to) => {
            let to = to.unwrap_or(from);
            if to < from {
                return Err(AppError::invalid(
                    "longest",
                    format!(
                        "The longest call ({to} s) cannot be shorter than the shortest ({from} s)."
                    ),
                ));
            }
            Some(
                CallLength::between(Duration::from_secs(from), Duration::from_secs(to))
                    .map_err(|e| AppError::invalid("longest", e.to_string()))?,
            )
        }
    };
    let detail = match length {
        None => "the callee never hangs up".to_string(),
        Some(l) if l.shortest() == l.longest() => format!("{} s", l.shortest().as_secs()),
        Some(l) => format!("{}–{} s", l.shortest().as_secs(), l.longest().as_secs()),
    };
    sandbox.livekit.set_call_length(length);
    audit::record(
        &state.db,
        actor,
        "sandbox.call_length_set",
        None,
        Some(&detail),
    )
    .await?;
    Ok(match length {
        Some(_) => format!("Saved. Answered calls now last {detail}, then the callee hangs up."),
        None => "Saved. Callees no longer hang up: answered calls last until the agent or Dial ends them.".to_string(),
    })
}

/// The agent a tampered dispatch rule dispatches instead of the assistant's.
pub const TAMPERED_AGENT: &str = "someone-elses-agent";

/// Changes the number's dispatch rule in the (simulated) LiveKit through LiveKit's own
/// API, as someone in LiveKit's console would: it now dispatches [`TAMPERED_AGENT`].
/// Dial's records stay as they were, so a drift scan finds the difference.
pub async fn tamper(state: &AppState, actor: &Actor, number: &str) -> Result<String, AppError> {
    let e164 = E164::parse(number.trim(), None).map_err(|m| AppError::invalid("number", m))?;
    let rule_id: Option<Option<String>> = sqlx::query_scalar(
        "SELECT dispatch_rule_id FROM phone_numbers WHERE e164 = $1 AND released_at IS NULL",
    )
    .bind(e164.as_str())
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(rule_id) = rule_id.flatten() else {
        return Err(AppError::invalid(
            "number",
            format!(
                "{} has no dispatch rule: assign it to an assistant first.",
                e164.formatted()
            ),
        ));
    };
    let lk = crate::server::livekit::settings::client(state)?;
    let rules = lk.list_dispatch_rules().await.map_err(AppError::from)?;
    let Some(mut rule) = rules
        .into_iter()
        .find(|r| r.sip_dispatch_rule_id == rule_id)
    else {
        return Err(AppError::conflict(format!(
            "The dispatch rule {rule_id} is already gone from LiveKit: scan for drift to see it."
        )));
    };
    match rule.room_config.as_mut().and_then(|c| c.agents.first_mut()) {
        Some(agent) => agent.agent_name = TAMPERED_AGENT.to_string(),
        None => {
            return Err(AppError::conflict(
                "The dispatch rule dispatches no agent to change.",
            ))
        }
    }
    lk.replace_dispatch_rule(&rule_id, rule)
        .await
        .map_err(AppError::from)?;
    audit::record(
        &state.db,
        actor,
        "sandbox.route_tampered",
        Some(e164.as_str()),
        Some(&rule_id),
    )
    .await?;
    Ok(format!(
        "The dispatch rule for {} now dispatches agent {TAMPERED_AGENT}, as if changed in LiveKit's console. Drift detection will find it.",
        e164.formatted()
    ))
}
