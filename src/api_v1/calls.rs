//! `/api/v1/calls`: place, list, read, transfer and hang up calls, and their schemas.

use super::*;

// -- Calls

pub(super) fn place_call_schema() -> Value {
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

pub(super) fn call_schema() -> Value {
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

pub(super) fn call_page_schema() -> Value {
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

pub(super) fn call_event_schema() -> Value {
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

pub(super) fn call_detail_schema() -> Value {
    json!({
        "type": "object",
        "required": ["call", "timeline"],
        "properties": {
            "call": schema_ref("Call"),
            "timeline": { "type": "array", "items": schema_ref("CallEvent") }
        }
    })
}

pub(super) fn transfer_schema() -> Value {
    json!({
        "type": "object",
        "required": ["to"],
        "additionalProperties": false,
        "properties": { "to": { "type": "string", "description": "tel:+14155550100 or sip:user@host" } }
    })
}

pub(super) fn transfer_result_schema() -> Value {
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
pub(super) struct PlaceCallBody {
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
pub(super) struct TransferBody {
    to: String,
}

pub(super) fn api_actor(me: &Me) -> dial_app::server::audit::Actor {
    dial_app::server::audit::Actor {
        user_id: Some(me.id.clone()),
        username: Some(format!("{} (API key)", me.username)),
        ip: None,
    }
}

pub(super) async fn place_call(
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

pub(super) async fn list_calls(
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

pub(super) async fn get_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<dial_app::model::CallDetail>, ApiError> {
    Ok(Json(
        dial_app::server::calls::detail(&state, &me, &id).await?,
    ))
}

pub(super) async fn transfer_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Json<dial_app::model::TransferResult>, ApiError> {
    Ok(Json(
        dial_app::server::calls::transfer(&state, &me, &api_actor(&me), &id, &body.to).await?,
    ))
}

pub(super) async fn hang_up_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<dial_app::model::CallRow>, ApiError> {
    Ok(Json(
        dial_app::server::calls::hang_up(&state, &me, &api_actor(&me), &id).await?,
    ))
}
