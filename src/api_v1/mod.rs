//! The JSON API under `/api/v1`, for other systems, authenticated with API keys.
//!
//! Every request but the OpenAPI document carries `Authorization: Bearer dial_…`, a key
//! a user created under Settings → API keys; the request then acts as that user, with
//! that user's rights ([`ApiUser`]). Every error is JSON with a stable code
//! ([`ApiError`]). Browser sessions are not accepted here (these routes are exempt from
//! the cross-site check because they never read the session cookie).
//!
//! [`ENDPOINTS`] is the one list of routes: the router and the OpenAPI document
//! (`GET /api/v1/openapi.json`) are both built from it, so adding a route is adding one
//! entry. The document's schemas are derived from the Rust types the routes read and
//! write (`utoipa::ToSchema`), so a field added to a type is documented with it.

use axum::{
    extract::{rejection::JsonRejection, FromRequest, FromRequestParts, OriginalUri, Request},
    http::{header, request::Parts, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, on, MethodFilter, MethodRouter},
    Json, Router,
};
use dial_app::{
    error::{AppError, FieldError},
    model::{
        Assistant, CallDetail, CallRow, CampaignContact, CampaignDetail, CampaignSettings,
        CampaignSummary, Me, NumberRow, Page, TransferResult,
    },
    server::{api_keys, campaigns::contacts, state::AppState},
};
use serde_json::{json, Value};
use utoipa::{PartialSchema, ToSchema};

/// Where these routes are mounted (`src/router.rs`).
pub const BASE: &str = "/api/v1";

// -- Errors

/// An error as the JSON API answers it: the status for the kind of error, and
/// `{"error": {"code", "message", "fields"?}}` (`fields` only for invalid input).
#[derive(Debug)]
pub struct ApiError {
    pub error: AppError,
    status: Option<StatusCode>,
}

impl ApiError {
    /// The error with the status other than its kind's usual one.
    pub fn with_status(error: AppError, status: StatusCode) -> ApiError {
        ApiError {
            error,
            status: Some(status),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| status_of(&self.error))
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError {
            error,
            status: None,
        }
    }
}

/// The HTTP status for each kind of error (one mapping, [`AppError::http_status`]).
pub fn status_of(error: &AppError) -> StatusCode {
    StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The body of every error the API answers.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people: what went wrong and how to fix it.
    pub message: String,
    /// Only for `invalid`: each field that is wrong, with its fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
}

/// The stable error codes a program may act on (one per kind of [`AppError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    Invalid,
    Conflict,
    TooManyAttempts,
    Upstream,
    Internal,
    Request,
}

impl ErrorCode {
    pub fn of(error: &AppError) -> ErrorCode {
        match error {
            AppError::Unauthorized => ErrorCode::Unauthorized,
            AppError::Forbidden => ErrorCode::Forbidden,
            AppError::NotFound { .. } => ErrorCode::NotFound,
            AppError::Invalid { .. } => ErrorCode::Invalid,
            AppError::Conflict { .. } => ErrorCode::Conflict,
            AppError::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            AppError::Upstream { .. } => ErrorCode::Upstream,
            AppError::Internal => ErrorCode::Internal,
            AppError::Request { .. } => ErrorCode::Request,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self.error {
            // The session wording of `AppError`'s message does not fit a program.
            AppError::Unauthorized => "A valid API key is required: send \
                 \"Authorization: Bearer dial_…\" with a key from Settings → API keys in Dial."
                .to_string(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::of(&self.error),
                message,
                fields: match &self.error {
                    AppError::Invalid { errors } => Some(errors.clone()),
                    _ => None,
                },
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self.error {
            AppError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"dial\""),
                );
            }
            AppError::TooManyAttempts { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

// -- Extractors

/// The user an API key acts as. Missing, malformed, unknown or revoked keys, and keys of
/// disabled users, are refused with 401.
#[derive(Debug, Clone)]
pub struct ApiUser(pub Me);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(AppError::Unauthorized)?;
        let me = api_keys::authenticate(state, token).await?;
        Ok(ApiUser(me))
    }
}

/// A JSON request body whose problems are answered as [`ApiError`]s: a body that does
/// not fit the schema is 422 `invalid` (field `body`), anything else malformed is 400
/// `request`, and a body that is not declared as JSON is 415.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(AppError::invalid("body", e.body_text()).into())
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::with_status(
                AppError::Request {
                    message: "send the body as JSON, with Content-Type: application/json"
                        .to_string(),
                },
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )),
            Err(other) => Err(AppError::Request {
                message: other.body_text(),
            }
            .into()),
        }
    }
}

