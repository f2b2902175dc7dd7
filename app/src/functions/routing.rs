use crate::{
    error::AppError,
    model::{NumberMetadata, RoutingProfile, RoutingProfileForm},
};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "routing-profiles/list")]
pub async fn routing_profiles() -> Result<Vec<RoutingProfile>, AppError> {
    use crate::server::{auth, routing};
    auth::require_admin()?;
    routing::list(&auth::state()?).await
}

#[cfg(feature = "ssr")]
fn input(form: RoutingProfileForm) -> crate::server::routing::ProfileInput {
    crate::server::routing::ProfileInput {
        name: form.name,
        plan_code: form.plan_code.unwrap_or_default(),
        country: form.country.unwrap_or_default(),
        outbound_provider: form.outbound_provider.unwrap_or_default(),
        outbound_trunk_ref: form.outbound_trunk_ref.unwrap_or_default(),
        inbound_trunk_ref: form.inbound_trunk_ref.unwrap_or_default(),
    }
}

#[server(prefix = "/api", endpoint = "routing-profiles/create")]
pub async fn create_routing_profile(
    #[server(flatten)] form: RoutingProfileForm,
) -> Result<String, AppError> {
    use crate::server::{auth, routing};
    let me = auth::require_admin()?;
    routing::create(&auth::state()?, &auth::actor(&me), &input(form)).await
}

#[server(prefix = "/api", endpoint = "routing-profiles/update")]
pub async fn update_routing_profile(
    id: String,
    #[server(flatten)] form: RoutingProfileForm,
) -> Result<(), AppError> {
    use crate::server::{auth, routing};
    let me = auth::require_admin()?;
    routing::update(&auth::state()?, &auth::actor(&me), &id, &input(form)).await
}

/// Deletes a profile and unlinks its numbers; returns how many were unlinked.
#[server(prefix = "/api", endpoint = "routing-profiles/delete")]
pub async fn delete_routing_profile(id: String) -> Result<u64, AppError> {
    use crate::server::{auth, routing};
    let me = auth::require_admin()?;
    routing::delete(&auth::state()?, &auth::actor(&me), &id).await
}

/// A number's routing profile and compliance state (for anyone who may see the number).
#[server(prefix = "/api", endpoint = "numbers/metadata")]
pub async fn get_number_metadata(id: String) -> Result<NumberMetadata, AppError> {
    use crate::server::{auth, numbers, routing};
    let me = auth::require_user()?;
    let state = auth::state()?;
    numbers::get(&state, &me, &id).await?;
    routing::metadata(&state, &id).await
}

#[server(prefix = "/api", endpoint = "numbers/metadata/save")]
pub async fn set_number_metadata(
    id: String,
    routing_profile_id: Option<String>,
    compliance: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{auth, numbers, routing};
    let me = auth::require_admin()?;
    let state = auth::state()?;
    let number = numbers::get(&state, &me, &id).await?;
    routing::set_number_metadata(
        &state,
        &auth::actor(&me),
        &id,
        number.e164.as_str(),
        routing_profile_id.as_deref(),
        compliance.as_deref().unwrap_or(""),
    )
    .await
}
