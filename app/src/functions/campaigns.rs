//! Campaigns: the list, one campaign, its contacts, the form, the lifecycle, and the
//! upload preview and import. Uploading a file is a plain multipart form post to
//! [`upload_path`] (see `server::campaigns::contacts::upload_route`), the same with and
//! without JavaScript; the results export is a plain link to [`export_path`].

use crate::{
    error::AppError,
    model::{
        CampaignContact, CampaignDetail, CampaignForm, CampaignOptions, CampaignSummary, Page,
        Preflight, UploadPreview,
    },
};
use leptos::prelude::*;

/// The campaigns list.
pub const CAMPAIGNS_PAGE: &str = "/dashboard/campaigns";

pub fn campaign_page(id: &str) -> String {
    format!("{CAMPAIGNS_PAGE}/{id}")
}

/// Where a campaign's upload form posts its file.
pub fn upload_path(id: &str) -> String {
    format!("/api/campaigns/{id}/upload")
}

/// A campaign's results as CSV.
pub fn export_path(id: &str) -> String {
    format!("/api/campaigns/{id}/results.csv")
}

#[server(prefix = "/api", endpoint = "campaigns/list")]
pub async fn list_campaigns(
    state: Option<String>,
    page: Option<u32>,
) -> Result<Page<CampaignSummary>, AppError> {
    use crate::server::{auth, campaigns};
    let me = auth::require_user()?;
    let filter = match state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(crate::model::CampaignState::parse(s).ok_or_else(|| {
            AppError::invalid(
                "state",
                "Filter by draft, running, paused, completed or cancelled.",
            )
        })?),
    };
    campaigns::list(&auth::state()?, &me, filter, page).await
}

#[server(prefix = "/api", endpoint = "campaigns/get")]
pub async fn get_campaign(id: String) -> Result<CampaignDetail, AppError> {
    use crate::server::{auth, campaigns};
    let me = auth::require_user()?;
    campaigns::detail(&auth::state()?, &me, &id).await
}

#[server(prefix = "/api", endpoint = "campaigns/preflight")]
pub async fn campaign_preflight(id: String) -> Result<Preflight, AppError> {
    use crate::server::{auth, campaigns};
    let me = auth::require_user()?;
    campaigns::preflight(&auth::state()?, &me, &id).await
}

#[server(prefix = "/api", endpoint = "campaigns/contacts")]
pub async fn campaign_contacts(
    id: String,
    state: Option<String>,
    outcome: Option<String>,
    page: Option<u32>,
    after: Option<String>,
    before: Option<String>,
) -> Result<Page<CampaignContact>, AppError> {
    use crate::server::{auth, campaigns::contacts};
    let me = auth::require_user()?;
    let filter = contacts::ContactFilter {
        state,
        outcome,
        page,
        after,
        before,
    };
    contacts::list(&auth::state()?, &me, &id, &filter).await
}

/// The form's choices: the user's assistants and their numbers.
#[server(prefix = "/api", endpoint = "campaigns/options")]
pub async fn get_campaign_options() -> Result<CampaignOptions, AppError> {
    use crate::server::{auth, campaigns};
    let me = auth::require_user()?;
    campaigns::options(&auth::state()?, &me).await
}

/// Creates a draft (no `id`) or saves a campaign's settings; without JavaScript the post
/// lands on the campaign's page.
#[server(prefix = "/api", endpoint = "campaigns/save")]
pub async fn save_campaign(
    #[server(flatten)] form: CampaignForm,
) -> Result<CampaignDetail, AppError> {
    use crate::server::{auth, campaigns};
    let me = auth::require_user()?;
    let settings = form
        .settings()
        .map_err(|errors| AppError::Invalid { errors })?;
    let state = auth::state()?;
    let detail = match form.id.as_deref().filter(|id| !id.is_empty()) {
        None => campaigns::create(&state, &me, &auth::actor(&me), &settings).await?,
        Some(id) => campaigns::update(&state, &me, &auth::actor(&me), id, &settings).await?,
    };
    leptos_axum::redirect(&campaign_page(&detail.summary.id));
    Ok(detail)
}

/// start, pause, resume or cancel (with `hang_up` to end live calls too).
#[server(prefix = "/api", endpoint = "campaigns/act")]
pub async fn campaign_action(
    id: String,
    action: String,
    hang_up: Option<String>,
) -> Result<CampaignDetail, AppError> {
    use crate::server::{auth, campaigns};
    let me = auth::require_user()?;
    let action = match action.as_str() {
        "start" => campaigns::Action::Start,
        "pause" => campaigns::Action::Pause,
        "resume" => campaigns::Action::Resume,
        "cancel" => campaigns::Action::Cancel {
            hang_up: matches!(hang_up.as_deref(), Some("on" | "true" | "1")),
        },
        _ => {
            return Err(AppError::invalid(
                "action",
                "Choose start, pause, resume or cancel.",
            ))
        }
    };
    let detail = campaigns::act(&auth::state()?, &me, &auth::actor(&me), &id, action).await?;
    leptos_axum::redirect(&campaign_page(&id));
    Ok(detail)
}

#[server(prefix = "/api", endpoint = "campaigns/upload-preview")]
pub async fn get_upload_preview(id: String, upload: String) -> Result<UploadPreview, AppError> {
    use crate::server::{auth, campaigns::contacts};
    let me = auth::require_user()?;
    contacts::preview(&auth::state()?, &me, &id, &upload).await
}

/// Imports an upload's good rows; the answer says how many, in words.
#[server(prefix = "/api", endpoint = "campaigns/import")]
pub async fn import_upload(id: String, upload: String) -> Result<String, AppError> {
    use crate::server::{auth, campaigns::contacts};
    let me = auth::require_user()?;
    let done = contacts::import(&auth::state()?, &me, &auth::actor(&me), &id, &upload).await?;
    let message = match (done.added, done.left_out) {
        (1, 0) => "Imported 1 contact.".to_string(),
        (n, 0) => format!("Imported {n} contacts."),
        (n, m) => format!("Imported {n} contacts; {m} rows were left out."),
    };
    crate::server::notice::leave(&auth::session()?, &message).await?;
    leptos_axum::redirect(&campaign_page(&id));
    Ok(message)
}
