//! Sandbox controls: simulate an inbound call, choose how outbound calls end (per number,
//! by a mix of outcomes, and how long answered calls last). Admins only, and only in
//! sandbox mode.

use crate::{error::AppError, model::SandboxView};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
fn sandbox() -> Result<
    (
        crate::server::state::AppState,
        crate::server::sandbox::Sandbox,
    ),
    AppError,
> {
    let state = crate::server::auth::state()?;
    let sandbox = state.sandbox().cloned().ok_or_else(|| {
        AppError::conflict(
            "Dial is not running in sandbox mode (start it with `dial serve --sandbox`).",
        )
    })?;
    Ok((state, sandbox))
}

#[server(prefix = "/api", endpoint = "sandbox")]
pub async fn sandbox_status() -> Result<Option<SandboxView>, AppError> {
    crate::server::auth::require_admin()?;
    let state = crate::server::auth::state()?;
    Ok(state.sandbox().map(crate::server::sandbox::ui::view))
}

#[server(prefix = "/api", endpoint = "sandbox/inbound-call")]
pub async fn sandbox_inbound_call(
    to: String,
    from: String,
    hold: Option<String>,
) -> Result<String, AppError> {
    let me = crate::server::auth::require_admin()?;
    let (state, sandbox) = sandbox()?;
    crate::server::sandbox::ui::inbound_call(
        &state,
        &sandbox,
        &crate::server::auth::actor(&me),
        &to,
        &from,
        matches!(hold.as_deref(), Some("on" | "true" | "1")),
    )
    .await
}

/// "Agent answers": the ringing call in `room` is answered by its agent.
#[server(prefix = "/api", endpoint = "sandbox/agent-answers")]
pub async fn sandbox_agent_answers(room: String) -> Result<String, AppError> {
    let me = crate::server::auth::require_admin()?;
    let (state, sandbox) = sandbox()?;
    crate::server::sandbox::ui::agent_answers(
        &state,
        &sandbox,
        &crate::server::auth::actor(&me),
        &room,
    )
    .await
}

#[server(prefix = "/api", endpoint = "sandbox/outcome")]
pub async fn sandbox_set_outcome(number: Option<String>, outcome: String) -> Result<(), AppError> {
    let me = crate::server::auth::require_admin()?;
    let (state, sandbox) = sandbox()?;
    crate::server::sandbox::ui::set_outcome(
        &state,
        &sandbox,
        &crate::server::auth::actor(&me),
        number.as_deref(),
        &outcome,
    )
    .await
}

/// The callees' outcome mix: whole percentages that add up to 100; all empty stops mixing.
#[server(prefix = "/api", endpoint = "sandbox/outcome-mix")]
pub async fn sandbox_set_outcome_mix(
    answer: Option<String>,
    busy: Option<String>,
    no_answer: Option<String>,
    declined: Option<String>,
    trunk_auth_failure: Option<String>,
) -> Result<String, AppError> {
    let me = crate::server::auth::require_admin()?;
    let (state, sandbox) = sandbox()?;
    crate::server::sandbox::ui::set_outcome_mix(
        &state,
        &sandbox,
        &crate::server::auth::actor(&me),
        &crate::server::sandbox::ui::MixForm {
            answer: answer.as_deref(),
            busy: busy.as_deref(),
            no_answer: no_answer.as_deref(),
            declined: declined.as_deref(),
            trunk_auth_failure: trunk_auth_failure.as_deref(),
        },
    )
    .await
}

/// How long answered calls last before the callee hangs up (seconds; both empty: never).
#[server(prefix = "/api", endpoint = "sandbox/call-length")]
pub async fn sandbox_set_call_length(
    shortest: Option<String>,
    longest: Option<String>,
) -> Result<String, AppError> {
    let me = crate::server::auth::require_admin()?;
    let (state, sandbox) = sandbox()?;
    crate::server::sandbox::ui::set_call_length(
        &state,
        &sandbox,
        &crate::server::auth::actor(&me),
        shortest.as_deref(),
        longest.as_deref(),
    )
    .await
}

/// "Change its dispatch rule": what someone in LiveKit's console might do to a number's
/// route, so that drift detection has something to find in the sandbox.
#[server(prefix = "/api", endpoint = "sandbox/tamper")]
pub async fn sandbox_tamper(number: String) -> Result<String, AppError> {
    let me = crate::server::auth::require_admin()?;
    let (state, _) = sandbox()?;
    crate::server::sandbox::ui::tamper(&state, &crate::server::auth::actor(&me), &number).await
}
