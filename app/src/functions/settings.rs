use crate::{
    error::AppError,
    model::{ConnectionTest, LiveKitSettingsView, TwilioSettingsView},
};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "settings/twilio")]
pub async fn twilio_settings() -> Result<TwilioSettingsView, AppError> {
    use crate::server::{auth, twilio};
    auth::require_admin()?;
    twilio::settings::view(&auth::state()?).await
}

/// What a save that changed something says.
pub const SAVED: &str = "Twilio settings saved.";
/// What a save that found the settings as they were says.
pub const UNCHANGED: &str = "Nothing to save: the settings are as they were.";

/// Empty secret fields keep the stored secret; fields set in the environment are ignored.
#[server(prefix = "/api", endpoint = "settings/twilio/save")]
pub async fn save_twilio_settings(
    account_sid: Option<String>,
    auth_token: Option<crate::model::Secret>,
    sip_address: Option<String>,
    sip_username: Option<String>,
    sip_password: Option<crate::model::Secret>,
    public_url: Option<String>,
    auto_trunk: Option<String>,
) -> Result<TwilioSettingsView, AppError> {
    use crate::server::{auth, twilio};
    use secrecy::SecretString;
    let me = auth::require_admin()?;
    let state = auth::state()?;
    let input = twilio::settings::TwilioSettingsInput {
        account_sid: account_sid.unwrap_or_default(),
        auth_token: SecretString::from(auth_token.unwrap_or_default().expose()),
        sip_address: sip_address.unwrap_or_default(),
        sip_username: sip_username.unwrap_or_default(),
        sip_password: SecretString::from(sip_password.unwrap_or_default().expose()),
        public_url: public_url.unwrap_or_default(),
        auto_trunk: matches!(auto_trunk.as_deref(), Some("on" | "true" | "1")),
    };
    let saved = twilio::settings::save(&state, &auth::actor(&me), input).await?;
    twilio::settings::refresh_https(&state).await?;
    if super::plain_form_post() {
        // Without JavaScript the answer is a redirect back to the page: the page says
        // what the hydrated one shows under the form.
        let message = if saved.changed.as_ref().is_some_and(Vec::is_empty) {
            UNCHANGED
        } else {
            SAVED
        };
        crate::server::notice::leave(&auth::session()?, message).await?;
    }
    Ok(saved)
}

/// The calls a second the Elastic SIP trunk accepts (campaigns share it).
#[server(prefix = "/api", endpoint = "settings/twilio/cps")]
pub async fn save_twilio_cps(outbound_cps: String) -> Result<String, AppError> {
    use crate::server::{auth, twilio};
    let me = auth::require_admin()?;
    let cps = twilio::settings::set_outbound_cps(&auth::state()?, &auth::actor(&me), &outbound_cps)
        .await?;
    let message = format!(
        "Campaigns place at most {cps} call{} a second through the Twilio trunk.",
        if cps == 1 { "" } else { "s" }
    );
    if super::plain_form_post() {
        crate::server::notice::leave(&auth::session()?, &message).await?;
    }
    Ok(message)
}

#[server(prefix = "/api", endpoint = "settings/twilio/test")]
pub async fn test_twilio_connection() -> Result<ConnectionTest, AppError> {
    use crate::server::{auth, twilio};
    let me = auth::require_admin()?;
    let state = auth::state()?;
    twilio::settings::test_connection(&state, &auth::actor(&me)).await
}

#[server(prefix = "/api", endpoint = "settings/livekit")]
pub async fn livekit_settings() -> Result<LiveKitSettingsView, AppError> {
    use crate::server::{auth, livekit};
    auth::require_admin()?;
    Ok(livekit::settings::view(&auth::state()?))
}
