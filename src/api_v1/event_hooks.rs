//! `/api/v1/webhook-endpoints`: register, list, read, change, delete endpoints and rotate
//! their secrets; read an endpoint's deliveries and replay one. The same rules as the
//! Webhooks page (`dial_app::server::event_hooks`): owners their own endpoints, admins all.

use super::*;
use axum::extract::{DefaultBodyLimit, Path, State};
use dial_app::{
    model::{
        CreatedWebhookEndpoint, DeliveryStatus, EventKind, WebhookDeliveryView, WebhookEndpointView,
    },
    server::event_hooks::{self, address::MAX_URL_LEN, DESCRIPTION_MAX},
};

/// The largest body an endpoint route takes (an endpoint is a URL, a description and a
/// few event names).
const BODY_LIMIT: usize = 64 * 1024;

/// `GET /webhook-endpoints/{id}/deliveries`'s query parameters.
pub const DELIVERIES_QUERY: &[QueryParam] = &[
    QueryParam {
        name: "status",
        description: "Only deliveries in this state: pending (waiting for an attempt or a retry), delivered, or failed (Dial gave up after 24 hours)",
        kind: QueryKind::OneOf(&["pending", "delivered", "failed"]),
    },
    PAGE,
];

/// What `POST /webhook-endpoints` takes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewWebhookEndpoint)]
pub(super) struct CreateEndpointBody {
    /// Where Dial posts events: `https://` on the public Internet (private, loopback and
    /// link-local addresses are refused unless the installation allows them).
    #[schema(max_length = 2048, pattern = r"^https?://[^\s]+$")]
    url: String,
    /// The event types to send (at least one).
    #[schema(value_type = Vec<EventKind>, min_items = 1)]
    events: Vec<String>,
    #[schema(max_length = 200)]
    description: Option<String>,
}

/// What `PATCH /webhook-endpoints/{id}` takes: only the fields to change.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookEndpointChanges)]
pub(super) struct UpdateEndpointBody {
    #[schema(max_length = 2048, pattern = r"^https?://[^\s]+$")]
    url: Option<String>,
    #[schema(value_type = Option<Vec<EventKind>>, min_items = 1)]
    events: Option<Vec<String>>,
    #[schema(max_length = 200)]
    description: Option<String>,
    /// False stops new events; true sends them again (and what was held).
    enabled: Option<bool>,
}

/// The API takes text exactly as documented: an address of the documented shape (the
/// page's form is more forgiving), within the documented lengths.
fn strict(url: Option<&str>, description: Option<&str>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(url) = url {
        // The document's pattern, `^https?://[^\s]+$` (ECMAScript's `\s` includes the
        // byte-order mark), and its length.
        let shaped = (url.starts_with("https://") || url.starts_with("http://"))
            && !url.chars().any(|c| c.is_whitespace() || c == '\u{feff}');
        if !shaped || url.chars().count() > MAX_URL_LEN {
            errors.push(FieldError::new(
                "url",
                format!("Send the address as https://… (lower-case, no spaces), at most {MAX_URL_LEN} characters."),
            ));
        }
    }
    if description.is_some_and(|d| d.chars().count() > DESCRIPTION_MAX) {
        errors.push(FieldError::new(
            "description",
            format!("A description is at most {DESCRIPTION_MAX} characters."),
        ));
    }
    errors
}

/// The strict checks' problems and the service's, each field once.
fn merged(mut errors: Vec<FieldError>, result: AppError) -> ApiError {
    match result {
        AppError::Invalid { errors: more } => {
            for e in more {
                if !errors.iter().any(|known| known.field == e.field) {
                    errors.push(e);
                }
            }
            AppError::Invalid { errors }.into()
        }
        other if errors.is_empty() => other.into(),
        _ => AppError::Invalid { errors }.into(),
    }
}

pub(super) async fn list_endpoints(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
) -> Result<Json<Vec<WebhookEndpointView>>, ApiError> {
    Ok(Json(event_hooks::list(&state, &me).await?))
}

pub(super) async fn create_endpoint(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    ApiJson(body): ApiJson<CreateEndpointBody>,
) -> Result<Json<CreatedWebhookEndpoint>, ApiError> {
    let errors = strict(Some(&body.url), body.description.as_deref());
    let input = event_hooks::EndpointInput {
        url: body.url,
        description: body.description.unwrap_or_default(),
        events: body.events,
    };
    if !errors.is_empty() {
        // The rest is checked too, so every problem is named at once (nothing is stored).
        return Err(match check_only(&state, &input).await {
            Some(e) => merged(errors, e),
            None => AppError::Invalid { errors }.into(),
        });
    }
    Ok(Json(
        event_hooks::create(&state, &me, &api_actor(&me), &input).await?,
    ))
}

/// The service's problems with `input`, without storing anything.
async fn check_only(state: &AppState, input: &event_hooks::EndpointInput) -> Option<AppError> {
    event_hooks::check(state, input).await.err()
}

pub(super) async fn get_endpoint(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    Ok(Json(event_hooks::get(&state, &me, &id).await?))
}

