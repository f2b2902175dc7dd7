//! Endpoints and their delivery logs: register, change, enable and disable, rotate the
//! secret, delete, read the deliveries and replay one. Owners manage their own endpoints
//! (anyone else's is "not found"); administrators manage all of them. Every change is
//! audited, in the change's own transaction, never with the secret.
//!
//! A browser without JavaScript cannot read the answer of a form post (it is redirected
//! back to the page), so the new secret reaches the next render of the page through the
//! session, encrypted, and is removed as it is read ([`stash_for_next_page`],
//! [`take_stashed`]), as API keys do.

use super::{address, reach, sign, DeliveryStatus, EventKind};
use crate::{
    error::{AppError, FieldError},
    model::{CreatedWebhookEndpoint, Me, Page, WebhookDeliveryView, WebhookEndpointView},
    server::{
        audit::{self, Actor},
        crypto::Binding,
        list::{paginate, Filter, ListQuery, Value},
        new_id, now, now_ms,
        state::AppState,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

/// The longest description.
pub const DESCRIPTION_MAX: usize = 200;
/// The most endpoints one user may register.
pub const MAX_ENDPOINTS_PER_USER: i64 = 25;
/// Deliveries per page of the log.
pub const DELIVERIES_PER_PAGE: u32 = 50;
const NOT_FOUND: &str = "That webhook endpoint";

/// Where an endpoint's secret is stored: it decrypts only in its own row.
pub(super) fn secret_binding(id: &str) -> Binding<'_> {
    Binding {
        table: "webhook_endpoints",
        column: "secret",
        row: id,
    }
}

/// What a user types to register an endpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: String,
    pub description: String,
    /// Event type names (`call.ended`, …).
    pub events: Vec<String>,
}

/// What a change sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

fn parse_events(names: &[String], errors: &mut Vec<FieldError>) -> Vec<EventKind> {
    let mut events = Vec::new();
    let mut unknown = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match EventKind::parse(name) {
            Some(kind) if !events.contains(&kind) => events.push(kind),
            Some(_) => {}
            None => unknown.push(name),
        }
    }
    let known = EventKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(first) = unknown.first() {
        let shown: String = first.chars().take(40).collect();
        errors.push(FieldError::new(
            "events",
            format!("Dial has no event \u{201c}{shown}\u{201d}. Choose from {known}."),
        ));
    } else if events.is_empty() {
        errors.push(FieldError::new(
            "events",
            format!("Choose at least one event to send ({known})."),
        ));
    }
    events.sort_by_key(|k| EventKind::ALL.iter().position(|a| a == k));
    events
}

fn parse_description(text: &str, errors: &mut Vec<FieldError>) -> String {
    let text = text.trim();
    if text.chars().count() > DESCRIPTION_MAX {
        errors.push(FieldError::new(
            "description",
            format!("A description is at most {DESCRIPTION_MAX} characters."),
        ));
    } else if text.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "description",
            "A description is one line of text, without control characters.",
        ));
    }
    text.to_string()
}

fn errors_or<T>(errors: Vec<FieldError>, value: T) -> Result<T, AppError> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(AppError::Invalid { errors })
    }
}

/// Every field checked at once, each problem on its field; the URL's host is resolved
/// only once everything else is right.
async fn parse_url_field(
    state: &AppState,
    text: &str,
    errors: &mut Vec<FieldError>,
) -> Option<url::Url> {
    match address::parse_url(text, reach(state)) {
        Ok(_) if !errors.is_empty() => None,
        Ok(_) => match address::check_url(text, reach(state)).await {
            Ok(url) => Some(url),
            Err(e) => {
                errors.extend(invalid_fields(e));
                None
            }
        },
        Err(e) => {
            errors.extend(invalid_fields(e));
            None
        }
    }
}

fn invalid_fields(e: AppError) -> Vec<FieldError> {
    match e {
        AppError::Invalid { errors } => errors,
        other => vec![FieldError::new("url", other.to_string())],
    }
}

