//! Assigning numbers to assistants: start, follow, retry and roll back provisioning runs,
//! and test a number's inbound route.

use crate::{
    error::AppError,
    model::{AssistantOption, RouteCheck, Routing, RunView},
};
use leptos::prelude::*;

/// The number's routing, its current run and its provisioning history.
#[server(prefix = "/api", endpoint = "assignment/routing")]
pub async fn get_number_routing(number_id: String) -> Result<Routing, AppError> {
    use crate::server::{assignment, auth};
    let me = auth::require_user()?;
    assignment::routing(&auth::state()?, &me, &number_id).await
}

#[server(prefix = "/api", endpoint = "assignment/run")]
pub async fn get_provisioning_run(run_id: String) -> Result<RunView, AppError> {
    use crate::server::{assignment, auth};
    let me = auth::require_user()?;
    assignment::get_run(&auth::state()?, &me, &run_id).await
}

/// Gives the number to the assistant (or moves it from its current one). Returns the run's
/// id when the run stops (done or failed), or after 20 s while it is still running; the
/// number's page follows it. A form post without JavaScript lands on the number's page.
#[server(prefix = "/api", endpoint = "assignment/assign")]
pub async fn assign_number(number_id: String, assistant_id: String) -> Result<String, AppError> {
    use crate::server::{assignment, auth};
    let me = auth::require_user()?;
    if assistant_id.trim().is_empty() {
        return Err(AppError::invalid("assistant_id", "Choose an assistant."));
    }
    let state = auth::state()?;
    let run = assignment::assign(&state, &me, &auth::actor(&me), &number_id, &assistant_id).await?;
    leptos_axum::redirect(&format!("/dashboard/phone-numbers/{number_id}"));
    Ok(run)
}

#[server(prefix = "/api", endpoint = "assignment/unassign")]
pub async fn unassign_number(number_id: String) -> Result<String, AppError> {
    use crate::server::{assignment, auth};
    let me = auth::require_user()?;
    let state = auth::state()?;
    let run = assignment::unassign(&state, &me, &auth::actor(&me), &number_id).await?;
    leptos_axum::redirect(&format!("/dashboard/phone-numbers/{number_id}"));
    Ok(run)
}

#[server(prefix = "/api", endpoint = "assignment/retry")]
pub async fn retry_run(run_id: String) -> Result<(), AppError> {
    use crate::server::{assignment, auth};
    let me = auth::require_user()?;
    assignment::retry(&auth::state()?, &me, &auth::actor(&me), &run_id).await
}

#[server(prefix = "/api", endpoint = "assignment/roll-back")]
pub async fn roll_back_run(run_id: String) -> Result<(), AppError> {
    use crate::server::{assignment, auth};
    let me = auth::require_user()?;
    assignment::roll_back(&auth::state()?, &me, &auth::actor(&me), &run_id).await
}

/// Turns transfers on at the number's Twilio trunk (administrators). A form post without
/// JavaScript lands back on the number's page.
#[server(prefix = "/api", endpoint = "assignment/enable-transfers")]
pub async fn enable_trunk_transfers(number_id: String) -> Result<(), AppError> {
    use crate::server::{assignment, auth};
    let me = auth::require_user()?;
    let state = auth::state()?;
    assignment::enable_transfers(&state, &me, &auth::actor(&me), &number_id).await?;
    leptos_axum::redirect(&format!("/dashboard/phone-numbers/{number_id}#transfers"));
    Ok(())
}

#[server(prefix = "/api", endpoint = "assignment/test-route")]
pub async fn test_inbound_route(number_id: String) -> Result<RouteCheck, AppError> {
    use crate::server::{assignment, auth};
    let me = auth::require_user()?;
    assignment::test_route(&auth::state()?, &me, &auth::actor(&me), &number_id).await
}

/// The numbers the assistant can be given: its owner's numbers that no assistant answers
/// and that have no unfinished run (`name` is the number and its label).
#[server(prefix = "/api", endpoint = "assignment/assignable")]
pub async fn assignable_numbers(assistant_id: String) -> Result<Vec<AssistantOption>, AppError> {
    use crate::server::{assignment, auth};
    let me = auth::require_user()?;
    assignment::assignable_numbers(&auth::state()?, &me, &assistant_id).await
}
