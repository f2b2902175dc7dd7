//! `/api/v1/setup` and `/api/v1/drift` (admins): the setup checklist, the last drift scan,
//! a scan on demand, and one finding's repair — what the Setup checklist and Drift pages
//! show and do (`dial_app::server::{setup_check, assignment::drift}`).

use super::*;
use axum::extract::{Path, State};
use dial_app::{
    model::{Checklist, DriftReport},
    server::{assignment::drift, setup_check},
};

/// `GET /setup`'s query parameters.
pub const SETUP_QUERY: &[QueryParam] = &[QueryParam {
    name: "fresh",
    description:
        "true: run every check now instead of reusing the last results (kept for 30 seconds)",
    kind: QueryKind::OneOf(&["true", "false"]),
}];

fn admin(me: &Me) -> Result<(), ApiError> {
    if me.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden.into())
    }
}

pub(super) async fn get_setup(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    pairs: Result<
        axum::extract::Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<Checklist>, ApiError> {
    admin(&me)?;
    let checked = Checked::parse(SETUP_QUERY, pairs)?;
    let fresh = checked.get("fresh").as_deref() == Some("true");
    Ok(Json(setup_check::checklist(&state, fresh).await?))
}

pub(super) async fn get_drift(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
) -> Result<Json<DriftReport>, ApiError> {
    admin(&me)?;
    Ok(Json(drift::last(&state).await?))
}

pub(super) async fn scan_drift(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
) -> Result<Json<DriftReport>, ApiError> {
    admin(&me)?;
    Ok(Json(drift::scan(&state).await?))
}

/// What a repair answers: what was done, in words, and the scan made after it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Repaired {
    message: String,
    report: DriftReport,
}

pub(super) async fn repair_finding(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Repaired>, ApiError> {
    admin(&me)?;
    let message = drift::repair(&state, &me, &api_actor(&me), &id).await?;
    Ok(Json(Repaired {
        message,
        report: drift::last(&state).await?,
    }))
}

const ADMIN_ONLY: &[(u16, &str)] = &[(403, "The API key's user is not an administrator.")];

pub(super) const SETUP: Endpoint = Endpoint {
    method: Method::GET,
    path: "/setup",
    summary: "The setup checklist (admins): each item green, amber or red, with what is wrong and where to fix it",
    auth: true,
    query: SETUP_QUERY,
    request: None,
    response: schema_of::<Checklist>,
    route: |m| on(m, get_setup),
    errors: ADMIN_ONLY,
};

pub(super) const DRIFT: Endpoint = Endpoint {
    method: Method::GET,
    path: "/drift",
    summary: "The last drift scan (admins): where Twilio or LiveKit no longer hold what Dial set up, and orphans",
    auth: true,
    query: &[],
    request: None,
    response: schema_of::<DriftReport>,
    route: |m| on(m, get_drift),
    errors: ADMIN_ONLY,
};

pub(super) const SCAN: Endpoint = Endpoint {
    method: Method::POST,
    path: "/drift/scan",
    summary: "Scan for drift now (admins); reads both providers, changes nothing",
    auth: true,
    query: &[],
    request: None,
    response: schema_of::<DriftReport>,
    route: |m| on(m, scan_drift),
    errors: ADMIN_ONLY,
};

pub(super) const REPAIR: Endpoint = Endpoint {
    method: Method::POST,
    path: "/drift/findings/{id}/repair",
    summary: "Repair one finding of the last scan (admins): re-run the number's assignment, delete an orphan, or import an unknown number; audited, then scanned again",
    auth: true,
    query: &[],
    request: None,
    response: schema_of::<Repaired>,
    route: |m| on(m, repair_finding),
    errors: &[
        (403, "The API key's user is not an administrator."),
        (404, "No finding with this id in the last scan (repaired already: scan again)."),
        (409, "The finding needs a person (e.g. a number released in Twilio): its words say what to do."),
    ],
};