fn events_text(events: &[EventKind]) -> String {
    events
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: String,
    url: String,
    description: String,
    events: String,
    enabled: i64,
    user_id: String,
    username: String,
    created_at: i64,
    updated_at: i64,
    secret_rotated_at: i64,
    pending: i64,
    failed: i64,
}

impl From<EndpointRow> for WebhookEndpointView {
    fn from(r: EndpointRow) -> Self {
        let events = r
            .events
            .split_whitespace()
            .filter_map(|name| {
                let kind = EventKind::parse(name);
                if kind.is_none() {
                    tracing::error!(endpoint = %r.id, %name, "an endpoint with an unknown event type");
                }
                kind
            })
            .collect();
        WebhookEndpointView {
            id: r.id,
            url: r.url,
            description: r.description,
            events,
            enabled: r.enabled != 0,
            owner_id: r.user_id,
            owner: r.username,
            created_at: r.created_at,
            updated_at: r.updated_at,
            secret_rotated_at: r.secret_rotated_at,
            pending: r.pending.max(0) as u64,
            failed: r.failed.max(0) as u64,
        }
    }
}

const SELECT: &str = "SELECT e.id, e.url, e.description, e.events, e.enabled, e.user_id, \
     u.username, e.created_at, e.updated_at, e.secret_rotated_at, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending') AS pending, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'failed') AS failed \
     FROM webhook_endpoints e JOIN users u ON u.id = e.user_id";

/// The endpoints `me` may see: an owner's own, every one for an administrator; newest
/// first.
pub async fn list(state: &AppState, me: &Me) -> Result<Vec<WebhookEndpointView>, AppError> {
    let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE ($1 = 1 OR e.user_id = $2) ORDER BY e.created_at DESC, e.id"
    ))
    .bind(i64::from(me.is_admin()))
    .bind(&me.id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(WebhookEndpointView::from).collect())
}

/// One endpoint `me` may see (anyone else's is "not found").
pub async fn get(state: &AppState, me: &Me, id: &str) -> Result<WebhookEndpointView, AppError> {
    let row: Option<EndpointRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE e.id = $1 AND ($2 = 1 OR e.user_id = $3)"
    ))
    .bind(id)
    .bind(i64::from(me.is_admin()))
    .bind(&me.id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.map(WebhookEndpointView::from)
        .ok_or_else(|| AppError::not_found(NOT_FOUND))
}

/// An endpoint's fields, checked.
struct Parsed {
    url: url::Url,
    description: String,
    events: Vec<EventKind>,
}

/// Every field checked at once, each problem on its field.
async fn parse_input(state: &AppState, input: &EndpointInput) -> Result<Parsed, AppError> {
    let mut errors = Vec::new();
    let events = parse_events(&input.events, &mut errors);
    let description = parse_description(&input.description, &mut errors);
    let url = parse_url_field(state, &input.url, &mut errors).await;
    let url = errors_or(errors, url)?.ok_or(AppError::Internal)?;
    Ok(Parsed {
        url,
        description,
        events,
    })
}

/// What [`create`] would refuse in `input`, without storing anything.
pub async fn check(state: &AppState, input: &EndpointInput) -> Result<(), AppError> {
    parse_input(state, input).await.map(|_| ())
}

/// Registers an endpoint for `me`; the returned secret is the only time it is shown.
pub async fn create(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    input: &EndpointInput,
) -> Result<CreatedWebhookEndpoint, AppError> {
    let Parsed {
        url,
        description,
        events,
    } = parse_input(state, input).await?;

    let id = new_id();
    let secret = sign::generate_secret();
    let sealed = state
        .keyring
        .encrypt(secret.expose_secret(), secret_binding(&id));
    let t = now();
    let mut tx = state.db.begin_write().await?;
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE user_id = $1")
            .bind(&me.id)
            .fetch_one(&mut *tx.tx)
            .await?;
    if count >= MAX_ENDPOINTS_PER_USER {
        return Err(AppError::conflict(format!(
            "You have {count} webhook endpoints, the most one user may have. Delete one you no longer use first."
        )));
    }
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, user_id, url, description, events, secret, enabled, \
         created_at, updated_at, secret_rotated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $7)",
    )
    .bind(&id)
    .bind(&me.id)
    .bind(url.as_str())
    .bind(&description)
    .bind(events_text(&events))
    .bind(&sealed)
    .bind(t)
    .execute(&mut *tx.tx)
    .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "webhook.create",
        Some(&id),
        Some(&format!("{} ({})", url.as_str(), events_text(&events))),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedWebhookEndpoint {
        endpoint: get(state, me, &id).await?,
        secret: secret.expose_secret().to_string(),
    })
}

