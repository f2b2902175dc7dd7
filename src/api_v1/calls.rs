//! `/api/v1/calls`: place, list, read, transfer and hang up calls, and their schemas.

use super::*;

/// What `POST /calls` takes. The bounds are the ones `CallRequest::parse` enforces.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PlaceCall)]
pub(super) struct PlaceCallBody {
    /// The number to call from (one of yours): its id, or the number itself in E.164.
    number_id: String,
    /// The number to call, E.164 (+14155550100).
    to: String,
    /// The assistant whose agent takes the call; default: the number's.
    assistant_id: Option<String>,
    /// Digits to send after connecting: 0-9, * and #, w for a half-second pause.
    #[schema(max_length = 64)]
    dtmf: Option<String>,
    #[serde(default)]
    #[schema(default = false)]
    play_dialtone: bool,
    /// Answer only once the callee answered or the call failed.
    #[serde(default)]
    #[schema(default = false)]
    wait_until_answered: bool,
    /// Seconds.
    #[schema(minimum = 1, maximum = 300)]
    ringing_timeout: Option<u64>,
    /// Seconds.
    #[schema(minimum = 1, maximum = 86400)]
    max_duration: Option<u64>,
    /// Caller display name.
    #[schema(max_length = 128)]
    display_name: Option<String>,
}

/// What `POST /calls/{id}/transfer` takes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Transfer)]
pub(super) struct TransferBody {
    /// tel:+14155550100 or sip:user@host
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
    // A number may be named by its E.164 as well as by its id.
    let number_id = if body.number_id.trim_start().starts_with('+') {
        dial_app::server::numbers::id_in_history(&state, &me, &body.number_id)
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    "number_id",
                    "Dial has no number like that: use one of GET /api/v1/numbers.",
                )
            })?
    } else {
        body.number_id
    };
    let input = calls::CallInput {
        number_id,
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
            "page" => query.page = page_param(value)?,
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
    let target = dial_app::server::calls::parse_transfer_target(&body.to, "to")?;
    let result =
        dial_app::server::calls::transfer(&state, &me, &api_actor(&me), &id, &target).await?;
    Ok(Json(result))
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

pub(super) async fn list_numbers(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    pairs: Result<
        axum::extract::Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<dial_app::model::Page<dial_app::model::NumberRow>>, ApiError> {
    let axum::extract::Query(pairs) = pairs.map_err(|e| AppError::Request {
        message: e.body_text(),
    })?;
    let mut query = dial_app::model::NumberQuery::default();
    for (key, value) in pairs {
        let value = Some(value).filter(|v| !v.is_empty());
        match key.as_str() {
            "q" => query.q = value,
            "assigned" => query.assigned = value,
            "released" => query.released = value,
            "page" => query.page = page_param(value)?,
            other => {
                return Err(AppError::invalid(
                    other,
                    "Unknown query parameter: use q, assigned, released or page.",
                )
                .into())
            }
        }
    }
    Ok(Json(
        dial_app::server::numbers::list(&state, &me, &query).await?,
    ))
}

pub(super) async fn list_assistants(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
) -> Result<Json<Vec<dial_app::model::Assistant>>, ApiError> {
    Ok(Json(dial_app::server::assistants::list(&state, &me).await?))
}

/// The `page` query parameter: a whole number, or absent.
fn page_param(value: Option<String>) -> Result<Option<u32>, AppError> {
    value
        .map(|v| v.parse::<u32>())
        .transpose()
        .map_err(|_| AppError::invalid("page", "The page is a whole number from 1."))
}
