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
use dial_fakes::livekit::CallOutcome;

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