/// Changes an endpoint's address, description, events or state; each kind of change is
/// audited (`webhook.update`, `webhook.enable`, `webhook.disable`). Changing nothing
/// writes nothing.
pub async fn update(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
    changes: &EndpointChanges,
) -> Result<WebhookEndpointView, AppError> {
    let before = get(state, me, id).await?;
    let mut errors = Vec::new();
    let events = changes
        .events
        .as_ref()
        .map(|names| parse_events(names, &mut errors));
    let description = changes
        .description
        .as_deref()
        .map(|d| parse_description(d, &mut errors));
    let url = match changes.url.as_deref() {
        Some(text) if text.trim() != before.url => parse_url_field(state, text, &mut errors).await,
        _ => None,
    };
    errors_or(errors, ())?;

    let url = url
        .map(|u| u.to_string())
        .unwrap_or_else(|| before.url.clone());
    let description = description.unwrap_or_else(|| before.description.clone());
    let events = events.unwrap_or_else(|| before.events.clone());
    let enabled = changes.enabled.unwrap_or(before.enabled);
    let edited = url != before.url || description != before.description || events != before.events;
    if !edited && enabled == before.enabled {
        return Ok(before);
    }
    let mut tx = state.db.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE webhook_endpoints SET url = $1, description = $2, events = $3, enabled = $4, \
         updated_at = $5 WHERE id = $6",
    )
    .bind(&url)
    .bind(&description)
    .bind(events_text(&events))
    .bind(i64::from(enabled))
    .bind(now())
    .bind(id)
    .execute(&mut *tx.tx)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(AppError::not_found(NOT_FOUND));
    }
    if edited {
        audit::record_on(
            &mut *tx,
            actor,
            "webhook.update",
            Some(id),
            Some(&format!("{url} ({})", events_text(&events))),
        )
        .await?;
    }
    if enabled != before.enabled {
        let action = if enabled {
            "webhook.enable"
        } else {
            "webhook.disable"
        };
        audit::record_on(&mut *tx, actor, action, Some(id), Some(&url)).await?;
    }
    tx.commit().await?;
    get(state, me, id).await
}

/// Replaces an endpoint's secret; the returned secret is the only time it is shown.
/// Deliveries from now on are signed with it (receivers that still check the old one
/// refuse them, and they are retried).
pub async fn rotate_secret(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
) -> Result<CreatedWebhookEndpoint, AppError> {
    let endpoint = get(state, me, id).await?;
    let secret = sign::generate_secret();
    let sealed = state
        .keyring
        .encrypt(secret.expose_secret(), secret_binding(id));
    let t = now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE webhook_endpoints SET secret = $1, secret_rotated_at = $2, updated_at = $2 WHERE id = $3",
    )
    .bind(&sealed)
    .bind(t)
    .bind(id)
    .execute(&mut *tx.tx)
    .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "webhook.rotate_secret",
        Some(id),
        Some(&endpoint.url),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedWebhookEndpoint {
        endpoint: get(state, me, id).await?,
        secret: secret.expose_secret().to_string(),
    })
}

/// Deletes an endpoint and its delivery log; what it had waiting is never sent.
pub async fn delete(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
) -> Result<WebhookEndpointView, AppError> {
    let endpoint = get(state, me, id).await?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "webhook.delete",
        Some(id),
        Some(&endpoint.url),
    )
    .await?;
    tx.commit().await?;
    Ok(endpoint)
}

type DeliveryRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
);