// -- Routes

/// `GET /numbers`'s query parameters.
pub const NUMBERS_QUERY: &[QueryParam] = &[
    QueryParam {
        name: "q",
        description: "Part of the number or of its label",
        kind: QueryKind::Text,
    },
    QueryParam {
        name: "assigned",
        description: "Only numbers with an assistant, or only those without",
        kind: QueryKind::OneOf(&["assigned", "unassigned"]),
    },
    QueryParam {
        name: "released",
        description: "Released numbers (kept in Dial's history, with released_at and released_by) are left out unless asked for: true lists them with the live ones, only lists just them, false (the default) leaves them out",
        kind: QueryKind::OneOf(&["true", "false", "only"]),
    },
    PAGE,
    AFTER,
    BEFORE,
];

/// `GET /calls`'s query parameters.
pub const CALLS_QUERY: &[QueryParam] = &[
    QueryParam {
        name: "assistant",
        description: "An assistant's id",
        kind: QueryKind::Text,
    },
    QueryParam {
        name: "number",
        description: "A phone number's id",
        kind: QueryKind::Text,
    },
    QueryParam {
        name: "direction",
        description: "Only calls in this direction",
        kind: QueryKind::OneOf(&["inbound", "outbound"]),
    },
    QueryParam {
        name: "status",
        description: "live (not ended yet), or a status",
        kind: QueryKind::OneOf(&["live", "dialing", "ringing", "answered", "ended"]),
    },
    QueryParam {
        name: "date",
        description: "Calls started that day (UTC)",
        kind: QueryKind::Date,
    },
    QueryParam {
        name: "tests",
        description: "include: the calls \"Test inbound route\" placed too (left out by default)",
        kind: QueryKind::OneOf(&["include"]),
    },
    PAGE,
    AFTER,
    BEFORE,
];

const PAGE: QueryParam = QueryParam {
    name: "page",
    description: "Page number, from 1 (50 items a page). Deep pages are faster by cursor (`after`, `before`); with a cursor, `page` is only the number the answer reports",
    kind: QueryKind::Page,
};

/// The page after a cursor: a page's `next`.
const AFTER: QueryParam = QueryParam {
    name: "after",
    description: "Cursor: the page after the one whose `next` this is (opaque; a cursor of another sort order is refused with 422)",
    kind: QueryKind::Text,
};

/// The page before a cursor: a page's `prev`.
const BEFORE: QueryParam = QueryParam {
    name: "before",
    description: "Cursor: the page before the one whose `prev` this is (opaque; a cursor of another sort order is refused with 422)",
    kind: QueryKind::Text,
};

/// One route of the API: the router and the OpenAPI document are built from these.
pub struct Endpoint {
    pub method: Method,
    /// Below [`BASE`], with `{name}` path parameters (the syntax axum and OpenAPI share).
    pub path: &'static str,
    pub summary: &'static str,
    /// Whether the route needs an API key.
    pub auth: bool,
    /// Query parameters (all optional), with what each does and may be.
    pub query: &'static [QueryParam],
    /// The JSON body's schema, if the route takes one.
    pub request: Option<Schema>,
    /// The schema of the success answer (200).
    pub response: Schema,
    /// The handler, for the given method.
    pub route: fn(MethodFilter) -> MethodRouter<AppState>,
    /// Error statuses the route answers for its own reasons, each with what it means
    /// (every route also has `default`: any other error, in the same body).
    pub errors: &'static [(u16, &'static str)],
}

impl Endpoint {
    /// The path as clients see it (with [`BASE`]).
    pub fn full_path(&self) -> String {
        format!("{BASE}{}", self.path)
    }
}

/// What a transfer answers besides success: it was not tried (409), or it was tried and
/// did not complete (502).
const CAMPAIGN_STATE_ERRORS: &[(u16, &str)] = &[(
    409,
    "Nothing changed: the campaign is not in a state that allows this (e.g. starting a \
     running one, changing a completed one), or it has nobody to call. The message says why.",
)];

