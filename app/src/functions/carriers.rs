//! Carriers: SIP trunks from providers other than Twilio, and numbers bought from them.

use crate::{
    error::AppError,
    model::{CarrierForm, CarrierView},
};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "carriers/list")]
pub async fn carriers() -> Result<Vec<CarrierView>, AppError> {
    use crate::server::{auth, carriers};
    auth::require_admin()?;
    carriers::list(&auth::state()?).await
}

/// (id, name) of every carrier, for the numbers filter.
#[server(prefix = "/api", endpoint = "carriers/options")]
pub async fn carrier_options() -> Result<Vec<(String, String)>, AppError> {
    use crate::server::{auth, carriers};
    auth::require_user()?;
    carriers::options(&auth::state()?).await
}

#[cfg(feature = "ssr")]
fn input(form: CarrierForm) -> crate::server::carriers::CarrierInput {
    crate::server::carriers::CarrierInput {
        name: form.name,
        kind: form.kind,
        sip_address: form.sip_address,
        transport: form.transport.unwrap_or_default(),
        auth_username: form.auth_username.unwrap_or_default(),
        auth_password: secrecy::SecretString::from(form.auth_password.unwrap_or_default().expose()),
        destination_country: form.destination_country.unwrap_or_default(),
        inbound_addresses: form.inbound_addresses.unwrap_or_default(),
        outbound_cps: form.outbound_cps.unwrap_or_default(),
    }
}

#[server(prefix = "/api", endpoint = "carriers/create")]
pub async fn create_carrier(#[server(flatten)] form: CarrierForm) -> Result<String, AppError> {
    use crate::server::{auth, carriers};
    let me = auth::require_admin()?;
    carriers::create(&auth::state()?, &auth::actor(&me), &input(form)).await
}

#[server(prefix = "/api", endpoint = "carriers/update")]
pub async fn update_carrier(
    id: String,
    #[server(flatten)] form: CarrierForm,
) -> Result<(), AppError> {
    use crate::server::{auth, carriers};
    let me = auth::require_admin()?;
    carriers::update(&auth::state()?, &auth::actor(&me), &id, &input(form)).await
}

#[server(prefix = "/api", endpoint = "carriers/delete")]
pub async fn delete_carrier(id: String) -> Result<(), AppError> {
    use crate::server::{auth, carriers};
    let me = auth::require_admin()?;
    carriers::delete(&auth::state()?, &auth::actor(&me), &id).await
}

/// Adds a number bought elsewhere to a carrier.
#[server(prefix = "/api", endpoint = "carriers/add-number")]
pub async fn add_carrier_number(
    carrier_id: String,
    e164: String,
    country: Option<String>,
    label: Option<String>,
    owner_id: Option<String>,
) -> Result<String, AppError> {
    use crate::server::{auth, carriers};
    let me = auth::require_admin()?;
    carriers::add_number(
        &auth::state()?,
        &auth::actor(&me),
        &carrier_id,
        &e164,
        country.as_deref().unwrap_or(""),
        label.as_deref().unwrap_or(""),
        owner_id.as_deref(),
    )
    .await
}