fn delivery(row: DeliveryRow) -> WebhookDeliveryView {
    let (id, event_id, kind, status, attempts, code, error, last, next_ms, delivered, created) =
        row;
    let status = DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Pending);
    WebhookDeliveryView {
        id,
        event_id,
        // Only Dial writes the type; the column holds names of `EventKind`.
        event_type: EventKind::parse(&kind).unwrap_or(EventKind::CallEnded),
        status,
        attempts,
        last_status_code: code,
        last_error: error,
        last_attempt_at: last,
        next_attempt_at: next_ms
            .filter(|_| status == DeliveryStatus::Pending)
            .map(|ms| ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0)),
        delivered_at: delivered,
        created_at: created,
    }
}

const DELIVERY_COLUMNS: &str = "SELECT d.id, d.event_id, v.kind, d.status, d.attempts, \
     d.last_status_code, d.last_error, d.last_attempt_at, d.next_attempt_ms, d.delivered_at, \
     d.created_at FROM webhook_deliveries d JOIN webhook_events v ON v.id = d.event_id";

/// One page of an endpoint's deliveries, newest first, optionally only those in one
/// state.
pub async fn deliveries(
    state: &AppState,
    me: &Me,
    endpoint_id: &str,
    status: Option<DeliveryStatus>,
    page: Option<u32>,
) -> Result<Page<WebhookDeliveryView>, AppError> {
    get(state, me, endpoint_id).await?;
    let mut filter = Filter::new();
    filter.eq("d.endpoint_id", endpoint_id);
    if let Some(status) = status {
        filter.with("d.status = ?", vec![Value::Text(status.as_str().into())]);
    }
    let list = ListQuery {
        select: DELIVERY_COLUMNS,
        count: "SELECT COUNT(*) FROM webhook_deliveries d",
        order: "d.created_at DESC, d.id DESC",
        per_page: DELIVERIES_PER_PAGE,
    };
    let page: Page<DeliveryRow> = paginate(&state.db.pool, &list, &filter, page).await?;
    Ok(Page {
        items: page.items.into_iter().map(delivery).collect(),
        page: page.page,
        per_page: page.per_page,
        total: page.total,
        ..Page::default()
    })
}

