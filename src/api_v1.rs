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
//! entry (and its schemas to [`SCHEMAS`]).

use axum::{
    extract::{rejection::JsonRejection, FromRequest, FromRequestParts, OriginalUri, Request},
    http::{header, request::Parts, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, on, MethodFilter, MethodRouter},
    Json, Router,
};
use dial_app::{
    error::AppError,
    model::{Me, Role},
    server::{api_keys, state::AppState},
};
use serde_json::{json, Value};

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

/// The error codes a client may see (`AppError::code()`), for the OpenAPI document.
const ERROR_CODES: &[&str] = &[
    "unauthorized",
    "forbidden",
    "not_found",
    "invalid",
    "conflict",
    "too_many_attempts",
    "upstream",
    "internal",
    "request",
];

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
        let mut body = json!({ "error": { "code": self.error.code(), "message": message } });
        if let AppError::Invalid { errors } = &self.error {
            body["error"]["fields"] = errors
                .iter()
                .map(|e| json!({ "field": e.field, "message": e.message }))
                .collect();
        }
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

/// One route of the API: the router and the OpenAPI document are built from these.
pub struct Endpoint {
    pub method: Method,
    /// Below [`BASE`], with `{name}` path parameters (the syntax axum and OpenAPI share).
    pub path: &'static str,
    pub summary: &'static str,
    /// Whether the route needs an API key.
    pub auth: bool,
    /// Query parameters (all optional strings), with what each does.
    pub query: &'static [(&'static str, &'static str)],
    /// The JSON body's schema, if the route takes one.
    pub request: Option<Schema>,
    /// The schema of the success answer (200).
    pub response: Schema,
    /// The handler, for the given method.
    pub route: fn(MethodFilter) -> MethodRouter<AppState>,
}

impl Endpoint {
    /// The path as clients see it (with [`BASE`]).
    pub fn full_path(&self) -> String {
        format!("{BASE}{}", self.path)
    }
}

/// Every route under `/api/v1`.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::GET,
        path: "/me",
        summary: "The user the API key acts as",
        auth: true,
        query: &[],
        request: None,
        response: || schema_ref("Me"),
        route: |m| on(m, me),
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
    },
    Endpoint {
        method: Method::POST,
        path: "/calls",
        summary: "Place an outbound call from one of your numbers",
        auth: true,
        query: &[],
        request: Some(|| schema_ref("PlaceCall")),
        response: || schema_ref("Call"),
        route: |m| on(m, place_call),
    },
    Endpoint {
        method: Method::GET,
        path: "/calls",
        summary: "Your calls, newest first, 50 per page",
        auth: true,
        query: &[
            ("assistant", "An assistant's id"),
            ("number", "A phone number's id"),
            ("direction", "inbound or outbound"),
            ("status", "live, dialing, ringing, answered or ended"),
            ("date", "YYYY-MM-DD (UTC): calls started that day"),
            ("page", "Page number, from 1"),
        ],
        request: None,
        response: || schema_ref("CallPage"),
        route: |m| on(m, list_calls),
    },
    Endpoint {
        method: Method::GET,
        path: "/calls/{id}",
        summary: "One call and its timeline",
        auth: true,
        query: &[],
        request: None,
        response: || schema_ref("CallDetail"),
        route: |m| on(m, get_call),
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/{id}/transfer",
        summary: "Transfer a live call to tel:+… or sip:… (SIP REFER)",
        auth: true,
        query: &[],
        request: Some(|| schema_ref("Transfer")),
        response: || schema_ref("TransferResult"),
        route: |m| on(m, transfer_call),
    },
    Endpoint {
        method: Method::POST,
        path: "/calls/{id}/hangup",
        summary: "Hang up a live call",
        auth: true,
        query: &[],
        request: None,
        response: || schema_ref("Call"),
        route: |m| on(m, hang_up_call),
    },
];

/// The named schemas of the document (`#/components/schemas/<name>`).
/// A JSON Schema, built when the document is.
pub type Schema = fn() -> Value;

