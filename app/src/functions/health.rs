//! The setup checklist and drift (admins): read them, check or scan again, repair one
//! finding.

use crate::{
    error::AppError,
    model::{Checklist, DriftFinding, DriftReport},
};
use leptos::prelude::*;

/// The checklist's page.
pub const SETUP_PAGE: &str = "/dashboard/setup";
/// The drift page.
pub const DRIFT_PAGE: &str = "/dashboard/drift";

/// The checklist (cached for a short time).
#[server(prefix = "/api", endpoint = "setup/checklist")]
pub async fn get_checklist() -> Result<Checklist, AppError> {
    use crate::server::{auth, setup_check};
    auth::require_admin()?;
    setup_check::checklist(&auth::state()?, false).await
}

/// "Check again": runs every check now.
#[server(prefix = "/api", endpoint = "setup/check")]
pub async fn check_setup_again() -> Result<Checklist, AppError> {
    use crate::server::{auth, setup_check};
    auth::require_admin()?;
    let list = setup_check::checklist(&auth::state()?, true).await?;
    if super::plain_form_post() {
        crate::server::notice::leave(&auth::session()?, "Checked again just now.").await?;
    }
    Ok(list)
}

/// Whether the overview should point at the checklist: the number of items not green
/// (admins only; 0 for owners), from the cached checklist.
#[server(prefix = "/api", endpoint = "setup/open-items")]
pub async fn setup_open_items() -> Result<(u32, u32), AppError> {
    use crate::server::{assignment::drift, auth, setup_check};
    let me = auth::require_user()?;
    if !me.is_admin() {
        return Ok((0, 0));
    }
    let state = auth::state()?;
    let list = setup_check::checklist(&state, false).await?;
    let open = list
        .items
        .iter()
        .filter(|i| i.light != crate::model::Light::Green)
        .count();
    let drift = drift::last(&state).await?.findings.len();
    Ok((
        u32::try_from(open).unwrap_or(u32::MAX),
        u32::try_from(drift).unwrap_or(u32::MAX),
    ))
}

/// The last drift scan.
#[server(prefix = "/api", endpoint = "drift/report")]
pub async fn get_drift_report() -> Result<DriftReport, AppError> {
    use crate::server::{assignment::drift, auth};
    auth::require_admin()?;
    drift::last(&auth::state()?).await
}

/// "Scan now".
#[server(prefix = "/api", endpoint = "drift/scan")]
pub async fn scan_drift() -> Result<DriftReport, AppError> {
    use crate::server::{assignment::drift, auth};
    auth::require_admin()?;
    let report = drift::scan(&auth::state()?).await?;
    if super::plain_form_post() {
        let words = match report.findings.len() {
            0 => "Scanned: Dial, Twilio and LiveKit agree.".to_string(),
            1 => "Scanned: 1 difference found.".to_string(),
            n => format!("Scanned: {n} differences found."),
        };
        crate::server::notice::leave(&auth::session()?, &words).await?;
    }
    Ok(report)
}

/// Repairs one finding of the last scan; what was done, in words.
#[server(prefix = "/api", endpoint = "drift/repair")]
pub async fn repair_drift(finding_id: String) -> Result<String, AppError> {
    use crate::server::{assignment::drift, auth};
    let me = auth::require_admin()?;
    let message = drift::repair(&auth::state()?, &me, &auth::actor(&me), &finding_id).await?;
    if super::plain_form_post() {
        crate::server::notice::leave(&auth::session()?, &message).await?;
    }
    Ok(message)
}

/// The last scan's findings about one number (its page's badge); empty for a user who may
/// not see drift.
#[server(prefix = "/api", endpoint = "drift/number")]
pub async fn number_drift(number_id: String) -> Result<Vec<DriftFinding>, AppError> {
    use crate::server::{assignment::drift, auth};
    let me = auth::require_user()?;
    if !me.is_admin() {
        return Ok(Vec::new());
    }
    drift::findings_for_number(&auth::state()?, &number_id).await
}