const TRANSFER_ERRORS: &[(u16, &str)] = &[
    (
        409,
        "Nothing was sent: the call has ended or has not reached LiveKit yet, or the number's \
         Twilio trunk refuses this transfer (its Call Transfer setting is `disable-all`, or \
         `sip-only` for a phone-number destination). The message names the reason and the fix.",
    ),
    (
        502,
        "The transfer was tried and did not complete: LiveKit or the carrier refused it (a \
         refused SIP REFER), with the reason and SIP status in the message. A refused \
         transfer leaves the call connected; the message says whether the call is still on.",
    ),
];

/// Every route under `/api/v1`.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::GET,
        path: "/me",
        summary: "The user the API key acts as",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<Me>,
        route: |m| on(m, me),
        errors: &[],
    },
    Endpoint {
        method: Method::GET,
        path: "/openapi.json",
        summary: "This document",
        auth: false,
        query: &[],
        request: None,
        response: || json!({ "type": "object" }),
        route: |m| on(m, openapi),
        errors: &[],
    },
    Endpoint {
        method: Method::GET,
        path: "/numbers",
        summary:
            "Your numbers (all of them for an admin), 50 per page; released ones only when asked",
        auth: true,
        query: NUMBERS_QUERY,
        request: None,
        response: inline::<Page<NumberRow>>,
        route: |m| on(m, list_numbers),
        errors: &[],
    },
    Endpoint {
        method: Method::GET,
        path: "/assistants",
        summary: "Your assistants (all of them for an admin)",
        auth: true,
        query: &[],
        request: None,
        response: inline::<Vec<Assistant>>,
        route: |m| on(m, list_assistants),
        errors: &[],
    },
    Endpoint {
        method: Method::POST,
        path: "/calls",
        summary: "Place an outbound call from one of your numbers",
        auth: true,
        query: &[],
        request: Some(schema_of::<PlaceCallBody>),
        response: schema_of::<CallRow>,
        route: |m| on(m, place_call),
        errors: &[],
    },
    Endpoint {
        method: Method::GET,
        path: "/calls",
        summary: "Your calls, newest first, 50 per page",
        auth: true,
        query: CALLS_QUERY,
        request: None,
        response: inline::<Page<CallRow>>,
        route: |m| on(m, list_calls),
        errors: &[],
    },
    Endpoint {
        method: Method::GET,
        path: "/calls/{id}",
        summary: "One call and its timeline",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<CallDetail>,
        route: |m| on(m, get_call),
        errors: &[],
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/{id}/transfer",
        summary: "Transfer a live call to tel:+… or sip:… (SIP REFER)",
        auth: true,
        query: &[],
        request: Some(schema_of::<TransferBody>),
        response: schema_of::<TransferResult>,
        route: |m| on(m, transfer_call),
        errors: TRANSFER_ERRORS,
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/{id}/hangup",
        summary: "Hang up a live call",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<CallRow>,
        route: |m| on(m, hang_up_call),
        errors: &[],
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/browser",
        summary: "Start a call from a browser: the call (dialing, placed by you), its LiveKit room, and a token for that room alone (10 minutes; publish the microphone, send DTMF). Join the room, then POST /calls/{id}/browser/joined: only then is the phone dialled",
        auth: true,
        query: &[],
        request: Some(schema_of::<BrowserCallBody>),
        response: schema_of::<dial_app::model::BrowserJoin>,
        route: |m| on(m, start_browser_call),
        errors: &[],
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/{id}/browser/joined",
        summary: "Your browser joined the call's room (LiveKit lists it there): Dial dials the phone into the room, without an agent. 409 before the browser has joined, or once dialled",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<CallRow>,
        route: |m| on(m, browser_joined),
        errors: &[(409, "The call was not placed from your browser, the browser is not in the room yet, the call is already being dialled, or it has ended.")],
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/{id}/browser/abandon",
        summary: "Your browser could not join the call's room: the room is deleted and the call ends saying why (a call already dialled is hung up)",
        auth: true,
        query: &[],
        request: Some(schema_of::<AbandonBody>),
        response: schema_of::<CallRow>,
        route: |m| on(m, abandon_browser_call),
        errors: &[(409, "The call was not placed from your browser.")],
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/{id}/listen",
        summary: "A token to join a live call's room from a browser: listen (subscribe only) or speak (publish the microphone too). Audited, and on the call's timeline",
        auth: true,
        query: &[],
        request: Some(schema_of::<ListenBody>),
        response: schema_of::<dial_app::model::BrowserJoin>,
        route: |m| on(m, listen_to_call),
        errors: &[(409, "The call has ended, or has not reached LiveKit yet.")],
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/{id}/take-over",
        summary: "Take a live call over from its agent: the agent participants leave the room, and you (in the room, speaking) carry on alone. Audited",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<CallRow>,
        route: |m| on(m, take_over_call),
        errors: &[(409, "You are not in the call speaking, no agent is in it, or it has ended.")],
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/{id}/opt-out",
        summary: "The call's other party asked not to be called again: their number goes on the do-not-call list at once, and no campaign dials it",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<dial_app::server::do_not_call::OptedOut>,
        route: |m| on(m, opt_out_call),
        errors: &[(409, "The other party's number is not a phone number (withheld, or a SIP address).")],
    },
    Endpoint {
        method: Method::GET,
        path: "/campaigns",
        summary: "Your campaigns (all of them for an admin), newest first, 25 per page",
        auth: true,
        query: CAMPAIGNS_QUERY,
        request: None,
        response: inline::<Page<CampaignSummary>>,
        route: |m| on(m, list_campaigns),
        errors: &[],
    },
    Endpoint {
        method: Method::POST,
        path: "/campaigns",
        summary: "Create a campaign (a draft): its assistant, the numbers it calls from, calling window, pace and retry rules",
        auth: true,
        query: &[],
        request: Some(schema_of::<CampaignSettings>),
        response: schema_of::<CampaignDetail>,
        route: |m| on(m, create_campaign),
        errors: &[],
    },
    Endpoint {
        method: Method::GET,
        path: "/campaigns/{id}",
        summary: "One campaign: settings, counts, outcomes, caller numbers' health, progress",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<CampaignDetail>,
        route: |m| on(m, get_campaign),
        errors: &[],
    },
    Endpoint {
        method: Method::PUT,
        path: "/campaigns/{id}",
        summary: "Change a campaign's settings (pace, limits and retry rules take effect at once, even while it runs; its assistant and numbers change only while it is a draft or paused)",
        auth: true,
        query: &[],
        request: Some(schema_of::<CampaignSettings>),
        response: schema_of::<CampaignDetail>,
        route: |m| on(m, update_campaign),
        errors: CAMPAIGN_STATE_ERRORS,
    },
    Endpoint {
        method: Method::POST,
        path: "/campaigns/{id}/start",
        summary: "Start a draft campaign",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<CampaignDetail>,
        route: |m| on(m, start_campaign),
        errors: CAMPAIGN_STATE_ERRORS,
    },
    Endpoint {
        method: Method::POST,
        path: "/campaigns/{id}/pause",
        summary: "Pause a running campaign: no new dials; calls in progress finish",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<CampaignDetail>,
        route: |m| on(m, pause_campaign),
        errors: CAMPAIGN_STATE_ERRORS,
    },
    Endpoint {
        method: Method::POST,
        path: "/campaigns/{id}/resume",
        summary: "Resume a paused campaign",
        auth: true,
        query: &[],
        request: None,
        response: schema_of::<CampaignDetail>,
        route: |m| on(m, resume_campaign),
        errors: CAMPAIGN_STATE_ERRORS,
    },
    Endpoint {
        method: Method::POST,
        path: "/campaigns/{id}/cancel",
        summary: "Cancel a campaign: contacts not yet called are done as cancelled; calls in progress finish unless hang_up",
        auth: true,
        query: &[],
        request: Some(schema_of::<CancelBody>),
        response: schema_of::<CampaignDetail>,
        route: |m| on(m, cancel_campaign),
        errors: CAMPAIGN_STATE_ERRORS,
    },
    Endpoint {
        method: Method::POST,
        path: "/campaigns/{id}/contacts",
        summary: "Add contacts: a JSON array of {phone, name, variables}, or a CSV file sent with Content-Type: text/csv (a phone column; a name column; other columns become variables). Invalid, duplicate and do-not-call entries are left out and listed",
        auth: true,
        query: &[],
        request: Some(inline::<Vec<contacts::ContactInput>>),
        response: schema_of::<ContactsAdded>,
        route: |m| on(m, add_contacts),
        errors: CAMPAIGN_STATE_ERRORS,
    },
    Endpoint {
        method: Method::GET,
        path: "/campaigns/{id}/contacts",
        summary: "A campaign's contacts in file order, 50 per page",
        auth: true,
        query: CONTACTS_QUERY,
        request: None,
        response: inline::<Page<CampaignContact>>,
        route: |m| on(m, list_contacts),
        errors: &[],
    },
    Endpoint {
        method: Method::GET,
        path: "/campaigns/{id}/results.csv",
        summary: "A campaign's results as CSV (streamed): line, phone, name, state, attempts, result, last outcome and SIP status, call id, variables",
        auth: true,
        query: &[],
        request: None,
        response: || json!({ "type": "string" }),
        route: |m| on(m, export_results),
        errors: &[],
    },
    event_hooks::LIST,
    event_hooks::CREATE,
    event_hooks::GET,
    event_hooks::UPDATE,
    event_hooks::DELETE,
    event_hooks::ROTATE,
    event_hooks::DELIVERIES,
    event_hooks::REPLAY,
    health::SETUP,
    health::DRIFT,
    health::SCAN,
    health::REPAIR,
];

