//! `/api/v1/calls`: place, list, read, transfer and hang up calls, and their schemas.

use super::*;

/// What `POST /calls` takes. The bounds are the ones `CallRequest::parse` enforces.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PlaceCall)]
pub(super) struct PlaceCallBody {
    /// The number to call from (one of yours): its id, or the number itself in E.164.
    number_id: String,
    /// The number to call, in E.164: + and the country code and number, digits only
    /// (+14155550100).
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$")]
    to: String,
    /// The assistant whose agent takes the call; default: the number's.
    assistant_id: Option<String>,
    /// Digits to send after connecting: 0-9, * and #, w for a half-second pause.
    #[schema(max_length = 64, pattern = r"^[0-9*#w]*$")]
    dtmf: Option<String>,
    #[serde(default)]
    #[schema(default = false)]
    play_dialtone: bool,
    /// Default false: the request answers as soon as LiveKit has dialled (status
    /// `dialing` or `ringing`), and Dial follows the call to its answer; read it with
    /// `GET /calls/{id}`. True: the request answers only once the callee answered or the
    /// call failed (up to 80 s), and a failure's outcome carries its SIP status. (The
    /// dashboard's form ticks it because the page never waits for the dial.)
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

impl PlaceCallBody {
    /// The API takes its fields exactly as documented: the number to call in E.164, DTMF
    /// digits and the display name as they are (the dashboard's form is more forgiving:
    /// it trims them and takes a number written with spaces).
    fn strict(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let digits = self.to.strip_prefix('+').unwrap_or_default();
        if !(digits.len() >= 2
            && digits.len() <= 15
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0'))
        {
            errors.push(FieldError::new(
                "to",
                "Send the number to call in E.164: + and the country code and number, digits only (+14155550100).",
            ));
        }
        if self.dtmf.as_deref().is_some_and(|d| {
            d.len() > 64 || !d.bytes().all(|b| b.is_ascii_digit() || b"*#w".contains(&b))
        }) {
            errors.push(FieldError::new(
                "dtmf",
                "Digits to send may contain 0–9, * and #, and w for a half-second pause (at most 64).",
            ));
        }
        if self
            .display_name
            .as_deref()
            .is_some_and(|d| d.chars().count() > 128)
        {
            errors.push(FieldError::new(
                "display_name",
                "A caller display name is at most 128 characters.",
            ));
        }
        errors
    }
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
    let mut errors = body.strict();
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
    // Every problem at once, each on its field: the strict checks', then the rest.
    let request = match calls::CallRequest::parse(&input) {
        Ok(request) if errors.is_empty() => request,
        Ok(_) => return Err(AppError::Invalid { errors }.into()),
        Err(AppError::Invalid { errors: more }) => {
            for e in more {
                if !errors.iter().any(|known| known.field == e.field) {
                    errors.push(e);
                }
            }
            return Err(AppError::Invalid { errors }.into());
        }
        Err(other) => return Err(other.into()),
    };
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
    let checked = Checked::parse(CALLS_QUERY, pairs)?;
    let query = dial_app::model::CallQuery {
        assistant: checked.get("assistant"),
        number: checked.get("number"),
        direction: checked.get("direction"),
        status: checked.get("status"),
        date: checked.get("date"),
        tests: checked.get("tests"),
        page: checked.page(),
        after: checked.get("after"),
        before: checked.get("before"),
    };
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
    if !result.ok {
        // Tried and not completed: the refusal's reason and SIP status are in the message.
        return Err(AppError::Upstream {
            provider: "LiveKit".into(),
            code: None,
            message: result.message,
        }
        .into());
    }
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
    let checked = Checked::parse(NUMBERS_QUERY, pairs)?;
    let query = dial_app::model::NumberQuery {
        q: checked.get("q"),
        assigned: checked.get("assigned"),
        released: checked.get("released"),
        page: checked.page(),
        after: checked.get("after"),
        before: checked.get("before"),
        ..Default::default()
    };
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

/// The call's other party asked not to be called again (an agent, or a CRM, reports it).
pub(super) async fn opt_out_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<dial_app::server::do_not_call::OptedOut>, ApiError> {
    // A call the key's user may not see is "not found".
    dial_app::server::calls::detail(&state, &me, &id).await?;
    Ok(Json(
        dial_app::server::do_not_call::opt_out(&state, &api_actor(&me), &id).await?,
    ))
}

// -- Calling from the browser --------------------------------------------------------------

/// What `POST /calls/browser` takes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StartBrowserCall)]
pub(super) struct BrowserCallBody {
    /// The number to call from (one of yours): its id.
    number_id: String,
    /// The number to call, in E.164 (+14155550100).
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$")]
    to: String,
}

/// What `POST /calls/{id}/browser/abandon` takes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AbandonBrowserCall)]
pub(super) struct AbandonBody {
    /// Why the browser could not join: microphone_denied, no_microphone,
    /// livekit_unreachable, or left (the page closed before the call was dialled).
    #[schema(pattern = r"^(microphone_denied|no_microphone|livekit_unreachable|left)$")]
    reason: String,
}

/// What `POST /calls/{id}/listen` takes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ListenIn)]
pub(super) struct ListenBody {
    /// listen: subscribe only (nobody hears you); speak: publish the microphone too.
    #[schema(pattern = r"^(listen|speak)$")]
    mode: String,
}

pub(super) async fn start_browser_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    ApiJson(body): ApiJson<BrowserCallBody>,
) -> Result<Json<dial_app::model::BrowserJoin>, ApiError> {
    Ok(Json(
        dial_app::server::calls::browser::start(
            &state,
            &me,
            &api_actor(&me),
            &body.number_id,
            &body.to,
        )
        .await?,
    ))
}

pub(super) async fn browser_joined(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<CallRow>, ApiError> {
    Ok(Json(
        dial_app::server::calls::browser::joined(&state, &me, &api_actor(&me), &id).await?,
    ))
}

pub(super) async fn abandon_browser_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<AbandonBody>,
) -> Result<Json<CallRow>, ApiError> {
    use dial_app::server::calls::browser::{abandon, AbandonReason};
    let reason = AbandonReason::parse(&body.reason).ok_or_else(|| {
        AppError::invalid(
            "reason",
            "Give the reason as microphone_denied, no_microphone, livekit_unreachable or left.",
        )
    })?;
    Ok(Json(
        abandon(&state, &me, &api_actor(&me), &id, reason).await?,
    ))
}

pub(super) async fn listen_to_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<ListenBody>,
) -> Result<Json<dial_app::model::BrowserJoin>, ApiError> {
    use dial_app::server::livekit::JoinGrants;
    let grants = match body.mode.as_str() {
        "listen" => JoinGrants::Listen,
        "speak" => JoinGrants::Speak,
        _ => return Err(AppError::invalid("mode", "Choose listen or speak.").into()),
    };
    Ok(Json(
        dial_app::server::calls::browser::listen(&state, &me, &api_actor(&me), &id, grants).await?,
    ))
}

pub(super) async fn take_over_call(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<CallRow>, ApiError> {
    Ok(Json(
        dial_app::server::calls::browser::take_over(&state, &me, &api_actor(&me), &id).await?,
    ))
}
