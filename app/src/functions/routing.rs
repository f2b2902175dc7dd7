use crate::{
    error::AppError,
    model::{NumberMetadata, RoutingProfile},
};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "routing-profiles/list")]
pub async fn routing_profiles() -> Result<Vec<RoutingProfile>, AppError> {
    use crate::server::{auth, routing};
    auth::require_admin()?;
    routing::list(&auth::state()?).await
}

#[cfg(feature = "ssr")]
fn input(
    name: String,
    plan_code: Option<String>,
    country: Option<String>,
    outbound_provider: Option<String>,
    outbound_trunk_ref: Option<String>,
    inbound_trunk_ref: Option<String>,
) -> crate::server::routing::ProfileInput {
    crate::server::routing::ProfileInput {
        name,
        plan_code: plan_code.unwrap_or_default(),
        country: country.unwrap_or_default(),
        outbound_provider: outbound_provider.unwrap_or_default(),
        outbound_trunk_ref: outbound_trunk_ref.unwrap_or_default(),
        inbound_trunk_ref: inbound_trunk_ref.unwrap_or_default(),
    }
}

#[server(prefix = "/api", endpoint = "routing-profiles/create")]
pub async fn create_routing_profile(
    name: String,
    plan_code: Option<String>,
    country: Option<String>,
    outbound_provider: Option<String>,
    outbound_trunk_ref: Option<String>,
    inbound_trunk_ref: Option<String>,
) -> Result<String, AppError> {
    use crate::server::{auth, routing};
    let me = auth::require_admin()?;
    let profile = input(
        name,
        plan_code,
        country,
        outbound_provider,
        outbound_trunk_ref,
        inbound_trunk_ref,
    );
    routing::create(&auth::state()?, &auth::actor(&me), &profile).await
}

#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "routing-profiles/update")]
pub async fn update_routing_profile(
    id: String,
    name: String,
    plan_code: Option<String>,
    country: Option<String>,
    outbound_provider: Option<String>,
    outbound_trunk_ref: Option<String>,
    inbound_trunk_ref: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{auth, routing};
    let me = auth::require_admin()?;
    let profile = input(
        name,
        plan_code,
        country,
        outbound_provider,
        outbound_trunk_ref,
        inbound_trunk_ref,
    );
    routing::update(&auth::state()?, &auth::actor(&me), &id, &profile).await
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
        &number.e164,
        routing_profile_id.as_deref(),
        compliance.as_deref().unwrap_or(""),
    )
    .await
}