pub const SCHEMAS: &[(&str, Schema)] = &[
    ("Error", error_schema),
    ("Me", me_schema),
    ("PlaceCall", place_call_schema),
    ("Call", call_schema),
    ("CallPage", call_page_schema),
    ("CallEvent", call_event_schema),
    ("CallDetail", call_detail_schema),
    ("Transfer", transfer_schema),
    ("TransferResult", transfer_result_schema),
];

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string", "enum": ERROR_CODES },
                    "message": { "type": "string", "description": "For people: what went wrong and how to fix it." },
                    "fields": {
                        "type": "array",
                        "description": "Only for `invalid`: each field that is wrong, with its fix.",
                        "items": {
                            "type": "object",
                            "required": ["field", "message"],
                            "properties": {
                                "field": { "type": "string" },
                                "message": { "type": "string" }
                            }
                        }
                    }
                }
            }
        }
    })
}

fn me_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "username", "role"],
        "properties": {
            "id": { "type": "string" },
            "username": { "type": "string" },
            "role": { "type": "string", "enum": [Role::Admin.as_str(), Role::Owner.as_str()] }
        }
    })
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

async fn me(ApiUser(me): ApiUser) -> Json<Value> {
    Json(json!({ "id": me.id, "username": me.username, "role": me.role.as_str() }))
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI 3.1 document of [`ENDPOINTS`].
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for endpoint in ENDPOINTS {
        let mut responses = serde_json::Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": "Success",
                "content": { "application/json": { "schema": (endpoint.response)() } }
            }),
        );
        if endpoint.auth {
            responses.insert(
                "401".into(),
                json!({ "$ref": "#/components/responses/Unauthorized" }),
            );
        }
        responses.insert(
            "default".into(),
            json!({ "$ref": "#/components/responses/Error" }),
        );
        let mut operation = json!({
            "summary": endpoint.summary,
            "operationId": operation_id(endpoint),
            "responses": responses,
        });
        if !endpoint.auth {
            operation["security"] = json!([]);
        }
        if let Some(request) = endpoint.request {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": request() } }
            });
        }
        let parameters: Vec<Value> = path_parameters(endpoint.path)
            .map(|name| {
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
            })
            .chain(endpoint.query.iter().map(|(name, description)| {
                json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } })
            }))
            .collect();
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        let item = paths
            .entry(endpoint.full_path())
            .or_insert_with(|| json!({}));
        item[endpoint.method.as_str().to_ascii_lowercase()] = operation;
    }
    let schemas: serde_json::Map<String, Value> = SCHEMAS
        .iter()
        .map(|(name, schema)| (name.to_string(), schema()))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Dial API",
            "version": "1",
            "description": "Place and control calls through Dial. Authenticate with an API key \
                from Settings → API keys: `Authorization: Bearer dial_…`. A key acts as the \
                user who created it, with that user's rights."
        },
        "paths": paths,
        "security": [{ "apiKey": [] }],
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A Dial API key (`dial_` and 40 letters and digits)."
                }
            },
            "schemas": schemas,
            "responses": {
                "Unauthorized": {
                    "description": "The API key is missing, unknown or revoked, or its user is disabled.",
                    "content": { "application/json": { "schema": schema_ref("Error") } }
                },
                "Error": {
                    "description": "An error, with a stable code.",
                    "content": { "application/json": { "schema": schema_ref("Error") } }
                }
            }
        }
    })
}

fn operation_id(endpoint: &Endpoint) -> String {
    let words: Vec<String> = endpoint
        .path
        .split(['/', '.', '-', '{', '}'])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    format!(
        "{}_{}",
        endpoint.method.as_str().to_ascii_lowercase(),
        words.join("_")
    )
}

