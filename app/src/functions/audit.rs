use crate::{
    error::AppError,
    model::{AuditEntry, Page},
};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "audit")]
pub async fn audit_log(
    page: u32,
    after: Option<String>,
    before: Option<String>,
) -> Result<Page<AuditEntry>, AppError> {
    use crate::server::{audit, auth};
    auth::require_admin()?;
    audit::list(
        &auth::state()?.db,
        page,
        after.as_deref(),
        before.as_deref(),
    )
    .await
}
