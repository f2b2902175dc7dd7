use crate::{
    error::AppError,
    model::{AvailableNumbers, ImportCandidate, NumberQuery, NumberRow, OwnerOption, Page},
};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "numbers/list")]
pub async fn list_numbers(
    #[server(flatten)] query: NumberQuery,
) -> Result<Page<NumberRow>, AppError> {
    use crate::server::{auth, numbers};
    let me = auth::require_user()?;
    numbers::list(&auth::state()?, &me, &query).await
}

/// One number, live or released (a released number's page is read-only).
#[server(prefix = "/api", endpoint = "numbers/get")]
pub async fn get_number(id: String) -> Result<NumberRow, AppError> {
    use crate::server::{auth, numbers};
    let me = auth::require_user()?;
    numbers::find(&auth::state()?, &me, &id).await
}

#[server(prefix = "/api", endpoint = "numbers/search")]
pub async fn search_numbers(
    country: String,
    kind: String,
    area_code: Option<String>,
    contains: Option<String>,
    voice: Option<String>,
    sms: Option<String>,
) -> Result<AvailableNumbers, AppError> {
    use crate::server::{auth, numbers};
    auth::require_user()?;
    numbers::search(
        &auth::state()?,
        &country,
        &kind,
        area_code.as_deref().unwrap_or(""),
        contains.as_deref().unwrap_or(""),
        voice.is_some_and(|v| v == "on" || v == "true"),
        sms.is_some_and(|v| v == "on" || v == "true"),
    )
    .await
}

/// Buys a number and opens its page.
#[server(prefix = "/api", endpoint = "numbers/buy")]
pub async fn buy_number(
    e164: String,
    label: Option<String>,
    owner_id: Option<String>,
) -> Result<NumberRow, AppError> {
    use crate::server::{auth, numbers};
    let me = auth::require_user()?;
    let state = auth::state()?;
    let row = numbers::buy(
        &state,
        &me,
        &auth::actor(&me),
        &e164,
        label.as_deref().unwrap_or(""),
        owner_id.as_deref(),
    )
    .await?;
    leptos_axum::redirect(&format!("/dashboard/phone-numbers/{}", row.id));
    Ok(row)
}

#[server(prefix = "/api", endpoint = "numbers/import-candidates")]
pub async fn import_candidates() -> Result<Vec<ImportCandidate>, AppError> {
    use crate::server::{auth, numbers};
    auth::require_admin()?;
    numbers::import_candidates(&auth::state()?).await
}

/// Imports one number (by SID) or, without a SID, all of them.
#[server(prefix = "/api", endpoint = "numbers/import")]
pub async fn import_numbers(sid: Option<String>) -> Result<u32, AppError> {
    use crate::server::{auth, numbers};
    let me = auth::require_admin()?;
    let state = auth::state()?;
    numbers::import(
        &state,
        &auth::actor(&me),
        sid.as_deref().filter(|s| !s.is_empty()),
    )
    .await
}

#[server(prefix = "/api", endpoint = "numbers/label")]
pub async fn label_number(id: String, label: String) -> Result<NumberRow, AppError> {
    use crate::server::{auth, numbers};
    let me = auth::require_user()?;
    numbers::set_label(&auth::state()?, &me, &auth::actor(&me), &id, &label).await
}

#[server(prefix = "/api", endpoint = "numbers/allot")]
pub async fn allot_number(id: String, owner_id: String) -> Result<NumberRow, AppError> {
    use crate::server::{auth, numbers};
    let me = auth::require_admin()?;
    numbers::allot(&auth::state()?, &me, &auth::actor(&me), &id, &owner_id).await
}

/// Releases a number and goes back to the list, which confirms it.
#[server(prefix = "/api", endpoint = "numbers/release")]
pub async fn release_number(id: String) -> Result<(), AppError> {
    use crate::server::{auth, notice, numbers};
    let me = auth::require_user()?;
    let number = numbers::release(&auth::state()?, &me, &auth::actor(&me), &id).await?;
    notice::leave(
        &auth::session()?,
        &format!(
            "Released {}. It stays in Dial's history.",
            number.e164.formatted()
        ),
    )
    .await?;
    leptos_axum::redirect("/dashboard/phone-numbers");
    Ok(())
}

#[server(prefix = "/api", endpoint = "numbers/owners")]
pub async fn owner_options() -> Result<Vec<OwnerOption>, AppError> {
    use crate::server::{auth, numbers};
    auth::require_admin()?;
    numbers::owner_options(&auth::state()?).await
}
