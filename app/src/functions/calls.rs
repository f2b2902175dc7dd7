//! Calls: the list and one call's timeline, placing a call, and transfer / hang-up.

use crate::{
    error::AppError,
    model::{
        AssistantOption, BrowserCallSetup, BrowserJoin, CallDetail, CallForm, CallQuery, CallRow,
        Page, TransferResult,
    },
};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "calls/list")]
pub async fn list_calls(#[server(flatten)] query: CallQuery) -> Result<Page<CallRow>, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::list(&auth::state()?, &me, &query).await
}

#[server(prefix = "/api", endpoint = "calls/get")]
pub async fn get_call(id: String) -> Result<CallDetail, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::detail(&auth::state()?, &me, &id).await
}

/// The numbers the user may call from: `name` is the number and its assistant.
#[server(prefix = "/api", endpoint = "calls/numbers")]
pub async fn callable_numbers() -> Result<Vec<AssistantOption>, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::callable_numbers(&auth::state()?, &me).await
}

/// The numbers the calls list can be filtered by: `name` is the number, "(released)"
/// when it is.
#[server(prefix = "/api", endpoint = "calls/filter-numbers")]
pub async fn filter_numbers(selected: Option<String>) -> Result<Vec<AssistantOption>, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::numbers_with_calls(&auth::state()?, &me, selected.as_deref()).await
}

/// Places a call; without JavaScript the form post lands on the call's page.
#[server(prefix = "/api", endpoint = "calls/place")]
pub async fn place_call(#[server(flatten)] form: CallForm) -> Result<CallRow, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    let on = |v: &Option<String>| matches!(v.as_deref(), Some("on" | "true" | "1"));
    let input = calls::CallInput {
        play_dialtone: on(&form.play_dialtone),
        wait_until_answered: on(&form.wait_until_answered),
        number_id: form.number_id,
        to: form.to,
        assistant_id: form.assistant_id,
        dtmf: form.dtmf,
        ringing_timeout_secs: form.ringing_timeout,
        max_duration_secs: form.max_duration,
        display_name: form.display_name,
    };
    let request = calls::CallRequest::parse(&input)?;
    // The call goes on in the background; its page follows it live.
    let call = calls::place(&auth::state()?, &me, &auth::actor(&me), request, false).await?;
    leptos_axum::redirect(&format!("/dashboard/calls/{}", call.id));
    Ok(call)
}

#[server(prefix = "/api", endpoint = "calls/hangup")]
pub async fn hang_up_call(id: String) -> Result<CallRow, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::hang_up(&auth::state()?, &me, &auth::actor(&me), &id).await
}

#[server(prefix = "/api", endpoint = "calls/transfer")]
pub async fn transfer_call(id: String, transfer_to: String) -> Result<TransferResult, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    let target = calls::parse_transfer_target(&transfer_to, "transfer_to")?;
    calls::transfer(&auth::state()?, &me, &auth::actor(&me), &id, &target).await
}

/// The call's live status, asked of LiveKit.
#[server(prefix = "/api", endpoint = "calls/refresh")]
pub async fn refresh_call(id: String) -> Result<CallRow, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::refresh(&auth::state()?, &me, &id).await
}

/// Closes calls LiveKit no longer has (admins; it also runs every minute).
#[server(prefix = "/api", endpoint = "calls/reconcile")]
pub async fn reconcile_calls() -> Result<String, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_admin()?;
    let report = calls::reconcile_now(&auth::state()?, &auth::actor(&me)).await?;
    Ok(format!(
        "Checked {} open calls; closed {}.",
        report.checked, report.closed
    ))
}

// -- Calling from the browser (the page script `browser/src/call.js` posts to these) ------

/// Starts a call from the browser: the call, its room, and a token for the browser.
#[server(prefix = "/api", endpoint = "calls/browser/start")]
pub async fn start_browser_call(number_id: String, to: String) -> Result<BrowserJoin, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::browser::start(&auth::state()?, &me, &auth::actor(&me), &number_id, &to).await
}

/// The browser joined its call's room: the phone is dialled now.
#[server(prefix = "/api", endpoint = "calls/browser/joined")]
pub async fn browser_joined(id: String) -> Result<CallRow, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::browser::joined(&auth::state()?, &me, &auth::actor(&me), &id).await
}

/// The browser could not join (`reason`: microphone_denied, no_microphone,
/// livekit_unreachable, left): the room goes and the call ends saying why.
#[server(prefix = "/api", endpoint = "calls/browser/abandon")]
pub async fn abandon_browser_call(id: String, reason: String) -> Result<CallRow, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    let reason = calls::browser::AbandonReason::parse(&reason).ok_or_else(|| {
        AppError::invalid(
            "reason",
            "Give the reason as microphone_denied, no_microphone, livekit_unreachable or left.",
        )
    })?;
    calls::browser::abandon(&auth::state()?, &me, &auth::actor(&me), &id, reason).await
}

/// A token to join a live call's room: `mode` listen (subscribe only) or speak.
#[server(prefix = "/api", endpoint = "calls/browser/listen")]
pub async fn listen_to_call(id: String, mode: String) -> Result<BrowserJoin, AppError> {
    use crate::server::{auth, calls, livekit::JoinGrants};
    let me = auth::require_user()?;
    let grants = match mode.as_str() {
        "listen" => JoinGrants::Listen,
        "speak" => JoinGrants::Speak,
        _ => return Err(AppError::invalid("mode", "Choose listen or speak.")),
    };
    calls::browser::listen(&auth::state()?, &me, &auth::actor(&me), &id, grants).await
}

/// Takes the call over from its agent (the person must be in the room, speaking).
#[server(prefix = "/api", endpoint = "calls/browser/take-over")]
pub async fn take_over_call(id: String) -> Result<CallRow, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::browser::take_over(&auth::state()?, &me, &auth::actor(&me), &id).await
}

/// What the browser-calling pages need: the page script's address (none when this build
/// of Dial has no browser bundle) and whether LiveKit is configured.
#[server(prefix = "/api", endpoint = "calls/browser/setup")]
pub async fn get_browser_call_setup() -> Result<BrowserCallSetup, AppError> {
    use crate::server::{auth, calls};
    auth::require_user()?;
    Ok(calls::browser::setup(&auth::state()?))
}

/// The numbers the user may call from in the browser (no assistant needed): `name` is the
/// number.
#[server(prefix = "/api", endpoint = "calls/browser/numbers")]
pub async fn browser_numbers() -> Result<Vec<AssistantOption>, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    calls::browser::numbers(&auth::state()?, &me).await
}
