//! Statistics for the overview page.

use crate::{error::AppError, model::CallStats};
use leptos::prelude::*;

/// Today's calls by outcome and the last seven days' volume (owners: their own calls).
#[server(prefix = "/api", endpoint = "stats/calls")]
pub async fn get_call_stats() -> Result<CallStats, AppError> {
    use crate::server::{auth, stats};
    let me = auth::require_user()?;
    stats::call_stats(&auth::state()?, &me).await
}
