//! `/api/v1/campaigns`: create, list, read, change, start, pause, resume and cancel
//! campaigns, add contacts (JSON or CSV), read them, and export the results.

use super::*;
use dial_app::{model::CampaignState, server::campaigns};

pub const CAMPAIGNS_QUERY: &[QueryParam] = &[
    QueryParam {
        name: "state",
        description: "Only campaigns in this state",
        kind: QueryKind::OneOf(&["draft", "running", "paused", "completed", "cancelled"]),
    },
    PAGE_25,
];

pub const CONTACTS_QUERY: &[QueryParam] = &[
    QueryParam {
        name: "state",
        description: "fresh (not tried yet), waiting (for another attempt), dialing, or done",
        kind: QueryKind::OneOf(&["fresh", "waiting", "dialing", "done"]),
    },
    QueryParam {
        name: "outcome",
        description: "A result or last outcome: completed, busy, no_answer, declined, unreachable, failed, trunk_auth_failed, do_not_call, cancelled, …",
        kind: QueryKind::Text,
    },
    PAGE,
    AFTER,
    BEFORE,
];

const PAGE_25: QueryParam = QueryParam {
    name: "page",
    description: "Page number, from 1 (25 items a page)",
    kind: QueryKind::Page,
};

/// What `POST /campaigns/{id}/cancel` takes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CancelCampaign)]
pub(super) struct CancelBody {
    /// Hang up the campaign's calls in progress too (default: let them finish).
    #[serde(default)]
    #[schema(default = false)]
    hang_up: bool,
}

/// What `POST /campaigns/{id}/contacts` answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ContactsAdded)]
pub(super) struct ContactsAdded {
    /// Contacts added.
    added: u64,
    /// Entries not added (invalid number, duplicate, on the do-not-call list, already in
    /// the campaign).
    left_out: u64,
    /// Each entry left out: its position (from 1; for CSV, the file's line) and why.
    problems: Vec<dial_app::model::UploadProblem>,
}

pub(super) async fn list_campaigns(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    pairs: Result<
        axum::extract::Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<Page<CampaignSummary>>, ApiError> {
    let checked = Checked::parse(CAMPAIGNS_QUERY, pairs)?;
    let filter = checked
        .get("state")
        .as_deref()
        .and_then(CampaignState::parse);
    Ok(Json(
        campaigns::list(&state, &me, filter, checked.page()).await?,
    ))
}

pub(super) async fn create_campaign(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    ApiJson(body): ApiJson<CampaignSettings>,
) -> Result<Json<CampaignDetail>, ApiError> {
    Ok(Json(
        campaigns::create(&state, &me, &api_actor(&me), &body).await?,
    ))
}

pub(super) async fn get_campaign(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<CampaignDetail>, ApiError> {
    Ok(Json(campaigns::detail(&state, &me, &id).await?))
}

pub(super) async fn update_campaign(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<CampaignSettings>,
) -> Result<Json<CampaignDetail>, ApiError> {
    Ok(Json(
        campaigns::update(&state, &me, &api_actor(&me), &id, &body).await?,
    ))
}

async fn act(
    state: &AppState,
    me: &Me,
    id: &str,
    action: campaigns::Action,
) -> Result<Json<CampaignDetail>, ApiError> {
    Ok(Json(
        campaigns::act(state, me, &api_actor(me), id, action).await?,
    ))
}

pub(super) async fn start_campaign(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<CampaignDetail>, ApiError> {
    act(&state, &me, &id, campaigns::Action::Start).await
}

pub(super) async fn pause_campaign(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<CampaignDetail>, ApiError> {
    act(&state, &me, &id, campaigns::Action::Pause).await
}

pub(super) async fn resume_campaign(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<CampaignDetail>, ApiError> {
    act(&state, &me, &id, campaigns::Action::Resume).await
}

pub(super) async fn cancel_campaign(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<CancelBody>,
) -> Result<Json<CampaignDetail>, ApiError> {
    act(
        &state,
        &me,
        &id,
        campaigns::Action::Cancel {
            hang_up: body.hang_up,
        },
    )
    .await
}

/// Contacts as a JSON array, or a CSV file with `Content-Type: text/csv`.
pub(super) async fn add_contacts(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    request: Request,
) -> Result<Json<ContactsAdded>, ApiError> {
    let csv = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    if csv {
        let bytes = axum::body::to_bytes(request.into_body(), contacts::MAX_UPLOAD)
            .await
            .map_err(|_| {
                ApiError::with_status(
                    AppError::invalid(
                        "body",
                        "The file is larger than 32 MB. Split it and send the parts.",
                    ),
                    StatusCode::PAYLOAD_TOO_LARGE,
                )
            })?;
        let preview = contacts::upload(&state, &me, &id, "api.csv", &bytes, None).await?;
        let done = contacts::import(&state, &me, &api_actor(&me), &id, &preview.upload_id).await?;
        return Ok(Json(ContactsAdded {
            added: done.added,
            left_out: done.left_out,
            problems: preview.problems,
        }));
    }
    let ApiJson(list) =
        ApiJson::<Vec<contacts::ContactInput>>::from_request(request, &state).await?;
    let (done, problems) = contacts::add_list(&state, &me, &api_actor(&me), &id, &list).await?;
    Ok(Json(ContactsAdded {
        added: done.added,
        left_out: done.left_out,
        problems,
    }))
}

pub(super) async fn list_contacts(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
    pairs: Result<
        axum::extract::Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<Page<CampaignContact>>, ApiError> {
    let checked = Checked::parse(CONTACTS_QUERY, pairs)?;
    let filter = contacts::ContactFilter {
        state: checked.get("state"),
        outcome: checked.get("outcome"),
        page: checked.page(),
        after: checked.get("after"),
        before: checked.get("before"),
    };
    Ok(Json(contacts::list(&state, &me, &id, &filter).await?))
}

pub(super) async fn export_results(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(me): ApiUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    // A campaign the key's user may not see is a JSON 404 like every other route's.
    campaigns::visible(&state, &me, &id).await?;
    Ok(contacts::results_response(&state, &me, &id).await)
}