/// A JSON Schema, built when the document is.
pub type Schema = fn() -> Value;

/// A reference to the named schema of `T` (`#/components/schemas/<name>`).
fn schema_of<T: ToSchema>() -> Value {
    schema_ref(&T::name())
}

/// `T`'s schema written out in place (a generic type such as a page of calls).
fn inline<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or(Value::Null)
}

/// The named schemas of the document: every type a route reads or writes, and the types
/// they refer to.
pub fn schemas() -> serde_json::Map<String, Value> {
    let mut found = Vec::new();
    fn add<T: ToSchema>(
        found: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        found.push((T::name().into_owned(), T::schema()));
        T::schemas(found);
    }
    add::<ErrorBody>(&mut found);
    add::<Me>(&mut found);
    add::<PlaceCallBody>(&mut found);
    add::<CallRow>(&mut found);
    add::<CallDetail>(&mut found);
    add::<NumberRow>(&mut found);
    add::<Assistant>(&mut found);
    add::<TransferBody>(&mut found);
    add::<TransferResult>(&mut found);
    add::<BrowserCallBody>(&mut found);
    add::<AbandonBody>(&mut found);
    add::<ListenBody>(&mut found);
    add::<dial_app::model::BrowserJoin>(&mut found);
    add::<dial_app::model::CampaignSettings>(&mut found);
    add::<dial_app::model::CampaignDetail>(&mut found);
    add::<CancelBody>(&mut found);
    add::<CampaignSummary>(&mut found);
    add::<CampaignContact>(&mut found);
    add::<contacts::ContactInput>(&mut found);
    add::<ContactsAdded>(&mut found);
    add::<dial_app::server::do_not_call::OptedOut>(&mut found);
    add::<dial_app::model::WebhookEndpointView>(&mut found);
    add::<dial_app::model::CreatedWebhookEndpoint>(&mut found);
    add::<dial_app::model::WebhookDeliveryView>(&mut found);
    add::<event_hooks::CreateEndpointBody>(&mut found);
    add::<event_hooks::UpdateEndpointBody>(&mut found);
    add::<dial_app::model::Checklist>(&mut found);
    add::<dial_app::model::DriftReport>(&mut found);
    add::<health::Repaired>(&mut found);
    found
        .into_iter()
        .filter_map(|(name, schema)| Some((name, serde_json::to_value(schema).ok()?)))
        .collect()
}

