use crate::{error::AppError, model::SiteInfo};
use leptos::prelude::*;

/// Facts every page shows (the sandbox banner). Public: the login page shows it too.
#[server(prefix = "/api", endpoint = "site")]
pub async fn get_site_info() -> Result<SiteInfo, AppError> {
    let state = crate::server::auth::state()?;
    Ok(SiteInfo {
        sandbox: state.sandbox().is_some(),
    })
}

/// The confirmation the last action left for this page (see `server::notice`), once.
#[server(prefix = "/api", endpoint = "notice")]
pub async fn take_notice() -> Result<Option<crate::model::NoticeView>, AppError> {
    use crate::server::{auth, notice};
    // While a page renders on the server, its request may carry what an earlier render of
    // it took (the render guard's retry).
    let taken = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<notice::Taken>().cloned());
    match taken {
        Some(taken) => taken.take(&auth::session()?).await,
        None => notice::take(&auth::session()?).await,
    }
}
