//! The do-not-call list (admins): the list, add one number, remove one. Importing a CSV
//! file is a plain multipart form post to [`IMPORT_PATH`] (see
//! `server::do_not_call::upload`), the same with and without JavaScript.

use crate::{
    error::AppError,
    model::{DoNotCallEntry, Page},
};
use leptos::prelude::*;

/// The page.
pub const DO_NOT_CALL_PAGE: &str = "/dashboard/settings/admin/do-not-call";
/// Where the import form posts its file.
pub const IMPORT_PATH: &str = "/api/do-not-call/import";

#[server(prefix = "/api", endpoint = "do-not-call/list")]
pub async fn list_do_not_call(
    q: Option<String>,
    page: Option<u32>,
) -> Result<Page<DoNotCallEntry>, AppError> {
    use crate::server::{auth, do_not_call};
    let me = auth::require_admin()?;
    do_not_call::list(&auth::state()?, &me, q.as_deref(), page).await
}

/// Adds one number; the answer says what happened, in words.
#[server(prefix = "/api", endpoint = "do-not-call/add")]
pub async fn add_do_not_call(
    number: String,
    country: Option<String>,
    note: Option<String>,
) -> Result<String, AppError> {
    use crate::server::{auth, do_not_call};
    let me = auth::require_admin()?;
    let message = do_not_call::add(
        &auth::state()?,
        &me,
        &auth::actor(&me),
        &number,
        country.as_deref().map(str::trim).filter(|c| !c.is_empty()),
        note.as_deref().unwrap_or_default(),
    )
    .await?;
    if super::plain_form_post() {
        crate::server::notice::leave(&auth::session()?, &message).await?;
    }
    Ok(message)
}

#[server(prefix = "/api", endpoint = "do-not-call/remove")]
pub async fn remove_do_not_call(e164: String) -> Result<String, AppError> {
    use crate::server::{auth, do_not_call};
    let me = auth::require_admin()?;
    let message = do_not_call::remove(&auth::state()?, &me, &auth::actor(&me), &e164).await?;
    if super::plain_form_post() {
        crate::server::notice::leave(&auth::session()?, &message).await?;
    }
    Ok(message)
}
