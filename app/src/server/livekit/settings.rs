//! LiveKit is configured from the environment only; this is what the settings page shows.

use crate::model::LiveKitSettingsView;
use crate::server::state::AppState;

pub fn view(state: &AppState) -> LiveKitSettingsView {
    let lk = &state.config.livekit;
    LiveKitSettingsView {
        url: lk.url.clone().filter(|v| !v.is_empty()),
        api_key: lk.api_key.clone().filter(|v| !v.is_empty()),
        api_secret_set: lk.api_secret.is_some(),
        sip_uri: lk.sip_uri.clone().filter(|v| !v.is_empty()),
    }
}

/// A client for the configured LiveKit project, or a message saying what to configure.
pub fn client(
    state: &AppState,
) -> Result<crate::server::livekit::LiveKitClient, crate::error::AppError> {
    let lk = &state.config.livekit;
    let (Some(url), Some(key), Some(secret)) = (
        lk.url.as_deref().filter(|v| !v.is_empty()),
        lk.api_key.as_deref().filter(|v| !v.is_empty()),
        lk.api_secret.as_ref(),
    ) else {
        return Err(crate::error::AppError::conflict(
            "LiveKit is not configured: set DIAL_LIVEKIT_URL, DIAL_LIVEKIT_API_KEY and DIAL_LIVEKIT_API_SECRET and restart Dial (Settings → LiveKit shows what is set).",
        ));
    };
    Ok(crate::server::livekit::LiveKitClient::new(
        url,
        key,
        secret,
        state.config.livekit_timeout,
    ))
}
