use crate::{error::AppError, model::SiteInfo};
use leptos::prelude::*;

/// Facts every page shows (the sandbox banner). Public: the login page shows it too.
#[server(prefix = "/api", endpoint = "site")]
pub async fn get_site_info() -> Result<SiteInfo, AppError> {
    let state = crate::server::auth::state()?;
    Ok(SiteInfo {
        sandbox: state.sandbox.is_some(),
    })
}

/// The confirmation the last action left for this page (see `server::notice`), once.
#[server(prefix = "/api", endpoint = "notice")]
pub async fn take_notice() -> Result<Option<crate::model::NoticeView>, AppError> {
    use crate::server::{auth, notice};
    notice::take(&auth::session()?).await
}
