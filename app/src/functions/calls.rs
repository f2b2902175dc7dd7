//! Calls: the list and one call's timeline, placing a call, and transfer / hang-up.

// A call has many options, each a form field of `place_call`; the attribute on the
// function does not reach the client stub the `server` macro generates for the browser.
#![allow(clippy::too_many_arguments)]

use crate::{
    error::AppError,
    model::{AssistantOption, CallDetail, CallRow, Page, TransferResult},
};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "calls/list")]
pub async fn list_calls(
    assistant: Option<String>,
    number: Option<String>,
    direction: Option<String>,
    status: Option<String>,
    date: Option<String>,
    page: Option<u32>,
) -> Result<Page<CallRow>, AppError> {
    use crate::{
        model::CallQuery,
        server::{auth, calls},
    };
    let me = auth::require_user()?;
    let query = CallQuery {
        assistant,
        number,
        direction,
        status,
        date,
        page,
    };
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

/// Places a call; without JavaScript the form post lands on the call's page.
#[server(prefix = "/api", endpoint = "calls/place")]
pub async fn place_call(
    number_id: String,
    to: String,
    assistant_id: Option<String>,
    dtmf: Option<String>,
    play_dialtone: Option<String>,
    wait_until_answered: Option<String>,
    ringing_timeout: Option<String>,
    max_duration: Option<String>,
    display_name: Option<String>,
) -> Result<CallRow, AppError> {
    use crate::server::{auth, calls};
    let me = auth::require_user()?;
    let on = |v: &Option<String>| matches!(v.as_deref(), Some("on" | "true" | "1"));
    let input = calls::CallInput {
        number_id,
        to,
        assistant_id,
        dtmf,
        play_dialtone: on(&play_dialtone),
        wait_until_answered: on(&wait_until_answered),
        ringing_timeout_secs: ringing_timeout,
        max_duration_secs: max_duration,
        display_name,
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
    calls::transfer(&auth::state()?, &me, &auth::actor(&me), &id, &transfer_to).await
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