fn path_parameters(path: &'static str) -> impl Iterator<Item = &'static str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_documented_once_with_its_parameters() {
        let doc = openapi_document();
        for endpoint in ENDPOINTS {
            let op =
                &doc["paths"][endpoint.full_path()][endpoint.method.as_str().to_ascii_lowercase()];
            assert_eq!(op["summary"], endpoint.summary);
            assert_eq!(op.get("security").is_none(), endpoint.auth);
        }
        assert_eq!(
            path_parameters("/calls/{id}/transfer").collect::<Vec<_>>(),
            ["id"]
        );
        assert_eq!(
            operation_id(&ENDPOINTS[0]),
            "get_me",
            "operation ids are stable"
        );
    }

    async fn json_body(content_type: Option<&str>, body: &str) -> Result<Vec<u32>, StatusCode> {
        let mut request = Request::builder().method(Method::POST).uri("/");
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let request = request
            .body(axum::body::Body::from(body.to_string()))
            .expect("a request");
        ApiJson::<Vec<u32>>::from_request(request, &())
            .await
            .map(|ApiJson(v)| v)
            .map_err(|e| e.status())
    }

    #[tokio::test]
    async fn json_bodies_are_refused_as_api_errors() {
        let json = Some("application/json");
        assert_eq!(json_body(json, "[1, 2]").await, Ok(vec![1, 2]));
        assert_eq!(
            json_body(json, "{}").await,
            Err(StatusCode::UNPROCESSABLE_ENTITY)
        );
        assert_eq!(json_body(json, "[1,").await, Err(StatusCode::BAD_REQUEST));
        assert_eq!(
            json_body(None, "[1]").await,
            Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
    }

    #[test]
    fn errors_have_their_status_and_every_code_is_documented() {
        let cases = [
            (AppError::Unauthorized, 401),
            (AppError::Forbidden, 403),
            (AppError::not_found("x"), 404),
            (AppError::invalid("f", "m"), 422),
            (AppError::conflict("c"), 409),
            (
                AppError::TooManyAttempts {
                    retry_after_secs: 3,
                },
                429,
            ),
            (
                AppError::Upstream {
                    provider: "Twilio".into(),
                    code: None,
                    message: "m".into(),
                },
                502,
            ),
            (AppError::Internal, 500),
            (
                AppError::Request {
                    message: "m".into(),
                },
                400,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(status_of(&error).as_u16(), status, "{error:?}");
            assert!(ERROR_CODES.contains(&error.code()), "{}", error.code());
        }
    }
}

// -- Calls

fn place_call_schema() -> Value {
    json!({
        "type": "object",
        "required": ["number_id", "to"],
        "additionalProperties": false,
        "properties": {
            "number_id": { "type": "string", "description": "The number to call from (one of yours)." },
            "to": { "type": "string", "description": "The number to call, E.164 (+14155550100)." },
            "assistant_id": { "type": "string", "description": "The assistant whose agent takes the call; default: the number's." },
            "dtmf": { "type": "string", "description": "Digits to send after connecting: 0-9, * and #, w for a half-second pause." },
            "play_dialtone": { "type": "boolean", "default": false },
            "wait_until_answered": { "type": "boolean", "default": false, "description": "Answer only once the callee answered or the call failed." },
            "ringing_timeout": { "type": "integer", "minimum": 1, "maximum": 300, "description": "Seconds." },
            "max_duration": { "type": "integer", "minimum": 1, "maximum": 86400, "description": "Seconds." },
            "display_name": { "type": "string", "maxLength": 128, "description": "Caller display name." }
        }
    })
}

fn call_schema() -> Value {
    let text = json!({ "type": ["string", "null"] });
    let time =
        json!({ "type": ["integer", "null"], "description": "Seconds since the Unix epoch." });
    json!({
        "type": "object",
        "required": ["id", "direction", "from", "to", "status", "created_at"],
        "properties": {
            "id": { "type": "string" },
            "direction": { "type": "string", "enum": ["inbound", "outbound"] },
            "from": { "type": "string" },
            "to": { "type": "string" },
            "number_id": text, "assistant_id": text, "assistant": text,
            "status": { "type": "string", "enum": ["dialing", "ringing", "answered", "ended"] },
            "outcome": { "type": ["string", "null"], "description": "busy, no_answer, declined, unreachable, trunk_auth_failed or failed; null for a call that is on or ended normally." },
            "sip_status_code": { "type": ["integer", "null"] },
            "end_reason": text, "sip_call_id": text, "twilio_call_sid": text, "room": text,
            "created_at": { "type": "integer" }, "answered_at": time, "ended_at": time
        }
    })
}

fn call_page_schema() -> Value {
    json!({
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": { "type": "array", "items": schema_ref("Call") },
            "page": { "type": "integer" },
            "per_page": { "type": "integer" },
            "total": { "type": "integer" }
        }
    })
}

fn call_event_schema() -> Value {
    json!({
        "type": "object",
        "required": ["source", "kind", "detail", "at"],
        "properties": {
            "source": { "type": "string", "enum": ["livekit", "twilio", "dial"] },
            "kind": { "type": "string" },
            "detail": { "type": "string", "description": "JSON text." },
            "at": { "type": "integer" }
        }
    })
}

fn call_detail_schema() -> Value {
    json!({
        "type": "object",
        "required": ["call", "timeline"],
        "properties": {
            "call": schema_ref("Call"),
            "timeline": { "type": "array", "items": schema_ref("CallEvent") }
        }
    })
}

fn transfer_schema() -> Value {
    json!({
        "type": "object",
        "required": ["to"],
        "additionalProperties": false,
        "properties": { "to": { "type": "string", "description": "tel:+14155550100 or sip:user@host" } }
    })
}

fn transfer_result_schema() -> Value {
    json!({
        "type": "object",
        "required": ["ok", "message"],
        "properties": {
            "ok": { "type": "boolean" },
            "message": { "type": "string" },
            "sip_status_code": { "type": ["integer", "null"] }
        }
    })
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceCallBody {
    number_id: String,
    to: String,
    assistant_id: Option<String>,
    dtmf: Option<String>,
    #[serde(default)]
    play_dialtone: bool,
    #[serde(default)]
    wait_until_answered: bool,
    ringing_timeout: Option<u64>,
    max_duration: Option<u64>,
    display_name: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    to: String,
}

fn api_actor(me: &Me) -> dial_app::server::audit::Actor {
    dial_app::server::audit::Actor {
        user_id: Some(me.id.clone()),
        username: Some(format!("{} (API key)", me.username)),
        ip: None,
    }
}

async fn place_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    ApiJson(body): ApiJson<PlaceCallBody>,
) -> Result<Json<dial_app::model::CallRow>, ApiError> {
    use dial_app::server::calls;
    let input = calls::CallInput {
        number_id: body.number_id,
        to: body.to,
        assistant_id: body.assistant_id,
        dtmf: body.dtmf,
        play_dialtone: body.play_dialtone,
        wait_until_answered: body.wait_until_answered,
        ringing_timeout_secs: body.ringing_timeout.map(|v| v.to_string()),
        max_duration_secs: body.max_duration.map(|v| v.to_string()),
        display_name: body.display_name,
    };
    let request = calls::CallRequest::parse(&input)?;
    Ok(Json(
        calls::place(&state, &me, &api_actor(&me), request, true).await?,
    ))
}

async fn list_calls(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    pairs: Result<
        axum::extract::Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<dial_app::model::Page<dial_app::model::CallRow>>, ApiError> {
    let axum::extract::Query(pairs) = pairs.map_err(|e| AppError::Request {
        message: e.body_text(),
    })?;
    let mut query = dial_app::model::CallQuery::default();
    for (key, value) in pairs {
        let value = Some(value).filter(|v| !v.is_empty());
        match key.as_str() {
            "assistant" => query.assistant = value,
            "number" => query.number = value,
            "direction" => query.direction = value,
            "status" => query.status = value,
            "date" => query.date = value,
            "page" => {
                query.page = match value.map(|v| v.parse::<u32>()) {
                    Some(Ok(n)) => Some(n),
                    Some(Err(_)) => {
                        return Err(
                            AppError::invalid("page", "The page is a whole number from 1.").into(),
                        )
                    }
                    None => None,
                }
            }
            other => return Err(AppError::invalid(
                other,
                "Unknown query parameter: use assistant, number, direction, status, date or page.",
            )
            .into()),
        }
    }
    Ok(Json(
        dial_app::server::calls::list(&state, &me, &query).await?,
    ))
}

async fn get_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<dial_app::model::CallDetail>, ApiError> {
    Ok(Json(
        dial_app::server::calls::detail(&state, &me, &id).await?,
    ))
}

async fn transfer_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Json<dial_app::model::TransferResult>, ApiError> {
    Ok(Json(
        dial_app::server::calls::transfer(&state, &me, &api_actor(&me), &id, &body.to).await?,
    ))
}

async fn hang_up_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<dial_app::model::CallRow>, ApiError> {
    Ok(Json(
        dial_app::server::calls::hang_up(&state, &me, &api_actor(&me), &id).await?,
    ))
}