/// Sends a delivery again, with the same event id and body, as soon as the worker can
/// (a pending one at once); its retries start over, for another 24 hours. A disabled
/// endpoint's replay waits until it is enabled.
pub async fn replay(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    endpoint_id: &str,
    delivery_id: &str,
) -> Result<WebhookDeliveryView, AppError> {
    let endpoint = get(state, me, endpoint_id).await?;
    let at = now_ms();
    let retry_for = i64::try_from(state.config.webhooks.retry_for.as_millis()).unwrap_or(i64::MAX);
    let mut tx = state.db.begin_write().await?;
    let replayed = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_ms = $1, \
         lease_until_ms = NULL, retry_until_ms = $2 WHERE id = $3 AND endpoint_id = $4",
    )
    .bind(at)
    .bind(at.saturating_add(retry_for))
    .bind(delivery_id)
    .bind(endpoint_id)
    .execute(&mut *tx.tx)
    .await?;
    if replayed.rows_affected() == 0 {
        return Err(AppError::not_found("That delivery"));
    }
    let row: DeliveryRow = sqlx::query_as(&format!("{DELIVERY_COLUMNS} WHERE d.id = $1"))
        .bind(delivery_id)
        .fetch_one(&mut *tx.tx)
        .await?;
    let view = delivery(row);
    audit::record_on(
        &mut *tx,
        actor,
        "webhook.replay",
        Some(endpoint_id),
        Some(&format!(
            "event {} ({}) to {}",
            view.event_id, view.event_type, endpoint.url
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// The session entry that carries a new secret to the next page render (no-JavaScript
/// forms only).
const STASH: &str = "webhook_secret_created";
/// A stash older than this is dropped unread.
const STASH_MAX_AGE_SECS: i64 = 300;

#[derive(Serialize, Deserialize)]
struct Stash {
    endpoint_id: String,
    /// The secret, encrypted with the installation's key and bound to the user.
    sealed: String,
    at: i64,
}

fn stash_binding(me: &Me) -> Binding<'_> {
    Binding {
        table: "sessions",
        column: STASH,
        row: &me.id,
    }
}

/// Keeps the new secret, encrypted, in the session until the next render of the page.
pub async fn stash_for_next_page(
    state: &AppState,
    session: &Session,
    me: &Me,
    created: &CreatedWebhookEndpoint,
) -> Result<(), AppError> {
    let stash = Stash {
        endpoint_id: created.endpoint.id.clone(),
        sealed: state.keyring.encrypt(&created.secret, stash_binding(me)),
        at: now(),
    };
    session.insert(STASH, stash).await.map_err(|e| {
        tracing::error!(error = %e, "could not keep a new webhook secret for the next page");
        AppError::Internal
    })
}

/// The secret stashed by [`stash_for_next_page`] (for `endpoint_id` when given), removed
/// from the session as it is read.
pub async fn take_stashed(
    state: &AppState,
    session: &Session,
    me: &Me,
    endpoint_id: Option<&str>,
) -> Result<Option<CreatedWebhookEndpoint>, AppError> {
    let stash: Option<Stash> = match session.get(STASH).await {
        Ok(stash) => stash,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a stashed webhook secret");
            None
        }
    };
    let Some(stash) = stash else {
        return Ok(None);
    };
    if endpoint_id.is_some_and(|id| id != stash.endpoint_id) {
        return Ok(None);
    }
    if let Err(e) = session.remove::<Stash>(STASH).await {
        tracing::warn!(error = %e, "could not remove a stashed webhook secret");
    }
    if now() - stash.at > STASH_MAX_AGE_SECS {
        return Ok(None);
    }
    let secret: SecretString = match state.keyring.decrypt(&stash.sealed, stash_binding(me)) {
        Ok(secret) => secret,
        Err(e) => {
            tracing::warn!(error = %e, "a stashed webhook secret does not decrypt");
            return Ok(None);
        }
    };
    match get(state, me, &stash.endpoint_id).await {
        Ok(endpoint) => Ok(Some(CreatedWebhookEndpoint {
            endpoint,
            secret: secret.expose_secret().to_string(),
        })),
        Err(AppError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn events_are_known_names_in_one_order_without_repeats() {
        let mut errors = Vec::new();
        let events = parse_events(
            &names(&["call.ended", " call.started ", "call.ended", ""]),
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(events, [EventKind::CallStarted, EventKind::CallEnded]);
        let mut errors = Vec::new();
        parse_events(&names(&["call.ended", "call.exploded"]), &mut errors);
        assert!(errors[0].message.contains("call.exploded"), "{errors:?}");
        assert!(errors[0].message.contains("campaign.contact_finished"));
        let mut errors = Vec::new();
        parse_events(&[], &mut errors);
        assert_eq!(errors[0].field, "events");
    }

    #[test]
    fn descriptions_are_one_short_line() {
        let mut errors = Vec::new();
        assert_eq!(parse_description("  CRM  ", &mut errors), "CRM");
        parse_description(&"x".repeat(DESCRIPTION_MAX + 1), &mut errors);
        parse_description("a\nb", &mut errors);
        parse_description("a\0b", &mut errors);
        assert_eq!(errors.len(), 3);
        assert!(errors.iter().all(|e| e.field == "description"));
    }

    #[test]
    fn the_next_attempt_reads_in_whole_seconds_rounded_up() {
        let row = |status: &str, next: Option<i64>| {
            delivery((
                "d".into(),
                "e".into(),
                "call.ended".into(),
                status.into(),
                1,
                None,
                None,
                None,
                next,
                None,
                0,
            ))
        };
        assert_eq!(
            row("pending", Some(1_700_000_000_001)).next_attempt_at,
            Some(1_700_000_001)
        );
        assert_eq!(
            row("pending", Some(1_700_000_000_000)).next_attempt_at,
            Some(1_700_000_000)
        );
        assert_eq!(row("delivered", Some(1)).next_attempt_at, None);
    }
}
