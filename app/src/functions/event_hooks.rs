//! Event webhooks: the signed-in user's endpoints (every endpoint for an administrator),
//! their delivery logs, and replay.

use crate::{
    error::AppError,
    model::{CreatedWebhookEndpoint, Page, WebhookDeliveryView, WebhookEndpointView},
};
use leptos::prelude::*;

/// The settings page that lists the endpoints.
pub const WEBHOOKS_PAGE: &str = "/dashboard/settings/webhooks";

/// An endpoint's page.
pub fn endpoint_page(id: &str) -> String {
    format!("{WEBHOOKS_PAGE}/{id}")
}

#[server(prefix = "/api", endpoint = "webhooks/list")]
pub async fn list_webhook_endpoints() -> Result<Vec<WebhookEndpointView>, AppError> {
    use crate::server::{auth, event_hooks};
    let me = auth::require_user()?;
    event_hooks::list(&auth::state()?, &me).await
}

#[server(prefix = "/api", endpoint = "webhooks/get")]
pub async fn get_webhook_endpoint(id: String) -> Result<WebhookEndpointView, AppError> {
    use crate::server::{auth, event_hooks};
    let me = auth::require_user()?;
    event_hooks::get(&auth::state()?, &me, &id).await
}

/// Registers an endpoint. The secret is in this answer only; without JavaScript the page
/// cannot read this answer, so the secret is kept (encrypted) in the session for the
/// page's next render instead, and the redirect's body carries no secret.
#[server(prefix = "/api", endpoint = "webhooks/create")]
pub async fn create_webhook_endpoint(
    url: String,
    description: Option<String>,
    events: Option<Vec<String>>,
) -> Result<CreatedWebhookEndpoint, AppError> {
    use crate::server::{auth, event_hooks};
    let me = auth::require_user()?;
    let state = auth::state()?;
    let input = event_hooks::EndpointInput {
        url,
        description: description.unwrap_or_default(),
        events: events.unwrap_or_default(),
    };
    let created = event_hooks::create(&state, &me, &auth::actor(&me), &input).await?;
    if super::plain_form_post() {
        event_hooks::stash_for_next_page(&state, &auth::session()?, &me, &created).await?;
        leptos_axum::redirect(WEBHOOKS_PAGE);
        return Ok(without_secret(created));
    }
    Ok(created)
}

#[cfg(feature = "ssr")]
fn without_secret(created: CreatedWebhookEndpoint) -> CreatedWebhookEndpoint {
    CreatedWebhookEndpoint {
        endpoint: created.endpoint,
        secret: String::new(),
    }
}

/// The secret a no-JavaScript form post of this session just made (for `id`, when
/// given), once.
#[server(prefix = "/api", endpoint = "webhooks/created")]
pub async fn take_created_webhook_secret(
    id: Option<String>,
) -> Result<Option<CreatedWebhookEndpoint>, AppError> {
    use crate::server::{auth, event_hooks};
    let me = auth::require_user()?;
    event_hooks::take_stashed(&auth::state()?, &auth::session()?, &me, id.as_deref()).await
}

/// Changes an endpoint's address, description and events (the edit form sends all three;
/// no event ticked is "none", which is refused).
#[server(prefix = "/api", endpoint = "webhooks/update")]
pub async fn update_webhook_endpoint(
    id: String,
    url: String,
    description: Option<String>,
    events: Option<Vec<String>>,
) -> Result<WebhookEndpointView, AppError> {
    use crate::server::{auth, event_hooks};
    let me = auth::require_user()?;
    let changes = event_hooks::EndpointChanges {
        url: Some(url),
        description: Some(description.unwrap_or_default()),
        events: Some(events.unwrap_or_default()),
        enabled: None,
    };
    event_hooks::update(&auth::state()?, &me, &auth::actor(&me), &id, &changes).await
}

#[server(prefix = "/api", endpoint = "webhooks/enable")]
pub async fn enable_webhook_endpoint(id: String) -> Result<WebhookEndpointView, AppError> {
    set_enabled(id, true).await
}

#[server(prefix = "/api", endpoint = "webhooks/disable")]
pub async fn disable_webhook_endpoint(id: String) -> Result<WebhookEndpointView, AppError> {
    set_enabled(id, false).await
}

#[cfg(feature = "ssr")]
async fn set_enabled(id: String, enabled: bool) -> Result<WebhookEndpointView, AppError> {
    use crate::server::{auth, event_hooks};
    let me = auth::require_user()?;
    let changes = event_hooks::EndpointChanges {
        enabled: Some(enabled),
        ..Default::default()
    };
    event_hooks::update(&auth::state()?, &me, &auth::actor(&me), &id, &changes).await
}

/// Replaces the endpoint's secret; the new one is shown once, as on create.
#[server(prefix = "/api", endpoint = "webhooks/rotate")]
pub async fn rotate_webhook_secret(id: String) -> Result<CreatedWebhookEndpoint, AppError> {
    use crate::server::{auth, event_hooks};
    let me = auth::require_user()?;
    let state = auth::state()?;
    let rotated = event_hooks::rotate_secret(&state, &me, &auth::actor(&me), &id).await?;
    if super::plain_form_post() {
        event_hooks::stash_for_next_page(&state, &auth::session()?, &me, &rotated).await?;
        leptos_axum::redirect(&endpoint_page(&id));
        return Ok(without_secret(rotated));
    }
    Ok(rotated)
}

/// Deletes an endpoint and goes back to the list, which confirms it.
#[server(prefix = "/api", endpoint = "webhooks/delete")]
pub async fn delete_webhook_endpoint(id: String) -> Result<(), AppError> {
    use crate::server::{auth, event_hooks, notice};
    let me = auth::require_user()?;
    let deleted = event_hooks::delete(&auth::state()?, &me, &auth::actor(&me), &id).await?;
    notice::leave(
        &auth::session()?,
        &format!(
            "Deleted the webhook endpoint {}. Nothing more is sent to it.",
            deleted.url
        ),
    )
    .await?;
    leptos_axum::redirect(WEBHOOKS_PAGE);
    Ok(())
}

/// One page of an endpoint's delivery log (`status`: pending, delivered or failed).
#[server(prefix = "/api", endpoint = "webhooks/deliveries")]
pub async fn list_webhook_deliveries(
    id: String,
    status: Option<String>,
    page: Option<u32>,
) -> Result<Page<WebhookDeliveryView>, AppError> {
    use crate::{model::DeliveryStatus, server::auth, server::event_hooks};
    let me = auth::require_user()?;
    let status = match status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(DeliveryStatus::parse(text).ok_or_else(|| {
            AppError::invalid("status", "Show pending, delivered or failed deliveries.")
        })?),
    };
    event_hooks::deliveries(&auth::state()?, &me, &id, status, page).await
}

/// Sends a delivery again (same event id and body).
#[server(prefix = "/api", endpoint = "webhooks/replay")]
pub async fn replay_webhook_delivery(
    id: String,
    delivery_id: String,
) -> Result<WebhookDeliveryView, AppError> {
    use crate::server::{auth, event_hooks};
    let me = auth::require_user()?;
    event_hooks::replay(&auth::state()?, &me, &auth::actor(&me), &id, &delivery_id).await
}