pub(super) async fn update_endpoint(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateEndpointBody>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let errors = strict(body.url.as_deref(), body.description.as_deref());
    let changes = event_hooks::EndpointChanges {
        url: body.url,
        description: body.description,
        events: body.events,
        enabled: body.enabled,
    };
    if !errors.is_empty() {
        // Nothing is changed; the endpoint must still be one the key may see.
        event_hooks::get(&state, &me, &id).await?;
        return Err(AppError::Invalid { errors }.into());
    }
    Ok(Json(
        event_hooks::update(&state, &me, &api_actor(&me), &id, &changes).await?,
    ))
}

pub(super) async fn delete_endpoint(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    Ok(Json(
        event_hooks::delete(&state, &me, &api_actor(&me), &id).await?,
    ))
}

pub(super) async fn rotate_secret(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<CreatedWebhookEndpoint>, ApiError> {
    Ok(Json(
        event_hooks::rotate_secret(&state, &me, &api_actor(&me), &id).await?,
    ))
}

pub(super) async fn list_deliveries(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
    pairs: Result<
        axum::extract::Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<Page<WebhookDeliveryView>>, ApiError> {
    let checked = Checked::parse(DELIVERIES_QUERY, pairs)?;
    let status = checked
        .get("status")
        .and_then(|s| DeliveryStatus::parse(&s));
    Ok(Json(
        event_hooks::deliveries(&state, &me, &id, status, checked.page()).await?,
    ))
}

pub(super) async fn replay_delivery(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Json<WebhookDeliveryView>, ApiError> {
    Ok(Json(
        event_hooks::replay(&state, &me, &api_actor(&me), &id, &delivery_id).await?,
    ))
}

/// What creating an endpoint answers besides success.
const CREATE_ERRORS: &[(u16, &str)] = &[(
    409,
    "The user already has the most endpoints one user may have (25): delete one first.",
)];

/// The routes, in the order the document lists them.
pub(super) const LIST: Endpoint = Endpoint {
    method: Method::GET,
    path: "/webhook-endpoints",
    summary: "Your webhook endpoints (all of them for an admin); never their secrets",
    auth: true,
    query: &[],
    request: None,
    response: inline::<Vec<WebhookEndpointView>>,
    route: |m| on(m, list_endpoints),
    errors: &[],
};

pub(super) const CREATE: Endpoint = Endpoint {
    method: Method::POST,
    path: "/webhook-endpoints",
    summary: "Register a webhook endpoint; the answer carries its signing secret, this once",
    auth: true,
    query: &[],
    request: Some(schema_of::<CreateEndpointBody>),
    response: schema_of::<CreatedWebhookEndpoint>,
    route: |m| on(m, create_endpoint).layer(DefaultBodyLimit::max(BODY_LIMIT)),
    errors: CREATE_ERRORS,
};

pub(super) const GET: Endpoint = Endpoint {
    method: Method::GET,
    path: "/webhook-endpoints/{id}",
    summary: "One webhook endpoint",
    auth: true,
    query: &[],
    request: None,
    response: schema_of::<WebhookEndpointView>,
    route: |m| on(m, get_endpoint),
    errors: &[],
};

pub(super) const UPDATE: Endpoint = Endpoint {
    method: Method::PATCH,
    path: "/webhook-endpoints/{id}",
    summary: "Change a webhook endpoint's address, events, description, or enable or disable it",
    auth: true,
    query: &[],
    request: Some(schema_of::<UpdateEndpointBody>),
    response: schema_of::<WebhookEndpointView>,
    route: |m| on(m, update_endpoint).layer(DefaultBodyLimit::max(BODY_LIMIT)),
    errors: &[],
};

pub(super) const DELETE: Endpoint = Endpoint {
    method: Method::DELETE,
    path: "/webhook-endpoints/{id}",
    summary: "Delete a webhook endpoint and its delivery log (answers the endpoint as it was)",
    auth: true,
    query: &[],
    request: None,
    response: schema_of::<WebhookEndpointView>,
    route: |m| on(m, delete_endpoint),
    errors: &[],
};

pub(super) const ROTATE: Endpoint = Endpoint {
    method: Method::POST,
    path: "/webhook-endpoints/{id}/rotate-secret",
    summary:
        "Replace a webhook endpoint's signing secret; the answer carries the new one, this once",
    auth: true,
    query: &[],
    request: None,
    response: schema_of::<CreatedWebhookEndpoint>,
    route: |m| on(m, rotate_secret),
    errors: &[],
};

pub(super) const DELIVERIES: Endpoint = Endpoint {
    method: Method::GET,
    path: "/webhook-endpoints/{id}/deliveries",
    summary: "A webhook endpoint's deliveries, newest first, 50 per page",
    auth: true,
    query: DELIVERIES_QUERY,
    request: None,
    response: inline::<Page<WebhookDeliveryView>>,
    route: |m| on(m, list_deliveries),
    errors: &[],
};

pub(super) const REPLAY: Endpoint = Endpoint {
    method: Method::POST,
    path: "/webhook-endpoints/{id}/deliveries/{delivery_id}/replay",
    summary: "Send a delivery again: the same event id and body, retried for another 24 hours",
    auth: true,
    query: &[],
    request: None,
    response: schema_of::<WebhookDeliveryView>,
    route: |m| on(m, replay_delivery),
    errors: &[],
};