/// The routes under `/api/v1`; anything else there is a JSON 404 (or 405 for a known
/// path with another method).
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for endpoint in ENDPOINTS {
        let filter = MethodFilter::try_from(endpoint.method.clone()).unwrap_or_else(|e| {
            panic!(
                "API route {} {}: {e}",
                endpoint.method,
                endpoint.full_path()
            )
        });
        router = router.route(endpoint.path, (endpoint.route)(filter));
    }
    // Explicit catch-all routes rather than a fallback: the server-function route
    // `/api/{*fn_name}` would otherwise match first and answer in its own way.
    router
        .method_not_allowed_fallback(method_not_allowed)
        .route("/", any(no_route))
        .route("/{*rest}", any(no_route))
}

async fn no_route(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    AppError::not_found(format!("The API route {method} {}", uri.path())).into()
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::with_status(
        AppError::Request {
            message: format!("{} does not accept {method}", uri.path()),
        },
        StatusCode::METHOD_NOT_ALLOWED,
    )
}

async fn me(ApiUser(me): ApiUser) -> Json<Me> {
    Json(me)
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

mod calls;
mod campaigns;
mod event_hooks;
mod health;
mod openapi;
mod query;
#[cfg(test)]
mod tests;

use calls::*;
use campaigns::*;
pub use openapi::*;
pub use query::{Checked, QueryKind, QueryParam};
